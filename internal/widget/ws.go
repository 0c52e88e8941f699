package widget

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/store"
)

const (
	welcomeHistory = 200
	typingEvery    = 2 * time.Second
)

// clientFrame is any client-to-server frame.
type clientFrame struct {
	Type     string            `json:"type"`
	Session  string            `json:"session,omitempty"`
	LastSeq  int64             `json:"last_seq,omitempty"`
	Identity *chat.Identity    `json:"identity,omitempty"`
	ClientID string            `json:"client_id,omitempty"`
	Text     string            `json:"text,omitempty"`
	FormID   string            `json:"form_id,omitempty"`
	Values   map[string]string `json:"values,omitempty"`
}

// welcomeFrame is the first server frame of a socket.
type welcomeFrame struct {
	Type            string       `json:"type"`
	ConversationID  string       `json:"conversation_id"`
	VisitorID       string       `json:"visitor_id"`
	Seq             int64        `json:"seq"`
	History         []chat.Frame `json:"history"`
	Ticket          string       `json:"ticket"`
	TicketExpiresAt int64        `json:"ticket_expires_at"`
	Online          bool         `json:"online"`
	Identified      bool         `json:"identified"`
}

type ticketFrame struct {
	Type            string `json:"type"`
	Ticket          string `json:"ticket"`
	TicketExpiresAt int64  `json:"ticket_expires_at"`
}

