package widget

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// gorillaUpgrader keeps no write buffer per idle socket: a buffer is taken
// from the pool for each message and returned after it.
var gorillaUpgrader = websocket.Upgrader{
	ReadBufferSize:  gorillaReadBuffer,
	WriteBufferPool: &sync.Pool{},
	// The handler has already required Origin to equal Porthole's public
	// origin exactly (see acceptCoder).
	CheckOrigin:       func(*http.Request) bool { return true },
	EnableCompression: false,
}

// gorillaReadBuffer is small: client frames are small JSON objects, and a
// read buffer stays allocated for the socket's whole life. A frame larger
// than the buffer (up to the read limit) is still read whole: gorilla reads
// its payload through the buffer in pieces.
const gorillaReadBuffer = 256

// closeHandshakeWait is how long Close waits for the peer's answering close
// frame before dropping the connection.
const closeHandshakeWait = 2 * time.Second

// acceptGorilla upgrades with github.com/gorilla/websocket.
func acceptGorilla(w http.ResponseWriter, r *http.Request, readLimit int64) (socket, error) {
	c, err := gorillaUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(readLimit)
	s := &gorillaSocket{c: c, readDone: make(chan struct{})}
	c.SetPongHandler(func(string) error {
		s.mu.Lock()
		pong := s.pong
		s.pong = nil
		s.mu.Unlock()
		if pong != nil {
			close(pong)
		}
		return nil
	})
	return s, nil
}

// gorillaSocket adapts a gorilla connection, which has one reader, one
// writer and deadlines instead of contexts, to socket.
type gorillaSocket struct {
	c        *websocket.Conn
	writeMu  sync.Mutex
	mu       sync.Mutex
	pong     chan struct{} // closed by the pong handler; nil when no ping waits
	readDone chan struct{} // closed when Read has failed for good
	reading  atomic.Bool
	doneOnce sync.Once
}

func (s *gorillaSocket) Read(ctx context.Context) ([]byte, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = s.c.SetReadDeadline(d)
	} else {
		_ = s.c.SetReadDeadline(time.Time{})
	}
	// Only a Read with a deadline (the hello) watches its context. The
	// socket's long read does not: a watch would leave the socket's context
	// a children map and a callback for its whole life, and whatever ends
	// that context (the socket's end, Shutdown) also closes the connection,
	// which ends the Read.
	stop := func() bool { return false }
	if _, ok := ctx.Deadline(); ok {
		stop = context.AfterFunc(ctx, func() { _ = s.c.SetReadDeadline(time.Unix(1, 0)) })
	}
	s.reading.Store(true)
	typ, b, err := s.c.ReadMessage()
	s.reading.Store(false)
	stop()
	if errors.Is(err, websocket.ErrReadLimit) {
		// gorilla has sent 1009; like a close handshake, let the peer
		// finish writing and answer before the connection drops, so it
		// sees the code rather than a reset.
		_ = s.c.NetConn().SetReadDeadline(time.Now().Add(closeHandshakeWait))
		_, _ = io.Copy(io.Discard, s.c.NetConn())
	}
	if err != nil {
		s.doneOnce.Do(func() { close(s.readDone) })
		if ctx.Err() != nil {
			return nil, errors.Join(ctx.Err(), err)
		}
		return nil, err
	}
	if typ != websocket.TextMessage {
		return nil, errBinaryFrame
	}
	return b, nil
}

func (s *gorillaSocket) Write(deadline time.Time, msg []byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_ = s.c.SetWriteDeadline(deadline)
	return s.c.WriteMessage(websocket.TextMessage, msg)
}

func (s *gorillaSocket) Ping(ctx context.Context) error {
	pong := make(chan struct{})
	s.mu.Lock()
	s.pong = pong
	s.mu.Unlock()
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(closeHandshakeWait)
	}
	if err := s.c.WriteControl(websocket.PingMessage, nil, d); err != nil {
		return err
	}
	select {
	case <-pong:
		return nil
	case <-s.readDone:
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *gorillaSocket) Close(code int, reason string) error {
	err := s.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(closeHandshakeWait))
	if err == nil && !s.reading.Load() {
		// No Read in progress: wait for the peer's answer here.
		_ = s.c.NetConn().SetReadDeadline(time.Now().Add(closeHandshakeWait))
		_, _ = io.Copy(io.Discard, s.c.NetConn())
	} else if err == nil {
		// The Read in progress returns when the peer answers.
		t := time.NewTimer(closeHandshakeWait)
		select {
		case <-s.readDone:
		case <-t.C:
		}
		t.Stop()
	}
	return s.c.Close()
}

func (s *gorillaSocket) CloseNow() error { return s.c.Close() }
