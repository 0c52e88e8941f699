package chat

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Routing targets beside RouteAssistant and RouteOffline: a visitor message
// that an agent answers ("agent:<user id>"), one that waits for a person,
// and one that asked for a person.
const (
	RouteAgentPrefix = "agent:"
	RouteWaiting     = "waiting"
	RouteHandoff     = "handoff"
)

// Actions of the handling of a conversation, beside audit.ActionHandoff,
// audit.ActionAgentReply and audit.ActionSupervisor.
const (
	ActionTakeOver  = "conversation.take_over"
	ActionRelease   = "conversation.release"
	ActionClose     = "conversation.close"
	ActionReopen    = "conversation.reopen"
	ActionNote      = "conversation.note"
	ActionLegalHold = "conversation.legal_hold"
	ActionExport    = "conversation.export"
)

// DefaultLeaseTTL is how long an agent holds a conversation without acting
// (a reply, a note or a renewed take-over) before it lapses back to the
// waiting queue.
const DefaultLeaseTTL = 15 * time.Minute

// System messages the visitor sees when the handling changes.
const (
	handoffNote  = "I've asked a person to join. They will answer here shortly."
	agentJoined  = "A person from the team has joined the conversation."
	releasedNote = "You're back with the assistant."
)

// Handoff hands a conversation to people: it moves from the assistant
// (open) to waiting for a human, records conversation.handoff (actor the
// assistant, the reason given) and tells the visitor. It is the method the
// assistant's handoff tool calls. A conversation already waiting or with an
// agent is left as it is (nil); an unknown one is ENOTFOUND.
func (s *Service) Handoff(ctx context.Context, orgID, conversationID, reason string) error {
	c, err := s.db.Tenant(orgID).InboxConversation(ctx, conversationID)
	if err != nil {
		return err
	}
	if strings.TrimSpace(reason) == "" {
		reason = "the assistant handed the conversation to a person"
	}
	_, err = s.toWaiting(ctx, orgID, conversationID, audit.Actor{Kind: audit.ActorAssistant, ID: c.ChatbotID}, reason)
	return err
}

// RequestHuman is the visitor asking for a person without words (a button
// in the widget): the same as a message the handoff phrases match.
func (s *Service) RequestHuman(ctx context.Context, sess *Session) error {
	_, err := s.toWaiting(ctx, sess.OrgID, sess.Conversation.ID, audit.Actor{Kind: audit.ActorVisitor, ID: sess.Visitor.ID},
		"the visitor asked for a person")
	return err
}

// toWaiting moves an open or closed conversation to waiting, retrying when
// another change wins the race, and tells the visitor. It reports whether
// it changed anything.
func (s *Service) toWaiting(ctx context.Context, orgID, conversationID string, actor audit.Actor, reason string) (bool, error) {
	tn := s.db.Tenant(orgID)
	for attempt := 0; ; attempt++ {
		c, err := tn.InboxConversation(ctx, conversationID)
		if err != nil {
			return false, err
		}
		if c.State == store.StateWaiting || c.State == store.StateAgent {
			return false, nil
		}
		next, err := tn.ChangeHandling(ctx, store.HandlingChange{ConversationID: conversationID, FromVersion: c.LeaseVersion,
			State: store.StateWaiting, Handoff: true,
			Audit: audit.Entry{Actor: actor, Action: audit.ActionHandoff, Target: store.StateWaiting, Reason: reason,
				Payload: audit.Payload(map[string]any{"from": c.State, "chatbot_id": c.ChatbotID})}})
		if porthole.IsCode(err, porthole.ECONFLICT) && attempt < 3 {
			continue
		}
		if err != nil {
			return false, err
		}
		s.cancelTurn(ctx, orgID, conversationID)
		s.publishHandling(ctx, next)
		return true, s.appendTo(ctx, orgID, conversationID, store.NewEvent{Kind: store.EventMessage, Role: store.RoleSystem, Text: handoffNote})
	}
}