type errorFrame struct {
	Type     string `json:"type"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	ClientID string `json:"client_id,omitempty"`
}

// handleWS checks everything before the upgrade: Origin, ticket, session,
// connect limits, the allowlist (again) and the chatbot's CIDR lists. Each
// refusal is a plain 403/429 and a security event.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// Exactly one Origin header, equal to Porthole's own origin: only the
	// frame page (served from that origin) may open the socket.
	if origins := r.Header.Values("Origin"); len(origins) != 1 || origins[0] != s.publicOrigin {
		s.refuse(w, r, http.StatusForbidden, "", porthole.SecOriginRefused, "websocket Origin is missing or not Porthole's origin")
		return
	}
	q := r.URL.Query()
	claims, err := s.tickets.verify(q.Get("ticket"))
	if err != nil {
		s.refuse(w, r, http.StatusForbidden, "", porthole.SecTicketRefused, "websocket ticket refused: "+err.Error())
		return
	}
	orgID := claims.Business
	// A copy: the parsed query shares the request line's buffer, which the
	// socket would otherwise keep for its whole life.
	session := strings.Clone(q.Get("session"))
	if !porthole.ValidID(session) {
		s.refuse(w, r, http.StatusForbidden, orgID, porthole.SecTicketRefused, "websocket session is missing or malformed")
		return
	}
	ip := s.clientIP(r)
	if !s.allowConnect(w, r, orgID, "widget:connect:ip:"+ip.String(), s.limits.ConnectsPerIP, "too many connects from one IP") {
		return
	}
	if !s.allowConnect(w, r, orgID, "widget:connect:session:"+orgID+":"+session, s.limits.ConnectsPerSession, "too many connects for one session") {
		return
	}
	tn := s.deps.DB.Tenant(orgID)
	allowed, err := tn.Origins(ctx)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	if !originAllowed(allowed, claims.Parent) {
		s.refuse(w, r, http.StatusForbidden, orgID, porthole.SecOriginRefused, "parent origin no longer on the allowlist: "+claims.Parent)
		return
	}
	settings, err := tn.WidgetSettings(ctx, claims.Chatbot)
	if porthole.IsCode(err, porthole.ENOTFOUND) {
		s.refuse(w, r, http.StatusForbidden, orgID, porthole.SecTicketRefused, "ticket names a chatbot that no longer exists")
		return
	}
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	if reason := cidrRefusal(settings, ip); reason != "" {
		s.refuse(w, r, http.StatusForbidden, orgID, porthole.SecAuthorizationFailed, reason)
		return
	}
	conn, err := s.accept(w, r, s.limits.ReadLimit)
	if err != nil {
		return // the library has answered the request
	}
	if !s.track(conn) {
		_ = conn.Close(closeGoingAway, closeReasonStop)
		return
	}
	claims.Nonce = "" // checked; not kept for the socket's life
	sc := &socketSession{srv: s, conn: conn, claims: claims, session: session, ip: ip, requestID: httpx.RequestID(ctx)}
	sctx, cancel := context.WithCancel(s.baseCtx)
	// The welcome runs on the request's context, not the socket's: each SQL
	// transaction derives a context from the one it is given, which would
	// leave the socket's context a children map and a done channel for as
	// long as the socket idles.
	sub, code, reason := sc.open(ctx)
	if sub == nil {
		if code > 0 {
			_ = conn.Close(code, reason)
		} else {
			_ = conn.CloseNow()
		}
		cancel()
		s.untrack(conn)
		return
	}
	// The welcomed socket lives on a fresh goroutine and the handler
	// returns: the connection is hijacked, and net/http's goroutine, whose
	// stack grew deep serving the request and the welcome (SQL, JSON), would
	// otherwise idle for the socket's whole life. A fresh goroutine's stack
	// stays small while the socket is idle. Shutdown waits for it through
	// track/untrack.
	go func() {
		defer s.untrack(conn)
		defer cancel()
		sc.live(sctx, cancel, sub)
		_ = conn.CloseNow()
	}()
}

func (s *Server) allowConnect(w http.ResponseWriter, r *http.Request, orgID, key string, limit porthole.Limit, detail string) bool {
	d, err := s.deps.Limiter.Allow(r.Context(), key, limit, 1)
	if err != nil {
		s.unavailable(w, r, err)
		return false
	}
	if !d.Allowed {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(d.RetryAfter.Round(time.Second)/time.Second))))
		s.refuse(w, r, http.StatusTooManyRequests, orgID, porthole.SecRateLimited, detail)
		return false
	}
	return true
}

func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.logger.Error("widget: dependency failed", "err", err, "request_id", httpx.RequestID(r.Context()))
	http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
}

// cidrRefusal returns why ip may not chat with the chatbot, or "".
func cidrRefusal(settings store.WidgetSettings, ip netip.Addr) string {
	if len(settings.AllowCIDRs) == 0 && len(settings.DenyCIDRs) == 0 {
		return ""
	}
	if !ip.IsValid() {
		return "client address unknown and the chatbot has CIDR lists"
	}
	for _, c := range settings.DenyCIDRs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(ip) {
			return "client address on the chatbot's deny list"
		}
	}
	if len(settings.AllowCIDRs) == 0 {
		return ""
	}
	for _, c := range settings.AllowCIDRs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(ip) {
			return ""
		}
	}
	return "client address not on the chatbot's allow list"
}

// socketSession is one upgraded socket.
type socketSession struct {
	srv       *Server
	conn      socket
	claims    ticketClaims
	session   string
	ip        netip.Addr
	requestID string
	sess      *chat.Session

	mu         sync.Mutex // guards lastSent and writes of stored frames
	lastSent   int64
	lastTyping time.Time

	// Set by live before the socket's helpers can start, then read-only.
	ctx     context.Context // the socket's; ends with it
	sub     *pubsub.Subscription
	end     func(code int, reason string)
	helpers *sync.WaitGroup // the flusher, pings and ticket pushes; live waits for them

	// The flusher relays the subscription's queue to the socket. It runs
	// only while frames are queued, so an idle socket holds one goroutine
	// (the read loop), not two (docs/benchmarks.md, "Widget sockets").
	flushMu  sync.Mutex
	flushing bool // a flusher is running
	stopped  bool // live is ending: start no flusher

	// Keepalive state, guarded by srv.mu: the server's one keepalive loop
	// pings and refreshes tickets for every socket (see keepalive.go).
	nextPing, nextTicket time.Time
}

// write sends one frame as JSON. Every frame of a socket (welcome, stored
// and live frames, tickets, errors) goes through write or writeRaw: one
// path, serialized by the socket's write lock, with a write deadline.
func (c *socketSession) write(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.writeRaw(ctx, b)
}

func (c *socketSession) writeRaw(ctx context.Context, b []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Bounded by the write deadline, not tied to the socket's context: a
	// socket that ends closes its connection, which fails the write.
	return c.conn.Write(time.Now().Add(c.srv.limits.WriteTimeout), b)
}

func (c *socketSession) securityEvent(ctx context.Context, kind, detail string) {
	ev := porthole.SecurityEvent{ID: porthole.NewID(), OrgID: c.claims.Business, Kind: kind, Detail: detail,
		RequestID: c.requestID, CreatedAt: c.srv.now().UTC()}
	if c.ip.IsValid() {
		ev.IP, ev.Actor = c.ip.String(), "ip:"+c.ip.String()
	}
	c.srv.deps.Security.RecordSecurityEvent(ctx, ev)
}

// open reads hello, joins the conversation, subscribes and sends welcome
// (and what follows the first page of history). It returns the live
// subscription, or nil and the close code and reason (code 0: the
// connection is already gone).
func (c *socketSession) open(ctx context.Context) (*pubsub.Subscription, int, string) {
	s := c.srv
	hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), s.limits.HelloTimeout) // see writeRaw
	raw, err := c.conn.Read(hctx)
	hcancel()
	if err != nil {
		code, reason := c.readEnd(err)
		return nil, code, reason
	}
	var hello clientFrame
	if json.Unmarshal(raw, &hello) != nil || hello.Type != "hello" || hello.Session != c.session || hello.LastSeq < 0 {
		return nil, closePolicy, "the first frame must be hello with the session of the URL"
	}
	var identity *chat.VerifiedIdentity
	identityRefused := false
	if hello.Identity != nil {
		v, err := s.deps.Chat.VerifyIdentity(ctx, c.claims.Business, c.claims.Chatbot, *hello.Identity)
		if err != nil {
			identityRefused = true
			c.securityEvent(ctx, porthole.SecBadSignature, "widget identity refused: "+porthole.ErrorMessage(err))
		} else {
			identity = &v
		}
	}
	sess, err := s.deps.Chat.Join(ctx, c.claims.Business, c.claims.Chatbot, c.session, identity)
	if err != nil {
		s.logger.Error("widget: join failed", "err", err, "request_id", c.requestID)
		return nil, closeInternal, "unable to join the conversation"
	}
	// The visitor's address reaches every turn, for the per-IP budgets.
	sess.ClientIP = c.ip
	shareSessionStrings(sess)
	c.sess = sess
	sub, err := s.deps.Chat.Subscribe(ctx, sess)
	if err != nil {
		return nil, closeTryAgain, "live updates unavailable"
	}
	ok := false
	defer func() {
		if !ok {
			sub.Close()
		}
	}()
	latest, err := s.deps.Chat.LatestSeq(ctx, sess)
	if err != nil {
		return nil, closeInternal, "unable to read the conversation"
	}
	after := hello.LastSeq
	if after > latest {
		after = 0 // a tab from another conversation or a reset database: resend everything
	}
	history, err := s.deps.Chat.History(ctx, sess, after, welcomeHistory)
	if err != nil {
		return nil, closeInternal, "unable to read the conversation"
	}
	online, _ := s.deps.Chat.Online(ctx, sess.OrgID, sess.ChatbotID)
	ticket, exp := s.tickets.issue(c.claims.Business, c.claims.Chatbot, c.claims.Parent)
	c.mu.Lock()
	c.lastSent = after
	if len(history) > 0 {
		c.lastSent = history[len(history)-1].Seq
	}
	if history == nil {
		history = []chat.Frame{}
	}
	err = c.write(ctx, welcomeFrame{Type: "welcome", ConversationID: sess.Conversation.ID, VisitorID: sess.Visitor.ID,
		Seq: latest, History: history, Ticket: ticket, TicketExpiresAt: exp.UnixMilli(), Online: online, Identified: sess.Identified})
	if err == nil {
		err = c.catchUpLocked(ctx) // anything beyond the first page
	}
	c.mu.Unlock()
	if err != nil {
		return nil, 0, ""
	}
	if identityRefused {
		_ = c.write(ctx, errorFrame{Type: "error", Code: "identity_refused", Message: "the identity could not be verified; chatting anonymously"})
	}
	ok = true
	return sub, 0, ""
}

// live runs a welcomed socket until it ends: the read loop here, a
// flusher whenever the subscription has frames queued, pings and tickets
// from the server's keepalive loop.
func (c *socketSession) live(ctx context.Context, cancel context.CancelFunc, sub *pubsub.Subscription) {
	s := c.srv
	var wg sync.WaitGroup
	var once sync.Once
	// end closes the socket once, with a reason when there is one, which
	// also ends the blocked Read; then it stops the helpers.
	end := func(code int, reason string) {
		once.Do(func() {
			if code > 0 {
				_ = c.conn.Close(code, reason)
			} else {
				_ = c.conn.CloseNow()
			}
			cancel()
		})
	}
	c.ctx, c.sub, c.end, c.helpers = ctx, sub, end, &wg
	sub.Notify(c.wake)
	s.startKeepAlive(c)
	end(c.readLoop(ctx))

	// No helper may start once the wait begins.
	s.stopKeepAlive(c)
	c.flushMu.Lock()
	c.stopped = true
	c.flushMu.Unlock()
	wg.Wait()
	sub.Close()
}

// wake is the subscription's Notify callback: it starts a flusher unless
// one is running. It runs on the publisher's goroutine, so it only starts
// one and returns.
func (c *socketSession) wake() {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	if c.flushing || c.stopped {
		return
	}
	c.flushing = true
	c.helpers.Add(1)
	go c.flush()
}

// flush relays queued frames until the queue is empty, then exits. The
// emptiness check and clearing flushing happen under flushMu, which wake
// also takes after queueing, so a frame queued meanwhile starts a new
// flusher and none is stranded. A subscription dropped by pubsub (too
// slow, or pubsub shutting down) closes the socket so the widget
// reconnects and resumes from its last seq.
func (c *socketSession) flush() {
	defer c.helpers.Done()
	for {
		c.flushMu.Lock()
		raw, ok := c.sub.Next()
		stopped := c.stopped || c.ctx.Err() != nil
		if !ok || stopped {
			c.flushing = false
			c.flushMu.Unlock()
			if !ok && !stopped && c.sub.Err() != nil {
				c.end(closeTryAgain, "fell behind; reconnect to resume")
			}
			return
		}
		c.flushMu.Unlock()
		if err := c.relay(c.ctx, raw); err != nil {
			c.end(0, "")
			return // flushing stays set: the socket is ending
		}
	}
}

// shareSessionStrings points the ids the session's rows repeat at the
// session's own copies. Each row column is a separate allocation, and an
// idle socket keeps its session for its whole life.
func shareSessionStrings(sess *chat.Session) {
	share := func(dst *string, src string) {
		if *dst == src {
			*dst = src
		}
	}
	share(&sess.Visitor.OrgID, sess.OrgID)
	share(&sess.Visitor.SessionID, sess.SessionID)
	share(&sess.Conversation.OrgID, sess.OrgID)
	share(&sess.Conversation.ChatbotID, sess.ChatbotID)
	share(&sess.Conversation.VisitorID, sess.Visitor.ID)
}

func (c *socketSession) readEnd(err error) (int, string) {
	if closeCodeOf(err) == -1 && errors.Is(err, context.DeadlineExceeded) {
		return closePolicy, "no hello in time"
	}
	return 0, ""
}

// catchUpLocked sends every stored frame after lastSent. c.mu is held.
func (c *socketSession) catchUpLocked(ctx context.Context) error {
	for {
		frames, err := c.srv.deps.Chat.History(ctx, c.sess, c.lastSent, welcomeHistory)
		if err != nil {
			return err
		}
		for _, f := range frames {
			if err := c.write(ctx, f); err != nil {
				return err
			}
			c.lastSent = f.Seq
		}
		if len(frames) < welcomeHistory {
			return nil
		}
	}
}

// relay sends one live frame: stored ones in seq order exactly once (a gap
// is filled from the store), live-only ones as they come. An error means
// the socket is gone.
func (c *socketSession) relay(ctx context.Context, raw []byte) error {
	if chat.IsDelta(raw) {
		// A streamed token: live only, relayed as published.
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.writeRaw(ctx, raw)
	}
	// Only the head is decoded: the frame is relayed as published.
	var f struct {
		Type string `json:"type"`
		Seq  int64  `json:"seq"`
		Role string `json:"role"`
	}
	if json.Unmarshal(raw, &f) != nil {
		return nil
	}
	if f.Type == chat.FrameTyping && f.Role == store.RoleVisitor {
		return nil // the visitor's own typing is for agents
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case f.Seq == 0:
		return c.writeRaw(ctx, raw)
	case f.Seq <= c.lastSent:
		return nil // already sent (history or catch-up)
	case f.Seq == c.lastSent+1:
		if err := c.writeRaw(ctx, raw); err != nil {
			return err
		}
		c.lastSent = f.Seq
		return nil
	}
	return c.catchUpLocked(ctx)
}

// readLoop handles client frames until the socket ends.
func (c *socketSession) readLoop(ctx context.Context) (int, string) {
	s := c.srv
	for {
		raw, err := c.conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil && s.baseCtx.Err() != nil {
				return closeGoingAway, closeReasonStop
			}
			if closeCodeOf(err) == -1 && errors.Is(err, errBinaryFrame) {
				return closePolicy, "text frames only"
			}
			return 0, ""
		}
		var f clientFrame
		if err := json.Unmarshal(raw, &f); err != nil {
			if c.write(ctx, errorFrame{Type: "error", Code: porthole.EINVALID, Message: "frame is not a JSON object"}) != nil {
				return 0, ""
			}
			continue
		}
		if err := c.handle(ctx, f); err != nil {
			return 0, ""
		}
	}
}

// handle answers one client frame; an error means the socket is gone.
func (c *socketSession) handle(ctx context.Context, f clientFrame) error {
	s := c.srv
	chatSvc := s.deps.Chat
	switch f.Type {
	case "message":
		d, err := s.deps.Limiter.Allow(ctx, "widget:msg:session:"+c.sess.OrgID+":"+c.session, s.limits.MessagesPerSession, 1)
		if err != nil {
			return c.write(ctx, errorFrame{Type: "error", Code: porthole.EUNAVAILABLE, Message: "try again later", ClientID: f.ClientID})
		}
		if !d.Allowed {
			c.securityEvent(ctx, porthole.SecRateLimited, "too many widget messages for one session")
			return c.write(ctx, errorFrame{Type: "error", Code: porthole.ERATELIMITED, Message: "too many messages; wait a moment", ClientID: f.ClientID})
		}
		frame, created, err := chatSvc.SendMessage(ctx, c.sess, f.ClientID, f.Text)
		if err != nil && frame.Seq == 0 {
			return c.writeError(ctx, err, f.ClientID)
		}
		if err != nil {
			s.logger.Error("widget: after storing a message", "err", err, "request_id", c.requestID)
		}
		if !created {
			// A retry: the stored message again (the widget drops a seq it has).
			return c.write(ctx, frame)
		}
		return nil
	case "cancel":
		if err := chatSvc.Cancel(ctx, c.sess); err != nil {
			return c.writeError(ctx, err, "")
		}
		return nil
	case "form_submit":
		res, err := chatSvc.SubmitForm(ctx, c.sess, f.FormID, f.Values)
		if err != nil {
			return c.writeError(ctx, err, "")
		}
		if res.Seq == 0 { // invalid: for this tab only
			return c.write(ctx, res)
		}
		return nil
	case "typing":
		now := s.now()
		if now.Sub(c.lastTyping) >= typingEvery {
			c.lastTyping = now
			chatSvc.Typing(ctx, c.sess)
		}
		return nil
	case "hello":
		return c.write(ctx, errorFrame{Type: "error", Code: porthole.EINVALID, Message: "hello was already received"})
	}
	return c.write(ctx, errorFrame{Type: "error", Code: porthole.EINVALID, Message: "unknown frame type"})
}

func (c *socketSession) writeError(ctx context.Context, err error, clientID string) error {
	code := porthole.ErrorCode(err)
	if code == porthole.EINTERNAL {
		c.srv.logger.Error("widget: request failed", "err", err, "request_id", c.requestID)
	}
	return c.write(ctx, errorFrame{Type: "error", Code: code, Message: porthole.ErrorMessage(err), ClientID: clientID})
}
