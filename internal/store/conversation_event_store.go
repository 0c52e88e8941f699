package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// Kinds of stored conversation events.
const (
	EventMessage    = "message"     // a message of a visitor, the assistant, an agent or the system
	EventTurnEnd    = "turn_end"    // the end of an assistant turn; Data holds {"status": ...}
	EventForm       = "form"        // the server asks for fields; Data holds the form
	EventFormResult = "form_result" // an accepted form submission; Data holds the result
)

// Roles of message events.
const (
	RoleVisitor   = "visitor"
	RoleAssistant = "assistant"
	RoleAgent     = "agent"
	RoleSystem    = "system"
)

// MaxEventText caps the text of one stored event, in bytes.
const MaxEventText = 64 << 10

// Event is one stored event of a conversation, numbered by Seq (1, 2, 3, ...
// per conversation, no gaps).
type Event struct {
	ID             string          `json:"id"`
	OrgID          string          `json:"organization_id"`
	ConversationID string          `json:"conversation_id"`
	Seq            int64           `json:"seq"`
	Kind           string          `json:"kind"`
	Role           string          `json:"role,omitempty"`
	Text           string          `json:"text,omitempty"`
	ClientID       string          `json:"client_id,omitempty"`
	TurnID         string          `json:"turn_id,omitempty"`
	Data           json.RawMessage `json:"data,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
}

// NewEvent is what AppendEvent stores; the store assigns ID, Seq and CreatedAt.
type NewEvent struct {
	ConversationID string
	Kind           string
	Role           string
	Text           string
	// ClientID, when set, makes the append idempotent: a second append with
	// the same ClientID in the conversation returns the first event.
	ClientID string
	TurnID   string
	Data     json.RawMessage
	// Audit, when set, is the audit entry that records why the event is
	// stored (the routing of a visitor message, the end of a turn, a
	// submitted form). It is appended in the event's transaction, so both
	// commit or neither does, and only when the event is newly stored: an
	// idempotent retry records nothing. Its ConversationID is the event's.
	Audit *audit.Entry
}

const eventColumns = `id, org_id, conversation_id, seq, kind, role, text, client_id, turn_id, data, created_at`

func scanEvent(row interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var clientID sql.NullString
	var data string
	var created int64
	err := row.Scan(&e.ID, &e.OrgID, &e.ConversationID, &e.Seq, &e.Kind, &e.Role, &e.Text, &clientID, &e.TurnID, &data, &created)
	e.ClientID = clientID.String
	if data != "" && data != "{}" {
		e.Data = json.RawMessage(data)
	}
	e.CreatedAt = fromMillis(created)
	return e, err
}

func validEvent(e NewEvent) error {
	switch e.Kind {
	case EventMessage:
		switch e.Role {
		case RoleVisitor, RoleAssistant, RoleAgent, RoleSystem:
		default:
			return porthole.Errorf(porthole.EINVALID, "unknown message role %q", e.Role)
		}
	case EventTurnEnd, EventForm, EventFormResult:
	default:
		return porthole.Errorf(porthole.EINVALID, "unknown event kind %q", e.Kind)
	}
	if len(e.Text) > MaxEventText || len(e.Data) > MaxEventText {
		return porthole.Errorf(porthole.ETOOLARGE, "event is too large")
	}
	if !utf8.ValidString(e.Text) {
		return porthole.Errorf(porthole.EINVALID, "text must be UTF-8")
	}
	if len(e.ClientID) > 64 || len(e.TurnID) > 64 {
		return porthole.Errorf(porthole.EINVALID, "client_id and turn_id are at most 64 characters")
	}
	if len(e.Data) > 0 && !json.Valid(e.Data) {
		return porthole.Errorf(porthole.EINVALID, "event data must be JSON")
	}
	return nil
}

// AppendEvent stores an event with the conversation's next sequence number.
// With a ClientID already stored in the conversation it stores nothing and
// returns the stored event with created false.
func (t *Tenant) AppendEvent(ctx context.Context, ne NewEvent) (e Event, created bool, err error) {
	if !porthole.ValidID(ne.ConversationID) {
		return Event{}, false, notFound("conversation")
	}
	if err := validEvent(ne); err != nil {
		return Event{}, false, err
	}
	err = t.tx(ctx, func(tx *Tx) error {
		if ne.ClientID != "" {
			prev, err := scanEvent(tx.queryRow(ctx, `SELECT `+eventColumns+` FROM conversation_events
				WHERE org_id = ? AND conversation_id = ? AND client_id = ?`, t.orgID, ne.ConversationID, ne.ClientID))
			if err == nil {
				e = prev
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: unable to read event: %w", err)
			}
		}
		evs, err := t.insertEvents(ctx, tx, ne.ConversationID, []NewEvent{ne})
		if err != nil {
			return err
		}
		e, created = evs[0], true
		return nil
	})
	if isUniqueViolation(err) && ne.ClientID != "" {
		// Another request with the same client id won the race: return its event.
		var prev Event
		rerr := t.tx(ctx, func(tx *Tx) error {
			var err error
			prev, err = scanEvent(tx.queryRow(ctx, `SELECT `+eventColumns+` FROM conversation_events
				WHERE org_id = ? AND conversation_id = ? AND client_id = ?`, t.orgID, ne.ConversationID, ne.ClientID))
			return err
		})
		if rerr == nil {
			return prev, false, nil
		}
	}
	if err != nil {
		return Event{}, false, err
	}
	return e, created, nil
}

// TokenUsage is what one assistant turn spent at its model.
type TokenUsage struct {
	InputTokens, OutputTokens int64
}

// TurnEnd is what an assistant turn leaves when it ends; EndTurn stores it.
type TurnEnd struct {
	// Events are the turn's last events, numbered consecutively in order:
	// its reply, when it has one, and its turn_end. They carry no ClientID
	// (AppendEvent deduplicates those).
	Events []NewEvent
	// Usage is added to the conversation's assistant usage, counting one
	// turn; nil when no model was asked.
	Usage *TokenUsage
	// Decisions are the turn's audit entries that were kept for its end
	// (the knowledge it looked up, its reply's citations); they are
	// appended after the events' own entries.
	Decisions []audit.Entry
}

// EndTurn stores a turn's end in one transaction: its events, its usage and
// its decisions are one write, not one each (a turn's writes are most of
// what a streamed reply costs the store; docs/benchmarks.md). Either all is
// stored or nothing is.
func (t *Tenant) EndTurn(ctx context.Context, conversationID string, end TurnEnd) ([]Event, error) {
	if !porthole.ValidID(conversationID) {
		return nil, notFound("conversation")
	}
	if end.Usage != nil && (end.Usage.InputTokens < 0 || end.Usage.OutputTokens < 0) {
		return nil, porthole.Errorf(porthole.EINVALID, "token counts must not be negative")
	}
	events := slices.Clone(end.Events) // the caller's stay as they are
	var entries []audit.Entry
	for i := range events {
		events[i].ConversationID = conversationID
		if events[i].ClientID != "" {
			return nil, porthole.Errorf(porthole.EINVALID, "events appended together carry no client_id")
		}
		if err := validEvent(events[i]); err != nil {
			return nil, err
		}
		if events[i].Audit != nil {
			entries = append(entries, *events[i].Audit)
			events[i].Audit = nil // recorded below, in one batch with the decisions
		}
	}
	entries = append(entries, end.Decisions...)
	for i, d := range entries {
		d.ConversationID = conversationID
		e, err := t.decisionEntry(ctx, d)
		if err != nil {
			return nil, err
		}
		entries[i] = e
	}
	var out []Event
	err := t.tx(ctx, func(tx *Tx) error {
		if len(events) == 0 {
			// Numbering events finds the conversation; without any, look.
			if err := t.conversationExists(ctx, tx, conversationID); err != nil {
				return err
			}
		} else {
			var err error
			if out, err = t.insertEvents(ctx, tx, conversationID, events); err != nil {
				return err
			}
		}
		if end.Usage != nil {
			if err := t.addUsage(ctx, tx, conversationID, *end.Usage); err != nil {
				return err
			}
		}
		if len(entries) == 0 {
			return nil
		}
		return recordAudit(ctx, tx, t.orgID, t.db.now(), entries...)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// insertEvents numbers and stores validated events of one conversation
// inside tx, consecutively and in order, with their audit entries.
//
// One UPDATE numbers them all: it takes the conversation's row lock, so
// concurrent appends get consecutive numbers in commit order, and on
// PostgreSQL a second update of a row this transaction already changed
// would check its foreign keys again, locking the visitor row the
// conversation points to (contact merges lock that row).
func (t *Tenant) insertEvents(ctx context.Context, tx *Tx, conversationID string, events []NewEvent) ([]Event, error) {
	now := millis(t.db.now())
	var last int64
	err := tx.queryRow(ctx, `UPDATE conversations SET last_seq = last_seq + ?, updated_at = ?
		WHERE org_id = ? AND id = ? RETURNING last_seq`, len(events), now, t.orgID, conversationID).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("conversation")
	}
	if err != nil {
		return nil, fmt.Errorf("store: unable to number event: %w", err)
	}
	out := make([]Event, 0, len(events))
	for i, ne := range events {
		var clientID any
		if ne.ClientID != "" {
			clientID = ne.ClientID
		}
		data := "{}"
		if len(ne.Data) > 0 {
			data = string(ne.Data)
		}
		e := Event{ID: porthole.NewID(), OrgID: t.orgID, ConversationID: conversationID, Seq: last - int64(len(events)-1-i),
			Kind: ne.Kind, Role: ne.Role, Text: ne.Text, ClientID: ne.ClientID, TurnID: ne.TurnID, CreatedAt: fromMillis(now)}
		if data != "{}" {
			e.Data = json.RawMessage(data)
		}
		_, err = tx.exec(ctx, `INSERT INTO conversation_events (`+eventColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.OrgID, e.ConversationID, e.Seq, e.Kind, e.Role, e.Text, clientID, e.TurnID, data, now)
		if err != nil {
			return nil, fmt.Errorf("store: unable to store event: %w", err)
		}
		if ne.Audit != nil {
			if err := t.recordEventAudit(ctx, tx, conversationID, *ne.Audit); err != nil {
				return nil, err
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// EventsAfter lists up to limit events of a conversation with seq > afterSeq,
// oldest first.
func (t *Tenant) EventsAfter(ctx context.Context, conversationID string, afterSeq int64, limit int) ([]Event, error) {
	if !porthole.ValidID(conversationID) {
		return nil, notFound("conversation")
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	return t.listEvents(ctx, `SELECT `+eventColumns+` FROM conversation_events
		WHERE org_id = ? AND conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?`, t.orgID, conversationID, afterSeq, limit)
}

// listEvents runs a query of eventColumns in a read transaction.
func (t *Tenant) listEvents(ctx context.Context, query string, args ...any) ([]Event, error) {
	var list []Event
	err := t.read(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("store: unable to list events: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return fmt.Errorf("store: unable to list events: %w", err)
			}
			list = append(list, e)
		}
		return rows.Err()
	})
	return list, err
}

// Message is a conversation message as a turn's history holds it: who
// spoke and what they said.
type Message struct {
	Role string
	Text string
}

// RecentMessages lists up to limit of a conversation's newest messages
// (visitor, assistant, agent and system; no turn ends, forms or notes),
// oldest first, in one read. It is a turn's history: only the role and the
// text are read, since a turn sends nothing else to a model, and the full
// events were the largest allocation of a turn.
func (t *Tenant) RecentMessages(ctx context.Context, conversationID string, limit int) ([]Message, error) {
	if !porthole.ValidID(conversationID) {
		return nil, notFound("conversation")
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	list := make([]Message, 0, min(limit, 64))
	err := t.read(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT role, text FROM conversation_events
			WHERE org_id = ? AND conversation_id = ? AND kind = ? ORDER BY seq DESC LIMIT ?`, t.orgID, conversationID, EventMessage, limit)
		if err != nil {
			return fmt.Errorf("store: unable to list messages: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var m Message
			if err := rows.Scan(&m.Role, &m.Text); err != nil {
				return fmt.Errorf("store: unable to list messages: %w", err)
			}
			list = append(list, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(list)
	return list, nil
}

// LastEvent returns the newest event of the given kind in a conversation, or
// ENOTFOUND when there is none.
func (t *Tenant) LastEvent(ctx context.Context, conversationID, kind string) (Event, error) {
	if !porthole.ValidID(conversationID) {
		return Event{}, notFound("conversation")
	}
	var e Event
	err := t.read(ctx, func(tx *Tx) error {
		var err error
		e, err = scanEvent(tx.queryRow(ctx, `SELECT `+eventColumns+` FROM conversation_events
			WHERE org_id = ? AND conversation_id = ? AND kind = ? ORDER BY seq DESC LIMIT 1`, t.orgID, conversationID, kind))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("event")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read event: %w", err)
		}
		return nil
	})
	return e, err
}
