package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// Conversation states (docs/conversations.md).
const (
	StateOpen    = "open"    // the assistant answers
	StateWaiting = "waiting" // waiting for a person; the assistant is silent
	StateAgent   = "agent"   // an agent holds the lease; the assistant is silent
	StateClosed  = "closed"  // done; a visitor message reopens it
)

// ValidState reports whether s is one of the conversation states.
func ValidState(s string) bool {
	switch s {
	case StateOpen, StateWaiting, StateAgent, StateClosed:
		return true
	}
	return false
}

// InboxConversation is a conversation as the agent inbox sees it: who
// handles it (the lease), its state and its visitor's contact details.
// State is the effective state: an agent lease that has expired reads as
// StateWaiting with no holder, whether or not a sweep has stored that yet.
type InboxConversation struct {
	Conversation
	State          string     `json:"state"`
	Holder         string     `json:"holder,omitempty"` // user id of the agent holding the lease; "" = the assistant
	LeaseVersion   int64      `json:"lease_version"`
	LeaseExpiresAt *time.Time `json:"lease_expires_at,omitempty"`
	AssigneeID     string     `json:"assignee_id,omitempty"`
	ContactID      string     `json:"contact_id"` // the contact the conversation is attached to
	Channel        string     `json:"channel"`
	LegalHold      bool       `json:"legal_hold"`
	HandedOffAt    *time.Time `json:"handed_off_at,omitempty"`
	AgentHandled   bool       `json:"agent_handled"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`
	VisitorName    string     `json:"visitor_name,omitempty"`
	VisitorEmail   string     `json:"visitor_email,omitempty"`
	VisitorPhone   string     `json:"visitor_phone,omitempty"`
	Automated      bool       `json:"automated"`
}

const inboxColumns = `c.id, c.org_id, c.chatbot_id, c.visitor_id, c.last_seq, c.created_at, c.updated_at,
	c.state, c.holder, c.lease_version, c.lease_expires_at, c.assignee_id, c.contact_id, c.channel, c.legal_hold,
	c.handed_off_at, c.agent_handled, c.closed_at, v.name, v.email, v.phone, v.automated`

const inboxFrom = ` FROM conversations c JOIN visitors v ON v.org_id = c.org_id AND v.id = c.visitor_id`

func optMillis(ms int64) *time.Time {
	if ms <= 0 {
		return nil
	}
	t := fromMillis(ms)
	return &t
}

func scanInbox(row interface{ Scan(...any) error }, now time.Time) (InboxConversation, error) {
	var c InboxConversation
	var created, updated, expires, handedOff, closed, hold, agentHandled, automated int64
	err := row.Scan(&c.ID, &c.OrgID, &c.ChatbotID, &c.VisitorID, &c.LastSeq, &created, &updated,
		&c.State, &c.Holder, &c.LeaseVersion, &expires, &c.AssigneeID, &c.ContactID, &c.Channel, &hold,
		&handedOff, &agentHandled, &closed, &c.VisitorName, &c.VisitorEmail, &c.VisitorPhone, &automated)
	c.CreatedAt, c.UpdatedAt = fromMillis(created), fromMillis(updated)
	c.LegalHold, c.AgentHandled, c.Automated = hold != 0, agentHandled != 0, automated != 0
	c.HandedOffAt, c.ClosedAt = optMillis(handedOff), optMillis(closed)
	if c.ContactID == "" {
		c.ContactID = c.VisitorID
	}
	if c.State == StateAgent {
		if expires <= millis(now) {
			// The agent went idle: the lease lapsed back to the queue.
			c.State, c.Holder = StateWaiting, ""
		} else {
			c.LeaseExpiresAt = optMillis(expires)
		}
	}
	return c, err
}

// InboxConversation returns one conversation of the bound organization
// with its handling.
func (t *Tenant) InboxConversation(ctx context.Context, id string) (InboxConversation, error) {
	if !porthole.ValidID(id) {
		return InboxConversation{}, notFound("conversation")
	}
	var c InboxConversation
	err := t.read(ctx, func(tx *Tx) error {
		var err error
		c, err = t.inboxConversation(ctx, tx, id)
		return err
	})
	return c, err
}

