// Package widget is the visitor-facing transport of the embeddable widget:
// the frame document (/widget/frame) with its browser-enforced origin
// allowlist and signed ticket, the visitor WebSocket (/widget/ws) with every
// check made before the upgrade, and the mount point of the front-end's
// static assets. The protocol is docs/widget-protocol.md.
//
// It calls the chat service for everything about conversations and reads
// tenants, origins and chatbot settings through the store's tenant-bound
// handles; it never writes SQL.
package widget

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Assets is what the front-end build provides (internal/widget/assets).
type Assets struct {
	// Static serves GET /widget/v1/{file...}: loader.js and the frame's files.
	Static http.Handler
	// Frame is the frame document, executed with a FramePage. Nil means a
	// minimal built-in page.
	Frame *template.Template
	// AssetBase is the URL prefix of the frame's files ("/widget/v1/").
	AssetBase string
}

// Limits are the widget's abuse limits; zero fields take the defaults of
// DefaultLimits.
type Limits struct {
	ConnectsPerIP      porthole.Limit
	ConnectsPerSession porthole.Limit
	MessagesPerSession porthole.Limit
	// ReadLimit caps one client frame in bytes; a bigger frame closes the socket with 1009.
	ReadLimit    int64
	PingInterval time.Duration
	PongTimeout  time.Duration
	WriteTimeout time.Duration
	HelloTimeout time.Duration
	TicketTTL    time.Duration
	// TicketRefresh is how often a fresh ticket is pushed over the socket.
	TicketRefresh time.Duration
}

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		ConnectsPerIP:      porthole.Limit{N: 30, Window: time.Minute},
		ConnectsPerSession: porthole.Limit{N: 10, Window: time.Minute},
		MessagesPerSession: porthole.Limit{N: 20, Window: time.Minute},
		ReadLimit:          16 << 10,
		PingInterval:       25 * time.Second,
		PongTimeout:        10 * time.Second,
		WriteTimeout:       10 * time.Second,
		HelloTimeout:       10 * time.Second,
		TicketTTL:          2 * time.Minute,
		TicketRefresh:      time.Minute,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.ConnectsPerIP.N > 0 {
		d.ConnectsPerIP = l.ConnectsPerIP
	}
	if l.ConnectsPerSession.N > 0 {
		d.ConnectsPerSession = l.ConnectsPerSession
	}
	if l.MessagesPerSession.N > 0 {
		d.MessagesPerSession = l.MessagesPerSession
	}
	for _, p := range []struct{ dst, src *time.Duration }{{&d.PingInterval, &l.PingInterval}, {&d.PongTimeout, &l.PongTimeout},
		{&d.WriteTimeout, &l.WriteTimeout}, {&d.HelloTimeout, &l.HelloTimeout}, {&d.TicketTTL, &l.TicketTTL}, {&d.TicketRefresh, &l.TicketRefresh}} {
		if *p.src > 0 {
			*p.dst = *p.src
		}
	}
	if l.ReadLimit > 0 {
		d.ReadLimit = l.ReadLimit
	}
	return d
}

