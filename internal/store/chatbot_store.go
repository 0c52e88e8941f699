package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// CreateChatbot creates a chatbot in the bound organization.
func (t *Tenant) CreateChatbot(ctx context.Context, name string) (porthole.Chatbot, error) {
	name, err := validName("chatbot", name)
	if err != nil {
		return porthole.Chatbot{}, err
	}
	now := fromMillis(millis(t.db.now()))
	c := porthole.Chatbot{ID: porthole.NewID(), OrgID: t.orgID, Name: name, CreatedAt: now, UpdatedAt: now}
	err = t.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO chatbots (id, org_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
			c.ID, c.OrgID, c.Name, millis(now), millis(now))
		if err != nil {
			if isForeignKeyViolation(err) {
				return notFound("organization")
			}
			return fmt.Errorf("store: unable to create chatbot: %w", err)
		}
		return t.record(ctx, tx, "chatbot.create", "chatbot:"+c.ID, map[string]string{"name": c.Name})
	})
	return c, err
}

const chatbotColumns = `id, org_id, name, created_at, updated_at`

func scanChatbot(row interface{ Scan(...any) error }) (porthole.Chatbot, error) {
	var c porthole.Chatbot
	var created, updated int64
	if err := row.Scan(&c.ID, &c.OrgID, &c.Name, &created, &updated); err != nil {
		return c, err
	}
	c.CreatedAt, c.UpdatedAt = fromMillis(created), fromMillis(updated)
	return c, nil
}

// Chatbot returns one chatbot of the bound organization.
func (t *Tenant) Chatbot(ctx context.Context, id string) (porthole.Chatbot, error) {
	var c porthole.Chatbot
	if !porthole.ValidID(id) {
		return c, notFound("chatbot")
	}
	err := t.read(ctx, func(tx *Tx) error {
		var err error
		c, err = scanChatbot(tx.queryRow(ctx, `SELECT `+chatbotColumns+` FROM chatbots WHERE org_id = ? AND id = ?`, t.orgID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("chatbot")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read chatbot: %w", err)
		}
		return nil
	})
	return c, err
}

// Chatbots lists the bound organization's chatbots, oldest first.
func (t *Tenant) Chatbots(ctx context.Context) ([]porthole.Chatbot, error) {
	var list []porthole.Chatbot
	err := t.read(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT `+chatbotColumns+` FROM chatbots WHERE org_id = ? ORDER BY id`, t.orgID)
		if err != nil {
			return fmt.Errorf("store: unable to list chatbots: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanChatbot(rows)
			if err != nil {
				return fmt.Errorf("store: unable to list chatbots: %w", err)
			}
			list = append(list, c)
		}
		return rows.Err()
	})
	return list, err
}

// RenameChatbot changes a chatbot's name.
func (t *Tenant) RenameChatbot(ctx context.Context, id, name string) (porthole.Chatbot, error) {
	name, err := validName("chatbot", name)
	if err != nil {
		return porthole.Chatbot{}, err
	}
	if !porthole.ValidID(id) {
		return porthole.Chatbot{}, notFound("chatbot")
	}
	var c porthole.Chatbot
	err = t.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE chatbots SET name = ?, updated_at = ? WHERE org_id = ? AND id = ?`,
			name, millis(t.db.now()), t.orgID, id)
		if err != nil {
			return fmt.Errorf("store: unable to rename chatbot: %w", err)
		}
		if err := expectOne(res, "chatbot"); err != nil {
			return err
		}
		if err := t.record(ctx, tx, "chatbot.rename", "chatbot:"+id, map[string]string{"name": name}); err != nil {
			return err
		}
		c, err = scanChatbot(tx.queryRow(ctx, `SELECT `+chatbotColumns+` FROM chatbots WHERE org_id = ? AND id = ?`, t.orgID, id))
		return err
	})
	return c, err
}

// DeleteChatbot deletes a chatbot of the bound organization.
func (t *Tenant) DeleteChatbot(ctx context.Context, id string) error {
	if !porthole.ValidID(id) {
		return notFound("chatbot")
	}
	return t.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `DELETE FROM chatbots WHERE org_id = ? AND id = ?`, t.orgID, id)
		if err != nil {
			return fmt.Errorf("store: unable to delete chatbot: %w", err)
		}
		if err := expectOne(res, "chatbot"); err != nil {
			return err
		}
		return t.record(ctx, tx, "chatbot.delete", "chatbot:"+id, nil)
	})
}
