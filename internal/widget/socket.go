package widget

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
)

// WebSocket close codes the widget uses.
const (
	closeNormal     = 1000
	closeGoingAway  = 1001
	closePolicy     = 1008
	closeTooBig     = 1009
	closeInternal   = 1011
	closeTryAgain   = 1013
	closeReasonStop = "server shutting down"
)

// socket is the seam between the widget and its WebSocket library, so the
// library can be swapped (the choice is made by measuring memory per idle
// socket). Read must be called from one goroutine; Write, Ping and Close are
// safe from others. Ping needs a Read in progress to see the pong.
type socket interface {
	// Read returns the next text message; any error ends the socket.
	Read(ctx context.Context) ([]byte, error)
	// Write sends one text message, giving up at deadline. It takes a
	// deadline rather than a context: a context per frame would cost a
	// timer and a context for every streamed token.
	Write(deadline time.Time, msg []byte) error
	Ping(ctx context.Context) error
	Close(code int, reason string) error
	// CloseNow drops the connection without a handshake.
	CloseNow() error
}

// acceptFunc upgrades a request that passed every check.
type acceptFunc func(w http.ResponseWriter, r *http.Request, readLimit int64) (socket, error)

// socketLibrary names the WebSocket library behind the seam. The default is
// the production choice (docs/benchmarks.md, "Widget sockets"); the load
// measurement builds the other variants with
//
//	go build -ldflags "-X github.com/porthole-chat/porthole/internal/widget.socketLibrary=gorilla" ./cmd/porthole
//
// It is only ever set at link time.
var socketLibrary = "gorilla"

// acceptFor returns the upgrade function of a library name.
func acceptFor(library string) (acceptFunc, error) {
	switch library {
	case "coder":
		return acceptCoder, nil
	case "gorilla":
		return acceptGorilla, nil
	case "gws":
		return acceptGWS, nil
	}
	return nil, errors.New("widget: unknown WebSocket library " + library)
}

// acceptCoder upgrades with github.com/coder/websocket.
func acceptCoder(w http.ResponseWriter, r *http.Request, readLimit int64) (socket, error) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// The handler has already required Origin to equal Porthole's public
		// origin exactly; the library's own Host comparison would refuse a
		// deployment behind a proxy that rewrites Host.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(readLimit)
	return coderSocket{c}, nil
}

type coderSocket struct{ c *websocket.Conn }

var errBinaryFrame = errors.New("widget: binary frames are not part of the protocol")

func (s coderSocket) Read(ctx context.Context) ([]byte, error) {
	typ, b, err := s.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, errBinaryFrame
	}
	return b, nil
}

func (s coderSocket) Write(deadline time.Time, msg []byte) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	return s.c.Write(ctx, websocket.MessageText, msg)
}

func (s coderSocket) Ping(ctx context.Context) error { return s.c.Ping(ctx) }

func (s coderSocket) Close(code int, reason string) error {
	return s.c.Close(websocket.StatusCode(code), reason)
}

func (s coderSocket) CloseNow() error { return s.c.CloseNow() }

// closeCodeOf returns the close code behind a read error, or -1.
func closeCodeOf(err error) int {
	if code := websocket.CloseStatus(err); code != -1 {
		return int(code)
	}
	var ge *gorilla.CloseError
	if errors.As(err, &ge) {
		return ge.Code
	}
	var we *gws.CloseError
	if errors.As(err, &we) {
		return int(we.Code)
	}
	return -1
}