// routeVisitorMessage decides who answers a visitor message from the
// conversation's handling, before the message is stored, and returns the
// routing entry to record with it. The entry starts as routingDecision's
// (assistant or offline) and is narrowed by the handling.
func (s *Service) routeVisitorMessage(c store.InboxConversation, text string, base *entryAndOnline) {
	e := base.entry
	switch {
	case c.State == store.StateAgent:
		e.Target = RouteAgentPrefix + c.Holder
		e.Reason = "an agent holds the conversation: the assistant stays silent and the agent answers"
		base.turn = false
	case c.State == store.StateWaiting && base.online:
		e.Target = RouteWaiting
		e.Reason = "the conversation waits for a person: the assistant stays silent until an agent takes it or it is released"
		base.turn = false
	case c.State == store.StateWaiting:
		// Outside active hours nobody may come: the offline note and form answer.
		base.turn = false
	case AsksForHuman(text):
		e.Target = RouteHandoff
		e.Reason = "the visitor asked for a person: the conversation waits for an agent and the assistant stays silent"
		base.turn = false
		base.handoff = true
	}
	if c.State == store.StateClosed {
		e.Reason += " (the message reopens the closed conversation)"
	}
	e.Payload = addToPayload(e.Payload, map[string]any{"state": c.State, "lease_version": c.LeaseVersion})
}

// entryAndOnline carries SendMessage's routing: the entry to record, whether
// the chatbot is online, and what to do after storing the message.
type entryAndOnline struct {
	entry   *audit.Entry
	online  bool
	turn    bool // start an assistant turn (when online)
	handoff bool // move to waiting after storing the message
}

func addToPayload(p json.RawMessage, extra map[string]any) json.RawMessage {
	m := map[string]any{}
	if len(p) > 0 {
		_ = json.Unmarshal(p, &m)
	}
	for k, v := range extra {
		m[k] = v
	}
	return audit.Payload(m)
}

// handoffPhrases are matched anywhere in a normalized message; handoffWords
// only as the whole message (with "please" and the like removed), because
// "agent" or "person" inside a sentence is usually about something else.
var handoffPhrases = []string{
	// English
	"talk to a human", "speak to a human", "talk to a person", "speak to a person", "talk to someone",
	"speak to someone", "talk to a real person", "speak to a real person", "real person", "human agent",
	"talk to an agent", "speak to an agent", "live agent", "live person", "talk to a representative",
	"speak with a human", "speak with a person", "speak with an agent", "talk with a human",
	// Spanish (accents are folded before matching)
	"hablar con una persona", "hablar con un humano", "hablar con un agente", "hablar con alguien",
	"persona real", "agente humano", "hablar con un operador", "hablar con un asesor",
	// German
	"mit einem menschen", "mit einer person", "mit einem mitarbeiter", "mit einer mitarbeiterin",
	"echten menschen", "echter mensch", "mit einem berater", "mit einem agenten",
}

var handoffWords = map[string]bool{
	"human": true, "agent": true, "person": true, "representative": true, "operator": true, "a human": true,
	"an agent": true, "a person": true,
	"humano": true, "agente": true, "persona": true, "operador": true, "asesor": true,
	"mensch": true, "mitarbeiter": true, "berater": true, "menschen": true,
}

var politeWords = []string{"please", "pls", "por favor", "bitte", "i want", "i need", "quiero", "ich will", "ich möchte", "ich mochte"}

// AsksForHuman reports whether a visitor message asks for a person, in
// English, Spanish or German ("talk to a human", "hablar con una persona",
// "mit einem Menschen sprechen", or just "agent").
func AsksForHuman(text string) bool {
	n := normalizeForMatch(text)
	if n == "" {
		return false
	}
	for _, p := range handoffPhrases {
		if strings.Contains(" "+n+" ", " "+p+" ") {
			return true
		}
	}
	for _, w := range politeWords {
		n = strings.TrimSpace(strings.ReplaceAll(" "+n+" ", " "+w+" ", " "))
	}
	return handoffWords[n]
}

// normalizeForMatch lower-cases, folds common accents and turns everything
// but letters and digits into single spaces.
func normalizeForMatch(s string) string {
	fold := strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ñ", "n", "ü", "u", "ä", "a", "ö", "o", "ß", "ss")
	s = fold.Replace(strings.ToLower(s))
	var b strings.Builder
	space := true
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			space = false
		} else if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	return strings.TrimSpace(b.String())
}

// InboxTopic is the pubsub topic of an organization's handling changes
// (HandlingFrame): ids and states only, never text, so the inbox can
// refresh a row through the permission-checked read.
func InboxTopic(orgID string) string { return "inbox:" + orgID }

// StaffTopic is the pubsub topic of a conversation's internal notes; only
// callers that passed the visibility check may subscribe (SubscribeStaff).
func StaffTopic(orgID, conversationID string) string {
	return "chat-staff:" + orgID + ":" + conversationID
}

