package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/store"
)

// MaxMessageRunes caps a visitor message, in characters after trimming.
const MaxMessageRunes = 4000

// ContactFormID is the form_id of the offline contact form.
const ContactFormID = "contact"

const (
	defaultOfflineNote = "We are offline right now. Leave your name and email and we will get back to you."
	thanksNote         = "Thank you! We will get back to you soon."
	// historyForTurn is how many of its newest messages a turn reads; the
	// engine keeps what fits its token budget.
	historyForTurn = 50
	storeTimeout   = 10 * time.Second
)

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// SecretSealer seals and opens per-organization secrets; *secrets.Vault is one.
type SecretSealer interface {
	Seal(ctx context.Context, orgID string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, orgID string, ciphertext []byte) ([]byte, error)
}

// Config is what a Service needs.
type Config struct {
	DB     *store.DB
	PubSub pubsub.PubSub
	// Engine produces replies; nil means EchoEngine with a 40 ms delay.
	Engine TurnEngine
	// Vault opens identity secrets; nil disables signed identities.
	Vault  SecretSealer
	Logger *slog.Logger
	// Now is the clock for active hours; nil means time.Now.
	Now func() time.Time
	// Security records refused inbox access (issue 5); nil records nothing.
	Security porthole.SecurityRecorder
	// Limiter spots inhuman message rates to mark a visitor as automated
	// (issue 5, analytics); nil disables the check.
	Limiter porthole.Limiter
	// LeaseTTL is how long an idle agent holds a conversation; 0 means
	// DefaultLeaseTTL.
	LeaseTTL time.Duration
}

// Service is the conversation service. It is safe for concurrent use.
type Service struct {
	db     *store.DB
	bus    pubsub.PubSub
	engine TurnEngine
	vault  SecretSealer
	logger *slog.Logger
	now    func() time.Time
	// issue 5: inbox, leases and automated traffic (handoff.go, inbox.go)
	security porthole.SecurityRecorder
	limiter  porthole.Limiter
	leaseTTL time.Duration

	baseCtx  context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	turns    map[string]*turn // running turns of this process, by conversation id
	shutDown bool
}

type turn struct {
	id     string
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Service. Call Shutdown to stop its turns.
func New(cfg Config) *Service {
	s := &Service{db: cfg.DB, bus: cfg.PubSub, engine: cfg.Engine, vault: cfg.Vault, logger: cfg.Logger, now: cfg.Now,
		security: cfg.Security, limiter: cfg.Limiter, leaseTTL: cfg.LeaseTTL, turns: map[string]*turn{}}
	if s.leaseTTL <= 0 {
		s.leaseTTL = DefaultLeaseTTL
	}
	if s.engine == nil {
		s.engine = EchoEngine{Delay: 40 * time.Millisecond}
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.baseCtx, s.stop = context.WithCancel(context.Background())
	return s
}

// Shutdown cancels every running turn (each stores what it streamed and a
// canceled turn_end) and waits for them until ctx ends.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutDown = true
	s.mu.Unlock()
	s.stop()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("chat: turns still running at shutdown: %w", ctx.Err())
	}
}

// Session is one visitor's conversation with one chatbot, as joined by a socket.
type Session struct {
	OrgID        string
	ChatbotID    string
	SessionID    string
	Visitor      store.Visitor
	Conversation store.Conversation
	Identified   bool
	// ClientIP is the visitor's address, set by the transport after Join
	// (the widget knows it from the upgrade request); the zero Addr when
	// unknown. Turns pass it on in TurnInput.ClientIP.
	ClientIP netip.Addr
}