func (t *Tenant) inboxConversation(ctx context.Context, tx *Tx, id string) (InboxConversation, error) {
	c, err := scanInbox(tx.queryRow(ctx, `SELECT `+inboxColumns+inboxFrom+` WHERE c.org_id = ? AND c.id = ?`, t.orgID, id), t.db.now())
	if errors.Is(err, sql.ErrNoRows) {
		return InboxConversation{}, notFound("conversation")
	}
	if err != nil {
		return InboxConversation{}, fmt.Errorf("store: unable to read conversation: %w", err)
	}
	return c, nil
}

// Visibility says which conversations a caller may see: those of the
// chatbots in Team, and those of the chatbots in AssignedOnly that are
// assigned to AssigneeID. All is true for callers that see every
// conversation of the organization (owners, admins, API keys).
type Visibility struct {
	All          bool
	Team         []string
	AssignedOnly []string
	AssigneeID   string
}

// where returns the SQL condition (on alias c) and its arguments.
func (v Visibility) where() (string, []any) {
	if v.All {
		return "1 = 1", nil
	}
	var parts []string
	var args []any
	if len(v.Team) > 0 {
		parts = append(parts, "c.chatbot_id IN ("+placeholders(len(v.Team))+")")
		for _, id := range v.Team {
			args = append(args, id)
		}
	}
	if len(v.AssignedOnly) > 0 && v.AssigneeID != "" {
		parts = append(parts, "(c.chatbot_id IN ("+placeholders(len(v.AssignedOnly))+") AND c.assignee_id = ?)")
		for _, id := range v.AssignedOnly {
			args = append(args, id)
		}
		args = append(args, v.AssigneeID)
	}
	if len(parts) == 0 {
		return "1 = 0", nil
	}
	return "(" + strings.Join(parts, " OR ") + ")", args
}

// InboxFilter selects conversations for the inbox. Zero fields select all.
type InboxFilter struct {
	State     string // one of the states, or ""
	ChatbotID string
	ContactID string
	// Before pages: conversations updated strictly before it (unix ms), 0 for the newest.
	Before int64
	Limit  int // 1..500, default 100
}

// InboxConversations lists the bound organization's conversations the
// visibility allows, newest activity first.
func (t *Tenant) InboxConversations(ctx context.Context, vis Visibility, f InboxFilter) ([]InboxConversation, error) {
	if f.State != "" && !ValidState(f.State) {
		return nil, porthole.Errorf(porthole.EINVALID, "state must be open, waiting, agent or closed")
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	now := millis(t.db.now())
	cond, args := vis.where()
	q := `SELECT ` + inboxColumns + inboxFrom + ` WHERE c.org_id = ? AND ` + cond
	args = append([]any{t.orgID}, args...)
	switch f.State {
	case StateAgent:
		q += ` AND c.state = 'agent' AND c.lease_expires_at > ?`
		args = append(args, now)
	case StateWaiting:
		q += ` AND (c.state = 'waiting' OR (c.state = 'agent' AND c.lease_expires_at <= ?))`
		args = append(args, now)
	case StateOpen, StateClosed:
		q += ` AND c.state = ?`
		args = append(args, f.State)
	}
	if f.ChatbotID != "" {
		q += ` AND c.chatbot_id = ?`
		args = append(args, f.ChatbotID)
	}
	if f.ContactID != "" {
		q += ` AND (c.contact_id = ? OR (c.contact_id = '' AND c.visitor_id = ?))`
		args = append(args, f.ContactID, f.ContactID)
	}
	if f.Before > 0 {
		q += ` AND c.updated_at < ?`
		args = append(args, f.Before)
	}
	q += ` ORDER BY c.updated_at DESC, c.id DESC LIMIT ?`
	args = append(args, f.Limit)
	var list []InboxConversation
	err := t.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("store: unable to list conversations: %w", err)
		}
		defer rows.Close()
		nowT := t.db.now()
		for rows.Next() {
			c, err := scanInbox(rows, nowT)
			if err != nil {
				return fmt.Errorf("store: unable to list conversations: %w", err)
			}
			list = append(list, c)
		}
		return rows.Err()
	})
	return list, err
}

