package chat

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/store"
)

// The agent inbox: what members do with conversations. Every method takes
// the caller's auth.Principal and enforces, on the server, the chatbot
// grants and the chatbot's sharing policy (auth.CanSeeConversation): a
// conversation the caller may not see is ENOTFOUND, exactly like another
// organization's, and is recorded as an authorization_failed security
// event. Changes need write access to the chatbot's conversations;
// supervisor actions need "supervision:write" (owners and admins). Every
// action is recorded in the Wake with the caller as actor and the reason
// given, in the transaction of the change.

// ActionInput is what an agent action carries besides the conversation.
type ActionInput struct {
	// Reason is recorded with the action; a default is used when empty.
	Reason string
	// Version, when not 0, is the lease version the caller saw: the action
	// applies only if nobody changed the handling since (ECONFLICT otherwise).
	Version int64
}

// ConversationDetail is one conversation as an agent sees it: its
// handling, every stored event and the internal notes.
type ConversationDetail struct {
	store.InboxConversation
	Events []store.Event `json:"events"`
	Notes  []store.Note  `json:"notes"`
}

// AgentReplyData is the Data of an agent's message event: who wrote it.
// The widget never receives it (FrameOf shows role "agent" only).
type AgentReplyData struct {
	AgentID string `json:"agent_id"`
}

// actorOf turns a principal into the actor its actions are recorded as.
func actorOf(p auth.Principal) audit.Actor {
	if p.Kind == auth.KindAPIKey {
		return audit.Actor{Kind: audit.ActorAPIKey, ID: p.APIKeyID}
	}
	return audit.Actor{Kind: audit.ActorUser, ID: p.UserID}
}

// Visibility returns which conversations p may see, for store queries.
func (s *Service) Visibility(ctx context.Context, p auth.Principal) (store.Visibility, error) {
	if p.Access("conversations") < auth.ReadAccess {
		return store.Visibility{}, porthole.Errorf(porthole.EFORBIDDEN, "missing permission conversations:read")
	}
	tn := s.db.Tenant(p.Org)
	bots, err := tn.Chatbots(ctx)
	if err != nil {
		return store.Visibility{}, err
	}
	grants := map[string]string{}
	if p.IsUser() {
		if grants, err = tn.UserChatbotGrants(ctx, p.UserID); err != nil {
			return store.Visibility{}, err
		}
	}
	all := true
	var vis store.Visibility
	for _, b := range bots {
		grant, _ := auth.ParseAccess(grants[b.ID])
		policy, err := tn.ConversationSharing(ctx, b.ID)
		if err != nil {
			return store.Visibility{}, err
		}
		switch {
		case auth.CanSeeConversation(p, grant, policy, ""):
			vis.Team = append(vis.Team, b.ID)
		case p.IsUser() && auth.CanSeeConversation(p, grant, policy, p.UserID):
			vis.AssignedOnly = append(vis.AssignedOnly, b.ID)
			all = false
		default:
			all = false
		}
	}
	vis.All, vis.AssigneeID = all, p.UserID
	return vis, nil
}

// conversationFor loads a conversation and checks p may see it (and, with
// need WriteAccess, change it). Invisible is ENOTFOUND plus a security event.
func (s *Service) conversationFor(ctx context.Context, p auth.Principal, id string, need auth.Access) (store.InboxConversation, error) {
	if p.Org == "" {
		return store.InboxConversation{}, porthole.Errorf(porthole.ENOTFOUND, "conversation not found")
	}
	tn := s.db.Tenant(p.Org)
	c, err := tn.InboxConversation(ctx, id)
	if err != nil {
		return store.InboxConversation{}, err
	}
	grant := auth.WriteAccess
	if p.IsUser() {
		grants, err := tn.UserChatbotGrants(ctx, p.UserID)
		if err != nil {
			return store.InboxConversation{}, err
		}
		grant, _ = auth.ParseAccess(grants[c.ChatbotID])
	}
	policy, err := tn.ConversationSharing(ctx, c.ChatbotID)
	if err != nil {
		return store.InboxConversation{}, err
	}
	if !auth.CanSeeConversation(p, grant, policy, c.AssigneeID) {
		s.refused(ctx, p, "conversation "+id+" is outside the caller's chatbot grants or sharing policy")
		return store.InboxConversation{}, porthole.Errorf(porthole.ENOTFOUND, "conversation not found")
	}
	if need >= auth.WriteAccess && p.ChatbotAccess("conversations", grant) < auth.WriteAccess {
		s.refused(ctx, p, "no write access to conversation "+id)
		return store.InboxConversation{}, porthole.Errorf(porthole.EFORBIDDEN, "no write access to this conversation")
	}
	return c, nil
}