// Join finds or creates the visitor of (org, session) and its conversation
// with the chatbot. identity, when not nil, must come from VerifyIdentity.
func (s *Service) Join(ctx context.Context, orgID, chatbotID, sessionID string, identity *VerifiedIdentity) (*Session, error) {
	tn := s.db.Tenant(orgID)
	if _, err := tn.Chatbot(ctx, chatbotID); err != nil {
		return nil, err
	}
	v, err := tn.EnsureVisitor(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	if identity != nil {
		if v, err = tn.UpdateVisitor(ctx, v.ID, identity.UserID, identity.Name, identity.Email); err != nil {
			return nil, err
		}
		// Issue 5 (contacts.go): a signed email is a verified one; it may
		// merge this row into the contact with the same verified email.
		// The session keeps its own visitor row either way.
		if identity.Email != "" {
			if _, _, err := s.saveContactDetails(ctx, orgID, v.ID, ContactDetails{Email: identity.Email, EmailVerified: true}); err != nil {
				return nil, err
			}
		}
	}
	conv, err := tn.EnsureConversation(ctx, v.ID, chatbotID)
	if err != nil {
		return nil, err
	}
	return &Session{OrgID: orgID, ChatbotID: chatbotID, SessionID: sessionID, Visitor: v, Conversation: conv,
		Identified: identity != nil || v.ExternalID != ""}, nil
}

// Topic returns the pubsub topic of a conversation's frames.
func Topic(orgID, conversationID string) string { return "chat:" + orgID + ":" + conversationID }

func controlTopic(orgID, conversationID string) string {
	return "chat-ctl:" + orgID + ":" + conversationID
}

// Subscribe returns the live frames of the session's conversation (JSON
// Frames). Subscribe before reading history, then skip frames whose seq
// was already sent, and nothing is lost or doubled.
func (s *Service) Subscribe(ctx context.Context, sess *Session) (*pubsub.Subscription, error) {
	sub, err := s.bus.Subscribe(ctx, Topic(sess.OrgID, sess.Conversation.ID))
	if err != nil {
		return nil, porthole.WrapError(porthole.EUNAVAILABLE, err, "live updates are unavailable")
	}
	return sub, nil
}

// History returns up to limit stored frames of the conversation after afterSeq.
func (s *Service) History(ctx context.Context, sess *Session, afterSeq int64, limit int) ([]Frame, error) {
	if afterSeq < 0 {
		afterSeq = 0
	}
	events, err := s.db.Tenant(sess.OrgID).EventsAfter(ctx, sess.Conversation.ID, afterSeq, limit)
	if err != nil {
		return nil, err
	}
	frames := make([]Frame, len(events))
	for i, e := range events {
		frames[i] = FrameOf(e)
	}
	return frames, nil
}

// LatestSeq returns the conversation's newest sequence number.
func (s *Service) LatestSeq(ctx context.Context, sess *Session) (int64, error) {
	c, err := s.db.Tenant(sess.OrgID).Conversation(ctx, sess.Conversation.ID)
	if err != nil {
		return 0, err
	}
	return c.LastSeq, nil
}

// Online reports whether the chatbot is inside its active hours now.
func (s *Service) Online(ctx context.Context, orgID, chatbotID string) (bool, error) {
	settings, err := s.db.Tenant(orgID).WidgetSettings(ctx, chatbotID)
	if err != nil {
		return false, err
	}
	return InActiveHours(settings, s.now()), nil
}

// SendMessage stores a visitor message and starts the assistant's turn (or,
// outside active hours, answers with the offline note and contact form).
// A retry with the same clientID returns the stored message with created
// false and does nothing else.
func (s *Service) SendMessage(ctx context.Context, sess *Session, clientID, text string) (f Frame, created bool, err error) {
	if !clientIDPattern.MatchString(clientID) {
		return Frame{}, false, porthole.Errorf(porthole.EINVALID, "client_id must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	text = strings.TrimSpace(text)
	if text == "" || !utf8.ValidString(text) {
		return Frame{}, false, porthole.Errorf(porthole.EINVALID, "text must be non-empty UTF-8")
	}
	if utf8.RuneCountInString(text) > MaxMessageRunes {
		return Frame{}, false, porthole.Errorf(porthole.ETOOLARGE, "text is over %d characters", MaxMessageRunes)
	}
	tn := s.db.Tenant(sess.OrgID)
	// Routing is decided before the message is stored, so the decision is
	// recorded in the Wake in the message's own transaction. Issue 5: who
	// handles the conversation (the assistant, a waiting queue or an agent
	// holding the lease) narrows it; see routeVisitorMessage and
	// afterVisitorMessage in handoff.go.
	settings, handling, err := tn.MessageRouting(ctx, sess.ChatbotID, sess.Conversation.ID)
	if err != nil {
		return Frame{}, false, err
	}
	online := InActiveHours(settings, s.now())
	route := &entryAndOnline{entry: routingDecision(sess, settings, online), online: online, turn: online}
	s.routeVisitorMessage(handling, text, route)
	ev, created, err := tn.AppendEvent(ctx, store.NewEvent{ConversationID: sess.Conversation.ID, Kind: store.EventMessage,
		Role: store.RoleVisitor, Text: text, ClientID: clientID, Audit: route.entry})
	if err != nil {
		return Frame{}, false, err
	}
	f = FrameOf(ev)
	if !created {
		return f, false, nil
	}
	s.publish(ctx, sess, f)
	if handling.LastSeq == 0 {
		// A conversation's first message: the inbox learns it exists.
		s.publishHandling(ctx, handling)
	}
	return f, true, s.afterVisitorMessage(ctx, sess, settings, handling, route)
}

// Cancel stops the conversation's running turn, in whichever process runs it.
func (s *Service) Cancel(ctx context.Context, sess *Session) error {
	s.mu.Lock()
	if t := s.turns[sess.Conversation.ID]; t != nil {
		t.cancel()
	}
	s.mu.Unlock()
	if err := s.bus.Publish(ctx, controlTopic(sess.OrgID, sess.Conversation.ID), []byte("cancel")); err != nil {
		return porthole.WrapError(porthole.EUNAVAILABLE, err, "cancel is unavailable")
	}
	return nil
}

// Typing tells the conversation's other listeners (agents) the visitor is typing.
func (s *Service) Typing(ctx context.Context, sess *Session) {
	s.publish(ctx, sess, Frame{Type: FrameTyping, Role: store.RoleVisitor})
}

func (s *Service) publish(ctx context.Context, sess *Session, f Frame) {
	b, err := json.Marshal(f)
	if err != nil {
		s.logger.Error("chat: unable to encode frame", "err", err)
		return
	}
	s.publishRaw(ctx, sess, Topic(sess.OrgID, sess.Conversation.ID), b)
}

// publishRaw publishes an encoded frame on the conversation's topic.
func (s *Service) publishRaw(ctx context.Context, sess *Session, topic string, b []byte) {
	// A lost publication costs only liveness: stored frames are caught up
	// from the store by seq.
	if err := s.bus.Publish(context.WithoutCancel(ctx), topic, b); err != nil {
		s.logger.Warn("chat: unable to publish", "conversation", sess.Conversation.ID, "err", err)
	}
}

func (s *Service) appendAndPublish(ctx context.Context, sess *Session, ne store.NewEvent) error {
	ne.ConversationID = sess.Conversation.ID
	ev, _, err := s.db.Tenant(sess.OrgID).AppendEvent(ctx, ne)
	if err != nil {
		return err
	}
	s.publish(ctx, sess, FrameOf(ev))
	return nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only package-defined types are marshalled
	}
	return b
}

// offlineReply stores the offline note and the contact form, once per
// offline stretch: not again while a contact form is newer than the last turn.
func (s *Service) offlineReply(ctx context.Context, sess *Session, settings store.WidgetSettings) error {
	tn := s.db.Tenant(sess.OrgID)
	form, err := tn.LastEvent(ctx, sess.Conversation.ID, store.EventForm)
	if err == nil {
		lastTurn, terr := tn.LastEvent(ctx, sess.Conversation.ID, store.EventTurnEnd)
		if porthole.IsCode(terr, porthole.ENOTFOUND) || (terr == nil && form.Seq > lastTurn.Seq) {
			return nil
		}
		if terr != nil {
			return terr
		}
	} else if !porthole.IsCode(err, porthole.ENOTFOUND) {
		return err
	}
	note := settings.OfflineNote
	if note == "" {
		note = defaultOfflineNote
	}
	if err := s.appendAndPublish(ctx, sess, store.NewEvent{Kind: store.EventMessage, Role: store.RoleSystem, Text: note}); err != nil {
		return err
	}
	return s.appendAndPublish(ctx, sess, store.NewEvent{Kind: store.EventForm, Data: mustJSON(eventData{
		FormID: ContactFormID, Title: "Contact us", Fields: contactFields})})
}

var contactFields = []FormField{
	{Name: "name", Label: "Name", Type: "text", Required: true},
	{Name: "phone", Label: "Phone", Type: "tel"}, // issue 5: stored in E.164 (porthole.NormalizePhone)
	{Name: "email", Label: "Email", Type: "email", Required: true},
	{Name: "message", Label: "Message", Type: "textarea"},
}

// SubmitForm validates a form submission. An invalid one returns a
// form_result frame with errors, stored nowhere; an accepted one is stored,
// updates the visitor's contact details and is published. The visitor row
// is upgraded in place (issue 5, contacts.go): the phone in E.164, the
// typed email unverified, and a merge into an existing contact with the
// same phone; the session still sees only its own conversation.
func (s *Service) SubmitForm(ctx context.Context, sess *Session, formID string, values map[string]string) (Frame, error) {
	if formID != ContactFormID {
		return Frame{}, porthole.Errorf(porthole.EINVALID, "unknown form %q", formID)
	}
	tn := s.db.Tenant(sess.OrgID)
	if _, err := tn.LastEvent(ctx, sess.Conversation.ID, store.EventForm); err != nil {
		if porthole.IsCode(err, porthole.ENOTFOUND) {
			return Frame{}, porthole.Errorf(porthole.EINVALID, "no form %q was asked for", formID)
		}
		return Frame{}, err
	}
	clean := map[string]string{}
	errs := map[string]string{}
	for _, f := range contactFields {
		v := strings.TrimSpace(values[f.Name])
		switch {
		case v == "" && f.Required:
			errs[f.Name] = "required"
		case f.Name == "email" && v != "":
			addr, err := mail.ParseAddress(v)
			if err != nil || addr.Address != v || len(v) > 320 {
				errs[f.Name] = "not a valid email address"
			}
		case f.Name == "name" && utf8.RuneCountInString(v) > 200:
			errs[f.Name] = "too long"
		case f.Name == "phone" && v != "":
			phone, err := porthole.NormalizePhone(v, s.phoneCountry(ctx, sess.OrgID, sess.ChatbotID))
			if err != nil {
				errs[f.Name] = porthole.ErrorMessage(err)
			}
			v = phone
		case utf8.RuneCountInString(v) > MaxMessageRunes:
			errs[f.Name] = "too long"
		}
		clean[f.Name] = v
	}
	if len(errs) > 0 {
		return Frame{Type: FrameFormResult, FormID: formID, Status: "invalid", Errors: errs}, nil
	}
	if _, _, err := s.SaveContactDetails(ctx, sess, ContactDetails{Name: clean["name"], Email: clean["email"], Phone: clean["phone"]}); err != nil {
		return Frame{}, err
	}
	ev, _, err := tn.AppendEvent(ctx, store.NewEvent{ConversationID: sess.Conversation.ID, Kind: store.EventFormResult,
		Data: mustJSON(eventData{FormID: formID, Status: "accepted", Values: clean}), Audit: contactFormSubmitted(sess, formID, clean)})
	if err != nil {
		return Frame{}, err
	}
	f := FrameOf(ev)
	s.publish(ctx, sess, f)
	return f, s.appendAndPublish(ctx, sess, store.NewEvent{Kind: store.EventMessage, Role: store.RoleSystem, Text: thanksNote})
}

// startTurn cancels the conversation's running turn (here and in other
// processes) and starts a new one answering the whole conversation.
func (s *Service) startTurn(sess *Session) {
	convID := sess.Conversation.ID
	t := &turn{id: porthole.NewID(), done: make(chan struct{})}
	// Other processes: preempt their turn for this conversation.
	if err := s.bus.Publish(s.baseCtx, controlTopic(sess.OrgID, convID), []byte("preempt:"+t.id)); err != nil {
		s.logger.Warn("chat: unable to preempt remote turn", "conversation", convID, "err", err)
	}
	s.mu.Lock()
	if s.shutDown {
		s.mu.Unlock()
		return
	}
	prev := s.turns[convID]
	var ctx context.Context
	ctx, t.cancel = context.WithCancel(s.baseCtx)
	s.turns[convID] = t
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer close(t.done)
		defer t.cancel()
		if prev != nil {
			// The previous turn's end is stored before this turn says anything.
			prev.cancel()
			<-prev.done
		}
		s.runTurn(ctx, sess, t)
		s.mu.Lock()
		if s.turns[convID] == t {
			delete(s.turns, convID)
		}
		s.mu.Unlock()
	}()
}

func (s *Service) runTurn(ctx context.Context, sess *Session, t *turn) {
	// Control messages (cancel from any socket, preemption by a turn in
	// another process) reach this turn wherever it runs.
	// Notify rather than a goroutine reading C: a running turn holds no
	// channel (C's buffer is pointers the collector scans, thousands of
	// turns at once) and no goroutine for a message that rarely comes.
	// The callback runs on the publisher's goroutine; canceling a context
	// returns at once.
	ctl, err := s.bus.Subscribe(ctx, controlTopic(sess.OrgID, sess.Conversation.ID))
	if err == nil {
		defer ctl.Close()
		ctl.Notify(func() {
			for {
				msg, ok := ctl.Next()
				if !ok {
					return
				}
				m := string(msg)
				if m == "cancel" || (strings.HasPrefix(m, "preempt:") && m != "preempt:"+t.id) {
					t.cancel()
				}
			}
		})
	} else if ctx.Err() == nil {
		s.logger.Warn("chat: turn runs without remote cancel", "conversation", sess.Conversation.ID, "err", err)
	}
	s.publish(ctx, sess, Frame{Type: FrameTyping, Role: store.RoleAssistant, TurnID: t.id})

	tn := s.db.Tenant(sess.OrgID)
	var reply strings.Builder
	var rec TurnRecord
	status := TurnDone
	topic := Topic(sess.OrgID, sess.Conversation.ID) // each token is published on it
	history, err := tn.RecentMessages(ctx, sess.Conversation.ID, historyForTurn)
	if err == nil {
		in := TurnInput{OrgID: sess.OrgID, ChatbotID: sess.ChatbotID, ConversationID: sess.Conversation.ID,
			VisitorID: sess.Visitor.ID, TurnID: t.id, ClientIP: sess.ClientIP, History: history}
		rec, err = s.engine.Stream(ctx, in, func(text string) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if reply.Len()+len(text) > store.MaxEventText {
				return porthole.Errorf(porthole.ETOOLARGE, "reply is too long")
			}
			reply.WriteString(text)
			s.publishRaw(ctx, sess, topic, appendDelta(make([]byte, 0, len(deltaHead)+len(text)+len(t.id)+32), t.id, text))
			return nil
		})
	}
	// Each delta woke its sockets' flushers, and the newest of them waits on
	// this goroutine's P to run next (runtime: runnext). Without a yield it
	// would wait for the turn's end to be stored below, a third of a
	// millisecond and more, so that every reply's last token reached the
	// visitor late (docs/benchmarks.md, "Sixth session").
	runtime.Gosched()
	switch {
	case ctx.Err() != nil:
		status = TurnCanceled
	case err != nil:
		status = TurnError
		s.logger.Error("chat: turn failed", "conversation", sess.Conversation.ID, "turn", t.id, "err", err)
	}
	// The turn's context may be canceled; its end is stored regardless.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	// The reply, the turn's end and what the engine left are one write.
	end := store.TurnEnd{Usage: rec.Usage, Decisions: rec.Decisions}
	if text := strings.TrimSpace(reply.String()); text != "" {
		end.Events = append(end.Events, store.NewEvent{Kind: store.EventMessage, Role: store.RoleAssistant, Text: text, TurnID: t.id})
	}
	end.Events = append(end.Events, store.NewEvent{Kind: store.EventTurnEnd, TurnID: t.id,
		Data: mustJSON(eventData{Status: status}), Audit: turnEnd(sess, t.id, status, reply.Len())})
	stored, err := tn.EndTurn(sctx, sess.Conversation.ID, end)
	if err != nil && len(end.Events) > 1 {
		// A reply the store refuses must not keep the turn from ending:
		// every socket waits for the end.
		s.logger.Error("chat: unable to store reply", "conversation", sess.Conversation.ID, "err", err)
		end.Events = end.Events[len(end.Events)-1:]
		stored, err = tn.EndTurn(sctx, sess.Conversation.ID, end)
	}
	if err != nil && (end.Usage != nil || len(end.Decisions) > 0) {
		// Nor may what the engine left: the turn's end comes first.
		s.logger.Error("chat: unable to store the turn's usage and decisions", "conversation", sess.Conversation.ID, "err", err)
		end.Usage, end.Decisions = nil, nil
		stored, err = tn.EndTurn(sctx, sess.Conversation.ID, end)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		s.logger.Error("chat: unable to store turn end", "conversation", sess.Conversation.ID, "err", err)
	}
	for _, ev := range stored {
		s.publish(sctx, sess, FrameOf(ev))
	}
}