// Deps are what a Server needs. DB, Limiter, Security, Chat, PublicURL and
// TicketKey are required.
type Deps struct {
	DB       *store.DB
	Limiter  porthole.Limiter
	Security porthole.SecurityRecorder
	Chat     *chat.Service
	// PublicURL is Porthole's public URL; its origin is the only Origin
	// /widget/ws accepts and the origin of the WebSocket URL.
	PublicURL string
	// TicketKey signs frame tickets (at least MinTicketKeyBytes random bytes,
	// the same in every process behind one public URL).
	TicketKey []byte
	Logger    *slog.Logger
	Assets    Assets
	Limits    Limits
	// ClientIP finds the client address; nil means httpx.ClientIP, falling
	// back to the peer address.
	ClientIP func(*http.Request) netip.Addr
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server serves the widget's routes. Shutdown closes its sockets.
type Server struct {
	deps         Deps
	limits       Limits
	logger       *slog.Logger
	publicOrigin string
	wsURL        string
	tickets      tickets
	frame        *template.Template
	assetBase    string
	accept       acceptFunc
	now          func() time.Time

	baseCtx context.Context
	stop    context.CancelFunc
	mu      sync.Mutex
	sockets map[socket]struct{}
	closing bool
	wg      sync.WaitGroup
	// live are the welcomed sockets the keepalive loop visits.
	live             map[*socketSession]struct{}
	keepAliveRunning bool
	closingCh        chan struct{} // closed when Shutdown starts
}

// New checks deps and returns a Server.
func New(deps Deps) (*Server, error) {
	if deps.DB == nil || deps.Limiter == nil || deps.Security == nil || deps.Chat == nil {
		return nil, errors.New("widget: DB, Limiter, Security and Chat are required")
	}
	if len(deps.TicketKey) < MinTicketKeyBytes {
		return nil, fmt.Errorf("widget: the ticket key must be at least %d bytes", MinTicketKeyBytes)
	}
	u, err := url.Parse(deps.PublicURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("widget: public URL %q is not an absolute URL", deps.PublicURL)
	}
	origin, pattern, err := porthole.NormalizeOrigin(u.Scheme + "://" + u.Host)
	if err != nil || pattern {
		return nil, fmt.Errorf("widget: public URL %q has no valid origin", deps.PublicURL)
	}
	s := &Server{deps: deps, limits: deps.Limits.withDefaults(), logger: deps.Logger, publicOrigin: origin,
		now: deps.Now, sockets: map[socket]struct{}{},
		live: map[*socketSession]struct{}{}, closingCh: make(chan struct{})}
	if s.accept, err = acceptFor(socketLibrary); err != nil {
		return nil, err
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	wsOrigin := "ws" + origin[len("http"):] // http -> ws, https -> wss
	s.wsURL = wsOrigin + "/widget/ws"
	s.tickets = tickets{key: deps.TicketKey, ttl: s.limits.TicketTTL, now: s.now}
	s.frame = deps.Assets.Frame
	if s.frame == nil {
		s.frame = defaultFrameTemplate
	}
	s.assetBase = deps.Assets.AssetBase
	if s.assetBase == "" {
		s.assetBase = "/widget/v1/"
	}
	s.baseCtx, s.stop = context.WithCancel(context.Background())
	return s, nil
}

// shutdownGrace is how long Shutdown waits for peers to answer the close
// handshake before dropping their connections.
const shutdownGrace = 2 * time.Second

// Shutdown closes every socket with 1001 "server shutting down" (the widget
// reconnects, to another process or after the restart) and waits for their
// handlers until ctx ends. New connections are refused from the start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		close(s.closingCh)
	}
	s.closing = true
	all := make([]socket, 0, len(s.sockets))
	for c := range s.sockets {
		all = append(all, c)
	}
	s.mu.Unlock()
	var closers sync.WaitGroup
	for _, c := range all {
		closers.Add(1)
		go func() {
			defer closers.Done()
			_ = c.Close(closeGoingAway, closeReasonStop)
		}()
	}
	done := make(chan struct{})
	go func() { closers.Wait(); s.wg.Wait(); close(done) }()
	// A peer that does not answer the close handshake is dropped after a
	// grace period rather than holding the shutdown.
	grace := time.NewTimer(shutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
		s.stop()
		return nil
	case <-grace.C:
	case <-ctx.Done():
	}
	s.stop()
	for _, c := range all {
		_ = c.CloseNow()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("widget: sockets still open at shutdown: %w", ctx.Err())
	}
}

// track registers a socket for Shutdown; false means the server is closing.
func (s *Server) track(c socket) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.sockets[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c socket) {
	s.mu.Lock()
	delete(s.sockets, c)
	s.mu.Unlock()
	s.wg.Done()
}

func (s *Server) clientIP(r *http.Request) netip.Addr {
	if s.deps.ClientIP != nil {
		return s.deps.ClientIP(r)
	}
	if ip := httpx.ClientIP(r.Context()); ip.IsValid() {
		return ip
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// refuse records a security event and answers with a plain status, before
// any upgrade.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, orgID, kind, detail string) {
	ip := s.clientIP(r)
	ev := porthole.SecurityEvent{ID: porthole.NewID(), OrgID: orgID, Kind: kind, Detail: detail,
		RequestID: httpx.RequestID(r.Context()), CreatedAt: s.now().UTC(), Data: map[string]any{"path": r.URL.Path}}
	if ip.IsValid() {
		ev.IP, ev.Actor = ip.String(), "ip:"+ip.String()
	}
	s.deps.Security.RecordSecurityEvent(r.Context(), ev)
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(status), status)
}
