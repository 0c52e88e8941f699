package widget

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// gwsUpgrader reads with a small pooled buffer; gws calls back instead of
// returning messages, so acceptGWS runs its read loop and hands messages to
// Read through a channel.
var gwsUpgrader = gws.NewUpgrader(gwsEvents{}, &gws.ServerOption{
	ReadBufferSize:     gorillaReadBuffer,
	ReadMaxPayloadSize: int(DefaultLimits().ReadLimit),
	// The handler has already required Origin to equal Porthole's public
	// origin exactly (see acceptCoder).
	Authorize: func(*http.Request, gws.SessionStorage) bool { return true },
})

const gwsSocketKey = "widget.socket"

// acceptGWS upgrades with github.com/lxzan/gws. The read limit is the
// upgrader's (the documented default); readLimit is checked again per message.
func acceptGWS(w http.ResponseWriter, r *http.Request, readLimit int64) (socket, error) {
	c, err := gwsUpgrader.Upgrade(w, r)
	if err != nil {
		return nil, err
	}
	s := &gwsSocket{c: c, msgs: make(chan gwsMessage), done: make(chan struct{}), readLimit: readLimit}
	c.Session().Store(gwsSocketKey, s)
	go c.ReadLoop()
	return s, nil
}

type gwsMessage struct {
	b    []byte
	text bool
}

// gwsSocket adapts a gws connection to socket.
type gwsSocket struct {
	c         *gws.Conn
	readLimit int64
	msgs      chan gwsMessage
	done      chan struct{} // closed by OnClose
	err       error         // why the read loop ended; read after done
	writeMu   sync.Mutex
	mu        sync.Mutex
	pong      chan struct{}
}

type gwsEvents struct{}

func socketOf(c *gws.Conn) *gwsSocket {
	v, _ := c.Session().Load(gwsSocketKey)
	s, _ := v.(*gwsSocket)
	return s
}

func (gwsEvents) OnOpen(*gws.Conn) {}

func (gwsEvents) OnClose(c *gws.Conn, err error) {
	if s := socketOf(c); s != nil {
		s.err = err
		close(s.done)
	}
}

func (gwsEvents) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

func (gwsEvents) OnPong(c *gws.Conn, _ []byte) {
	s := socketOf(c)
	if s == nil {
		return
	}
	s.mu.Lock()
	pong := s.pong
	s.pong = nil
	s.mu.Unlock()
	if pong != nil {
		close(pong)
	}
}

func (gwsEvents) OnMessage(c *gws.Conn, m *gws.Message) {
	s := socketOf(c)
	msg := gwsMessage{b: append([]byte(nil), m.Bytes()...), text: m.Opcode == gws.OpcodeText}
	_ = m.Close()
	if s == nil {
		return
	}
	select {
	case s.msgs <- msg:
	case <-s.done:
	}
}

func (s *gwsSocket) Read(ctx context.Context) ([]byte, error) {
	select {
	case m := <-s.msgs:
		if !m.text {
			return nil, errBinaryFrame
		}
		if int64(len(m.b)) > s.readLimit {
			_ = s.c.WriteClose(closeTooBig, nil)
			return nil, errors.New("widget: frame over the read limit")
		}
		return m.b, nil
	case <-s.done:
		if s.err != nil {
			return nil, s.err
		}
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *gwsSocket) Write(deadline time.Time, msg []byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_ = s.c.SetWriteDeadline(deadline)
	return s.c.WriteMessage(gws.OpcodeText, msg)
}

func (s *gwsSocket) Ping(ctx context.Context) error {
	pong := make(chan struct{})
	s.mu.Lock()
	s.pong = pong
	s.mu.Unlock()
	// Every write sets its own deadline: the connection keeps the last one.
	s.writeMu.Lock()
	d, _ := ctx.Deadline()
	_ = s.c.SetWriteDeadline(d)
	err := s.c.WritePing(nil)
	s.writeMu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-pong:
		return nil
	case <-s.done:
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close sends the close frame; gws then drops the connection without
// waiting for the peer's answer.
func (s *gwsSocket) Close(code int, reason string) error {
	s.writeMu.Lock()
	_ = s.c.SetWriteDeadline(time.Now().Add(closeHandshakeWait))
	s.writeMu.Unlock()
	return s.c.WriteClose(uint16(code), []byte(reason))
}

func (s *gwsSocket) CloseNow() error { return s.c.NetConn().Close() }
