package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Conversation is the one conversation of a visitor with a chatbot. LastSeq
// is the sequence number of its newest stored event.
type Conversation struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"organization_id"`
	ChatbotID string    `json:"chatbot_id"`
	VisitorID string    `json:"visitor_id"`
	LastSeq   int64     `json:"last_seq"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const conversationColumns = `id, org_id, chatbot_id, visitor_id, last_seq, created_at, updated_at`

func scanConversation(row interface{ Scan(...any) error }) (Conversation, error) {
	var c Conversation
	var created, updated int64
	err := row.Scan(&c.ID, &c.OrgID, &c.ChatbotID, &c.VisitorID, &c.LastSeq, &created, &updated)
	c.CreatedAt, c.UpdatedAt = fromMillis(created), fromMillis(updated)
	return c, err
}

// EnsureConversation returns the conversation of a visitor with a chatbot,
// creating it on first use. An unknown visitor or chatbot is ENOTFOUND.
func (t *Tenant) EnsureConversation(ctx context.Context, visitorID, chatbotID string) (Conversation, error) {
	if !porthole.ValidID(visitorID) {
		return Conversation{}, notFound("visitor")
	}
	if !porthole.ValidID(chatbotID) {
		return Conversation{}, notFound("chatbot")
	}
	var c Conversation
	err := t.tx(ctx, func(tx *Tx) error {
		// The foreign keys alone would let a row name another tenant's
		// chatbot or visitor on SQLite; check both belong to this tenant.
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM chatbots WHERE org_id = ? AND id = ?`, t.orgID, chatbotID).Scan(&n); err != nil {
			return fmt.Errorf("store: unable to read chatbot: %w", err)
		}
		if n == 0 {
			return notFound("chatbot")
		}
		if err := tx.queryRow(ctx, `SELECT count(*) FROM visitors WHERE org_id = ? AND id = ?`, t.orgID, visitorID).Scan(&n); err != nil {
			return fmt.Errorf("store: unable to read visitor: %w", err)
		}
		if n == 0 {
			return notFound("visitor")
		}
		now := millis(t.db.now())
		_, err := tx.exec(ctx, `INSERT INTO conversations (id, org_id, chatbot_id, visitor_id, last_seq, created_at, updated_at)
			VALUES (?, ?, ?, ?, 0, ?, ?) ON CONFLICT (org_id, visitor_id, chatbot_id) DO NOTHING`,
			porthole.NewID(), t.orgID, chatbotID, visitorID, now, now)
		if err != nil {
			return fmt.Errorf("store: unable to create conversation: %w", err)
		}
		c, err = scanConversation(tx.queryRow(ctx, `SELECT `+conversationColumns+` FROM conversations
			WHERE org_id = ? AND visitor_id = ? AND chatbot_id = ?`, t.orgID, visitorID, chatbotID))
		if err != nil {
			return fmt.Errorf("store: unable to read conversation: %w", err)
		}
		return nil
	})
	return c, err
}

// Conversation returns one conversation of the bound organization.
func (t *Tenant) Conversation(ctx context.Context, id string) (Conversation, error) {
	if !porthole.ValidID(id) {
		return Conversation{}, notFound("conversation")
	}
	var c Conversation
	err := t.read(ctx, func(tx *Tx) error {
		var err error
		c, err = scanConversation(tx.queryRow(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE org_id = ? AND id = ?`, t.orgID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("conversation")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read conversation: %w", err)
		}
		return nil
	})
	return c, err
}