// HandlingChange moves a conversation to a new state and holder, as a
// compare-and-swap on its lease version: it applies only when the stored
// version still equals FromVersion, so of two agents racing to take one
// conversation exactly one wins and the other gets ECONFLICT.
type HandlingChange struct {
	ConversationID string
	FromVersion    int64
	State          string
	// Holder is the agent's user id for StateAgent, "" otherwise.
	Holder string
	// LeaseUntil is when an agent's lease lapses (StateAgent only).
	LeaseUntil time.Time
	// SetAssignee replaces the assignee with AssigneeID; otherwise it is kept.
	SetAssignee bool
	AssigneeID  string
	// Handoff marks the conversation as handed off to people (analytics).
	Handoff bool
	// Audit is recorded in the change's transaction; its ConversationID is set.
	Audit audit.Entry
}

// ChangeHandling applies a HandlingChange and returns the conversation as
// it now is. A stale FromVersion is ECONFLICT; an unknown conversation is
// ENOTFOUND.
func (t *Tenant) ChangeHandling(ctx context.Context, ch HandlingChange) (InboxConversation, error) {
	if !porthole.ValidID(ch.ConversationID) {
		return InboxConversation{}, notFound("conversation")
	}
	if !ValidState(ch.State) {
		return InboxConversation{}, porthole.Errorf(porthole.EINVALID, "unknown state %q", ch.State)
	}
	if (ch.State == StateAgent) != (ch.Holder != "") {
		return InboxConversation{}, porthole.Errorf(porthole.EINVALID, "a conversation has a holder exactly when an agent handles it")
	}
	var out InboxConversation
	err := t.tx(ctx, func(tx *Tx) error {
		now := millis(t.db.now())
		var expires int64
		if ch.State == StateAgent {
			expires = millis(ch.LeaseUntil)
		}
		setAssignee, handoff, agent := 0, 0, 0
		var closedAt int64
		if ch.SetAssignee {
			setAssignee = 1
		}
		if ch.Handoff {
			handoff = 1
		}
		if ch.State == StateAgent {
			agent, handoff = 1, 1
		}
		if ch.State == StateClosed {
			closedAt = now
		}
		res, err := tx.exec(ctx, `UPDATE conversations SET state = ?, holder = ?, lease_version = lease_version + 1,
				lease_expires_at = ?,
				assignee_id = CASE WHEN ? = 1 THEN ? ELSE assignee_id END,
				handed_off_at = CASE WHEN ? = 1 AND handed_off_at = 0 THEN ? ELSE handed_off_at END,
				agent_handled = CASE WHEN ? = 1 THEN 1 ELSE agent_handled END,
				closed_at = ?,
				updated_at = ?
			WHERE org_id = ? AND id = ? AND lease_version = ?`,
			ch.State, ch.Holder, expires, setAssignee, ch.AssigneeID, handoff, now, agent, closedAt, now,
			t.orgID, ch.ConversationID, ch.FromVersion)
		if err != nil {
			return fmt.Errorf("store: unable to change conversation handling: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: unable to change conversation handling: %w", err)
		}
		if n == 0 {
			if err := t.conversationExists(ctx, tx, ch.ConversationID); err != nil {
				return err
			}
			return porthole.Errorf(porthole.ECONFLICT, "the conversation changed hands meanwhile; reload and try again")
		}
		if err := t.recordEventAudit(ctx, tx, ch.ConversationID, ch.Audit); err != nil {
			return err
		}
		out, err = t.inboxConversation(ctx, tx, ch.ConversationID)
		return err
	})
	return out, err
}

// SetLegalHold puts a conversation under legal hold (retention skips it) or
// lifts the hold, recorded in the change's transaction.
func (t *Tenant) SetLegalHold(ctx context.Context, conversationID string, hold bool, e audit.Entry) error {
	if !porthole.ValidID(conversationID) {
		return notFound("conversation")
	}
	v := 0
	if hold {
		v = 1
	}
	return t.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE conversations SET legal_hold = ? WHERE org_id = ? AND id = ?`, v, t.orgID, conversationID)
		if err != nil {
			return fmt.Errorf("store: unable to set legal hold: %w", err)
		}
		if err := expectOne(res, "conversation"); err != nil {
			return err
		}
		return t.recordEventAudit(ctx, tx, conversationID, e)
	})
}
