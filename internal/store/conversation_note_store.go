package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// Note is an agent's internal note on a conversation. Notes are not
// conversation events: nothing that serves the widget reads this table.
type Note struct {
	ID             string    `json:"id"`
	ConversationID string    `json:"conversation_id"`
	AuthorID       string    `json:"author_id"`
	Text           string    `json:"text"`
	CreatedAt      time.Time `json:"created_at"`
}

// MaxNoteRunes caps a note, in characters.
const MaxNoteRunes = 8000

// AddNote stores a note on a conversation of the bound organization and
// records e (its ConversationID set) in the same transaction.
func (t *Tenant) AddNote(ctx context.Context, conversationID, authorID, text string, e audit.Entry) (Note, error) {
	if !porthole.ValidID(conversationID) {
		return Note{}, notFound("conversation")
	}
	text = strings.TrimSpace(text)
	if text == "" || !utf8.ValidString(text) {
		return Note{}, porthole.Errorf(porthole.EINVALID, "text must be non-empty UTF-8")
	}
	if utf8.RuneCountInString(text) > MaxNoteRunes {
		return Note{}, porthole.Errorf(porthole.ETOOLARGE, "a note is at most %d characters", MaxNoteRunes)
	}
	n := Note{ID: porthole.NewID(), ConversationID: conversationID, AuthorID: authorID, Text: text}
	err := t.tx(ctx, func(tx *Tx) error {
		if err := t.conversationExists(ctx, tx, conversationID); err != nil {
			return err
		}
		now := t.db.now()
		n.CreatedAt = fromMillis(millis(now))
		if _, err := tx.exec(ctx, `INSERT INTO conversation_notes (id, org_id, conversation_id, author_id, text, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, n.ID, t.orgID, conversationID, authorID, text, millis(now)); err != nil {
			return fmt.Errorf("store: unable to store note: %w", err)
		}
		return t.recordEventAudit(ctx, tx, conversationID, e)
	})
	if err != nil {
		return Note{}, err
	}
	return n, nil
}

// Notes lists a conversation's notes, oldest first (at most 1000).
func (t *Tenant) Notes(ctx context.Context, conversationID string) ([]Note, error) {
	if !porthole.ValidID(conversationID) {
		return nil, notFound("conversation")
	}
	var list []Note
	err := t.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT id, conversation_id, author_id, text, created_at FROM conversation_notes
			WHERE org_id = ? AND conversation_id = ? ORDER BY created_at, id LIMIT 1000`, t.orgID, conversationID)
		if err != nil {
			return fmt.Errorf("store: unable to list notes: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var n Note
			var created int64
			if err := rows.Scan(&n.ID, &n.ConversationID, &n.AuthorID, &n.Text, &created); err != nil {
				return fmt.Errorf("store: unable to list notes: %w", err)
			}
			n.CreatedAt = fromMillis(created)
			list = append(list, n)
		}
		return rows.Err()
	})
	return list, err
}

// RenewLease extends an agent's lease on a conversation it still holds,
// without changing hands (the version stays). A lease that lapsed or moved
// is ECONFLICT.
func (t *Tenant) RenewLease(ctx context.Context, conversationID, holder string, until time.Time) error {
	if !porthole.ValidID(conversationID) {
		return notFound("conversation")
	}
	return t.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE conversations SET lease_expires_at = ?
			WHERE org_id = ? AND id = ? AND state = 'agent' AND holder = ? AND lease_expires_at > ?`,
			millis(until), t.orgID, conversationID, holder, millis(t.db.now()))
		if err != nil {
			return fmt.Errorf("store: unable to renew lease: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return fmt.Errorf("store: unable to renew lease: %w", err)
			}
			return porthole.Errorf(porthole.ECONFLICT, "you no longer hold this conversation")
		}
		return nil
	})
}