func (s *Service) refused(ctx context.Context, p auth.Principal, detail string) {
	if s.security == nil {
		return
	}
	s.security.RecordSecurityEvent(ctx, porthole.SecurityEvent{OrgID: p.Org, Kind: porthole.SecAuthorizationFailed,
		Actor: p.Actor(), Detail: detail})
}

func requireSupervisor(p auth.Principal) error {
	if !p.Can("supervision:write") {
		return porthole.Errorf(porthole.EFORBIDDEN, "missing permission supervision:write")
	}
	return nil
}

// Conversations lists the conversations p may see, filtered by state,
// chatbot or contact, newest activity first.
func (s *Service) Conversations(ctx context.Context, p auth.Principal, f store.InboxFilter) ([]store.InboxConversation, error) {
	vis, err := s.Visibility(ctx, p)
	if err != nil {
		return nil, err
	}
	return s.db.Tenant(p.Org).InboxConversations(ctx, vis, f)
}

// Conversation returns one conversation with every stored event after
// afterSeq (at most 1000) and all its internal notes. Agents see notes;
// the widget's History never does (notes are not events).
func (s *Service) Conversation(ctx context.Context, p auth.Principal, id string, afterSeq int64) (ConversationDetail, error) {
	c, err := s.conversationFor(ctx, p, id, auth.ReadAccess)
	if err != nil {
		return ConversationDetail{}, err
	}
	tn := s.db.Tenant(p.Org)
	events, err := tn.EventsAfter(ctx, id, max(0, afterSeq), 1000)
	if err != nil {
		return ConversationDetail{}, err
	}
	notes, err := tn.Notes(ctx, id)
	if err != nil {
		return ConversationDetail{}, err
	}
	return ConversationDetail{InboxConversation: c, Events: nonNilSlice(events), Notes: nonNilSlice(notes)}, nil
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// SubscribeConversation returns the live frames of a conversation for an
// agent: the visitor-visible frames (Topic) and the internal notes
// (StaffTopic), after the visibility check. Close both.
func (s *Service) SubscribeConversation(ctx context.Context, p auth.Principal, id string) (frames, notes *pubsub.Subscription, err error) {
	if _, err := s.conversationFor(ctx, p, id, auth.ReadAccess); err != nil {
		return nil, nil, err
	}
	if frames, err = s.bus.Subscribe(ctx, Topic(p.Org, id)); err != nil {
		return nil, nil, porthole.WrapError(porthole.EUNAVAILABLE, err, "live updates are unavailable")
	}
	if notes, err = s.bus.Subscribe(ctx, StaffTopic(p.Org, id)); err != nil {
		frames.Close()
		return nil, nil, porthole.WrapError(porthole.EUNAVAILABLE, err, "live updates are unavailable")
	}
	return frames, notes, nil
}

// SubscribeInbox returns the organization's handling changes
// (HandlingFrame: ids and states, no text). Re-read a changed row with
// Conversation, which applies the caller's permissions.
func (s *Service) SubscribeInbox(ctx context.Context, p auth.Principal) (*pubsub.Subscription, error) {
	if p.Access("conversations") < auth.ReadAccess {
		return nil, porthole.Errorf(porthole.EFORBIDDEN, "missing permission conversations:read")
	}
	sub, err := s.bus.Subscribe(ctx, InboxTopic(p.Org))
	if err != nil {
		return nil, porthole.WrapError(porthole.EUNAVAILABLE, err, "live updates are unavailable")
	}
	return sub, nil
}

// change applies a handling change on behalf of p, checking in.Version.
func (s *Service) change(ctx context.Context, p auth.Principal, c store.InboxConversation, in ActionInput, ch store.HandlingChange) (store.InboxConversation, error) {
	if in.Version != 0 && in.Version != c.LeaseVersion {
		return store.InboxConversation{}, porthole.Errorf(porthole.ECONFLICT, "the conversation changed hands meanwhile; reload and try again")
	}
	ch.ConversationID, ch.FromVersion = c.ID, c.LeaseVersion
	ch.Audit.Actor = actorOf(p)
	if ch.Audit.Target == "" {
		ch.Audit.Target = ch.State
	}
	if strings.TrimSpace(in.Reason) != "" {
		ch.Audit.Reason = in.Reason
	}
	payload := map[string]any{"from_state": c.State, "from_holder": c.Holder, "to_state": ch.State, "to_holder": ch.Holder,
		"chatbot_id": c.ChatbotID}
	ch.Audit.Payload = audit.Payload(payload)
	next, err := s.db.Tenant(p.Org).ChangeHandling(ctx, ch)
	if err != nil {
		return store.InboxConversation{}, err
	}
	s.publishHandling(ctx, next)
	return next, nil
}

// TakeOver gives the conversation to p (a person) as its agent: the
// assistant goes silent (a running turn is canceled) until Release. Of two
// agents racing, exactly one wins; the other gets ECONFLICT. Taking a
// conversation p already holds renews the lease. A conversation held by
// another agent is ECONFLICT (a supervisor uses SupervisorTakeOver).
func (s *Service) TakeOver(ctx context.Context, p auth.Principal, id string, in ActionInput) (store.InboxConversation, error) {
	return s.takeOver(ctx, p, id, in, false)
}

// SupervisorTakeOver is TakeOver for a supervisor: it also takes a
// conversation another agent holds, recorded as supervisor.action.
func (s *Service) SupervisorTakeOver(ctx context.Context, p auth.Principal, id string, in ActionInput) (store.InboxConversation, error) {
	if err := requireSupervisor(p); err != nil {
		return store.InboxConversation{}, err
	}
	return s.takeOver(ctx, p, id, in, true)
}

func (s *Service) takeOver(ctx context.Context, p auth.Principal, id string, in ActionInput, supervisor bool) (store.InboxConversation, error) {
	c, err := s.conversationFor(ctx, p, id, auth.WriteAccess)
	if err != nil {
		return store.InboxConversation{}, err
	}
	if !p.IsUser() {
		return store.InboxConversation{}, porthole.Errorf(porthole.EFORBIDDEN, "only a person can take a conversation")
	}
	until := s.db.Now().Add(s.leaseTTL)
	if c.State == store.StateAgent && c.Holder == p.UserID {
		if err := s.db.Tenant(p.Org).RenewLease(ctx, id, p.UserID, until); err != nil {
			return store.InboxConversation{}, err
		}
		return s.db.Tenant(p.Org).InboxConversation(ctx, id)
	}
	if c.State == store.StateAgent && !supervisor {
		return store.InboxConversation{}, porthole.Errorf(porthole.ECONFLICT, "another agent holds this conversation")
	}
	e := audit.Entry{Action: ActionTakeOver, Target: RouteAgentPrefix + p.UserID, Reason: "an agent took over the conversation"}
	if supervisor {
		e.Action, e.Reason = audit.ActionSupervisor, "a supervisor took over the conversation"
	}
	next, err := s.change(ctx, p, c, in, store.HandlingChange{State: store.StateAgent, Holder: p.UserID, LeaseUntil: until,
		SetAssignee: true, AssigneeID: p.UserID, Audit: e})
	if err != nil {
		return store.InboxConversation{}, err
	}
	s.cancelTurn(ctx, p.Org, id)
	if c.State != store.StateAgent {
		if err := s.appendTo(ctx, p.Org, id, store.NewEvent{Kind: store.EventMessage, Role: store.RoleSystem, Text: agentJoined}); err != nil {
			return next, err
		}
	}
	return next, nil
}

// Release hands the conversation back to the assistant (state open). Only
// its holder may release it, or a supervisor.
func (s *Service) Release(ctx context.Context, p auth.Principal, id string, in ActionInput) (store.InboxConversation, error) {
	c, err := s.conversationFor(ctx, p, id, auth.WriteAccess)
	if err != nil {
		return store.InboxConversation{}, err
	}
	supervisor := p.Can("supervision:write")
	switch {
	case c.State == store.StateAgent && c.Holder != p.UserID && !supervisor:
		return store.InboxConversation{}, porthole.Errorf(porthole.ECONFLICT, "another agent holds this conversation")
	case c.State != store.StateAgent && c.State != store.StateWaiting:
		return store.InboxConversation{}, porthole.Errorf(porthole.ECONFLICT, "the conversation is %s, not with a person", c.State)
	}
	e := audit.Entry{Action: ActionRelease, Target: RouteAssistant, Reason: "the agent returned the conversation to the assistant"}
	if c.Holder != p.UserID {
		e.Action = audit.ActionSupervisor
	}
	next, err := s.change(ctx, p, c, in, store.HandlingChange{State: store.StateOpen, Audit: e})
	if err != nil {
		return store.InboxConversation{}, err
	}
	return next, s.appendTo(ctx, p.Org, id, store.NewEvent{Kind: store.EventMessage, Role: store.RoleSystem, Text: releasedNote})
}

// Reassign gives the conversation to another agent (userID), who must have
// write access to the chatbot's conversations. Supervisors only.
func (s *Service) Reassign(ctx context.Context, p auth.Principal, id, userID string, in ActionInput) (store.InboxConversation, error) {
	if err := requireSupervisor(p); err != nil {
		return store.InboxConversation{}, err
	}
	c, err := s.conversationFor(ctx, p, id, auth.WriteAccess)
	if err != nil {
		return store.InboxConversation{}, err
	}
	tn := s.db.Tenant(p.Org)
	m, err := tn.Member(ctx, userID)
	if err != nil {
		return store.InboxConversation{}, porthole.Errorf(porthole.ENOTFOUND, "member not found")
	}
	grants, err := tn.UserChatbotGrants(ctx, userID)
	if err != nil {
		return store.InboxConversation{}, err
	}
	target := auth.Principal{Kind: auth.KindUser, UserID: userID, Org: p.Org, Role: m.Role}
	grant, _ := auth.ParseAccess(grants[c.ChatbotID])
	if target.ChatbotAccess("conversations", grant) < auth.WriteAccess {
		return store.InboxConversation{}, porthole.Errorf(porthole.EINVALID, "that member cannot answer this chatbot's conversations")
	}
	next, err := s.change(ctx, p, c, in, store.HandlingChange{State: store.StateAgent, Holder: userID,
		LeaseUntil: s.db.Now().Add(s.leaseTTL), SetAssignee: true, AssigneeID: userID,
		Audit: audit.Entry{Action: audit.ActionSupervisor, Target: RouteAgentPrefix + userID, Reason: "a supervisor reassigned the conversation"}})
	if err != nil {
		return store.InboxConversation{}, err
	}
	s.cancelTurn(ctx, p.Org, id)
	if c.State != store.StateAgent {
		if err := s.appendTo(ctx, p.Org, id, store.NewEvent{Kind: store.EventMessage, Role: store.RoleSystem, Text: agentJoined}); err != nil {
			return next, err
		}
	}
	return next, nil
}

// Close closes the conversation (any state). A conversation another agent
// holds is closed only by a supervisor.
func (s *Service) Close(ctx context.Context, p auth.Principal, id string, in ActionInput) (store.InboxConversation, error) {
	c, err := s.conversationFor(ctx, p, id, auth.WriteAccess)
	if err != nil {
		return store.InboxConversation{}, err
	}
	if c.State == store.StateClosed {
		return c, nil
	}
	if c.State == store.StateAgent && c.Holder != p.UserID && !p.Can("supervision:write") {
		return store.InboxConversation{}, porthole.Errorf(porthole.ECONFLICT, "another agent holds this conversation")
	}
	next, err := s.change(ctx, p, c, in, store.HandlingChange{State: store.StateClosed,
		Audit: audit.Entry{Action: ActionClose, Reason: "the conversation was closed"}})
	if err != nil {
		return store.InboxConversation{}, err
	}
	s.cancelTurn(ctx, p.Org, id)
	return next, nil
}

// Reopen reopens a closed conversation: the assistant answers again.
func (s *Service) Reopen(ctx context.Context, p auth.Principal, id string, in ActionInput) (store.InboxConversation, error) {
	c, err := s.conversationFor(ctx, p, id, auth.WriteAccess)
	if err != nil {
		return store.InboxConversation{}, err
	}
	if c.State != store.StateClosed {
		return store.InboxConversation{}, porthole.Errorf(porthole.ECONFLICT, "the conversation is not closed")
	}
	return s.change(ctx, p, c, in, store.HandlingChange{State: store.StateOpen,
		Audit: audit.Entry{Action: ActionReopen, Reason: "the conversation was reopened"}})
}

// Reply sends an agent's message to the visitor: stored as a message with
// role "agent" and published to every socket of the conversation at once.
// The caller must hold the conversation; one that is open or waiting is
// taken over first (ECONFLICT when another agent holds it). clientID, when
// given (1-62 of A-Z a-z 0-9 _ -), makes a retry return the stored reply.
func (s *Service) Reply(ctx context.Context, p auth.Principal, id, text, clientID string) (Frame, error) {
	text = strings.TrimSpace(text)
	if text == "" || !utf8.ValidString(text) {
		return Frame{}, porthole.Errorf(porthole.EINVALID, "text must be non-empty UTF-8")
	}
	if utf8.RuneCountInString(text) > MaxMessageRunes {
		return Frame{}, porthole.Errorf(porthole.ETOOLARGE, "text is over %d characters", MaxMessageRunes)
	}
	if clientID != "" && (!clientIDPattern.MatchString(clientID) || len(clientID) > 62) {
		return Frame{}, porthole.Errorf(porthole.EINVALID, "client_id must be 1 to 62 of A-Z a-z 0-9 _ -")
	}
	c, err := s.conversationFor(ctx, p, id, auth.WriteAccess)
	if err != nil {
		return Frame{}, err
	}
	if !p.IsUser() {
		return Frame{}, porthole.Errorf(porthole.EFORBIDDEN, "only a person can reply")
	}
	tn := s.db.Tenant(p.Org)
	if c.State == store.StateAgent && c.Holder == p.UserID {
		if err := tn.RenewLease(ctx, id, p.UserID, s.db.Now().Add(s.leaseTTL)); err != nil {
			return Frame{}, err
		}
	} else if _, err := s.TakeOver(ctx, p, id, ActionInput{Reason: "the agent replied"}); err != nil {
		return Frame{}, err
	}
	ne := store.NewEvent{ConversationID: id, Kind: store.EventMessage, Role: store.RoleAgent, Text: text,
		Data: mustJSON(AgentReplyData{AgentID: p.UserID}),
		Audit: &audit.Entry{Actor: actorOf(p), Action: audit.ActionAgentReply, Target: RouteAgentPrefix + p.UserID,
			Reason: "an agent replied to the visitor", Payload: audit.Payload(map[string]any{"reply_bytes": len(text)})}}
	if clientID != "" {
		ne.ClientID = "a:" + clientID // visitors' client ids cannot hold ':'
	}
	ev, created, err := tn.AppendEvent(ctx, ne)
	if err != nil {
		return Frame{}, err
	}
	f := FrameOf(ev)
	f.ClientID = clientID
	if created {
		vf := FrameOf(ev)
		vf.ClientID = "" // the visitor's tabs have no use for the agent's client id
		s.publishTo(ctx, p.Org, id, vf)
	}
	return f, nil
}

// NoteFrame is a note as published on StaffTopic.
type NoteFrame struct {
	Type string     `json:"type"` // "note"
	Note store.Note `json:"note"`
}

// AddNote stores an internal note: visible to the team (Conversation,
// SubscribeConversation), never sent to the visitor. Holding the lease is
// not needed; a holder's note renews it.
func (s *Service) AddNote(ctx context.Context, p auth.Principal, id, text string) (store.Note, error) {
	c, err := s.conversationFor(ctx, p, id, auth.WriteAccess)
	if err != nil {
		return store.Note{}, err
	}
	author := p.UserID
	if !p.IsUser() {
		author = "api_key:" + p.APIKeyID
	}
	n, err := s.db.Tenant(p.Org).AddNote(ctx, id, author, text, audit.Entry{Actor: actorOf(p), Action: ActionNote,
		Target: "note", Reason: "an internal note was added", Payload: audit.Payload(map[string]any{"note_bytes": len(text)})})
	if err != nil {
		return store.Note{}, err
	}
	if c.State == store.StateAgent && c.Holder == p.UserID {
		_ = s.db.Tenant(p.Org).RenewLease(ctx, id, p.UserID, s.db.Now().Add(s.leaseTTL)) // best effort
	}
	b := mustJSON(NoteFrame{Type: "note", Note: n})
	if err := s.bus.Publish(context.WithoutCancel(ctx), StaffTopic(p.Org, id), b); err != nil {
		s.logger.Warn("chat: unable to publish note", "conversation", id, "err", err)
	}
	return n, nil
}

// SetLegalHold puts a conversation under legal hold, which retention
// skips, or lifts it. Supervisors only.
func (s *Service) SetLegalHold(ctx context.Context, p auth.Principal, id string, hold bool, reason string) error {
	if err := requireSupervisor(p); err != nil {
		return err
	}
	if _, err := s.conversationFor(ctx, p, id, auth.WriteAccess); err != nil {
		return err
	}
	if strings.TrimSpace(reason) == "" {
		reason = fmt.Sprintf("legal hold set to %v", hold)
	}
	return s.db.Tenant(p.Org).SetLegalHold(ctx, id, hold, audit.Entry{Actor: actorOf(p), Action: ActionLegalHold,
		Target: fmt.Sprintf("legal_hold:%v", hold), Reason: reason})
}