// HandlingFrame tells the inbox that a conversation changed hands.
type HandlingFrame struct {
	Type           string `json:"type"` // "handling"
	ConversationID string `json:"conversation_id"`
	ChatbotID      string `json:"chatbot_id"`
	State          string `json:"state"`
	Holder         string `json:"holder,omitempty"`
	LeaseVersion   int64  `json:"lease_version"`
}

func (s *Service) publishHandling(ctx context.Context, c store.InboxConversation) {
	b, _ := json.Marshal(HandlingFrame{Type: "handling", ConversationID: c.ID, ChatbotID: c.ChatbotID, State: c.State,
		Holder: c.Holder, LeaseVersion: c.LeaseVersion})
	if err := s.bus.Publish(context.WithoutCancel(ctx), InboxTopic(c.OrgID), b); err != nil {
		s.logger.Warn("chat: unable to publish handling", "conversation", c.ID, "err", err)
	}
}

// publishTo publishes a frame to every socket of a conversation.
func (s *Service) publishTo(ctx context.Context, orgID, conversationID string, f any) {
	b, err := json.Marshal(f)
	if err != nil {
		s.logger.Error("chat: unable to encode frame", "err", err)
		return
	}
	if err := s.bus.Publish(context.WithoutCancel(ctx), Topic(orgID, conversationID), b); err != nil {
		s.logger.Warn("chat: unable to publish", "conversation", conversationID, "err", err)
	}
}

// appendTo stores an event of a conversation and publishes it.
func (s *Service) appendTo(ctx context.Context, orgID, conversationID string, ne store.NewEvent) error {
	ne.ConversationID = conversationID
	ev, _, err := s.db.Tenant(orgID).AppendEvent(ctx, ne)
	if err != nil {
		return err
	}
	s.publishTo(ctx, orgID, conversationID, FrameOf(ev))
	return nil
}

// cancelTurn stops the conversation's running assistant turn, wherever it
// runs: a person now answers.
func (s *Service) cancelTurn(ctx context.Context, orgID, conversationID string) {
	s.mu.Lock()
	if t := s.turns[conversationID]; t != nil {
		t.cancel()
	}
	s.mu.Unlock()
	if err := s.bus.Publish(context.WithoutCancel(ctx), controlTopic(orgID, conversationID), []byte("cancel")); err != nil {
		s.logger.Warn("chat: unable to cancel remote turn", "conversation", conversationID, "err", err)
	}
}

// afterVisitorMessage acts on a stored visitor message's routing: a
// handoff, a reopen, the offline reply or an assistant turn.
func (s *Service) afterVisitorMessage(ctx context.Context, sess *Session, settings store.WidgetSettings, c store.InboxConversation, route *entryAndOnline) error {
	s.observeRate(ctx, sess)
	if c.State == store.StateClosed {
		if err := s.reopenByVisitor(ctx, sess, c); err != nil {
			return err
		}
	}
	if route.handoff {
		if _, err := s.toWaiting(ctx, sess.OrgID, sess.Conversation.ID, audit.Actor{Kind: audit.ActorVisitor, ID: sess.Visitor.ID},
			"the visitor asked for a person"); err != nil {
			return err
		}
	}
	if !route.online {
		if c.State == store.StateAgent {
			return nil // the agent is here, whatever the hours say
		}
		return s.offlineReply(ctx, sess, settings)
	}
	if !route.turn {
		return nil
	}
	// An agent may have taken the conversation while the message was
	// stored: the assistant never speaks over a person.
	now, err := s.db.Tenant(sess.OrgID).InboxConversation(ctx, sess.Conversation.ID)
	if err != nil {
		return err
	}
	if now.State == store.StateAgent || now.State == store.StateWaiting {
		return nil
	}
	s.startTurn(sess)
	return nil
}

// reopenByVisitor reopens a closed conversation when its visitor writes
// again: the assistant answers.
func (s *Service) reopenByVisitor(ctx context.Context, sess *Session, c store.InboxConversation) error {
	next, err := s.db.Tenant(sess.OrgID).ChangeHandling(ctx, store.HandlingChange{ConversationID: c.ID, FromVersion: c.LeaseVersion,
		State: store.StateOpen,
		Audit: audit.Entry{Actor: audit.Actor{Kind: audit.ActorVisitor, ID: sess.Visitor.ID}, Action: ActionReopen,
			Target: store.StateOpen, Reason: "the visitor wrote in a closed conversation"}})
	if porthole.IsCode(err, porthole.ECONFLICT) {
		return nil // someone else changed it first; their state stands
	}
	if err != nil {
		return err
	}
	s.publishHandling(ctx, next)
	return nil
}
