package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Visitor is a person chatting through the widget: anonymous, keyed by the
// (organization, session) pair, until a verified identity sets ExternalID or
// a contact form sets Name and Email.
type Visitor struct {
	ID         string    `json:"id"`
	OrgID      string    `json:"organization_id"`
	SessionID  string    `json:"session_id"`
	ExternalID string    `json:"external_id,omitempty"`
	Name       string    `json:"name,omitempty"`
	Email      string    `json:"email,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

const visitorColumns = `id, org_id, session_id, external_id, name, email, created_at, updated_at`

func scanVisitor(row interface{ Scan(...any) error }) (Visitor, error) {
	var v Visitor
	var created, updated int64
	err := row.Scan(&v.ID, &v.OrgID, &v.SessionID, &v.ExternalID, &v.Name, &v.Email, &created, &updated)
	v.CreatedAt, v.UpdatedAt = fromMillis(created), fromMillis(updated)
	return v, err
}

// EnsureVisitor returns the visitor of the session, creating it on first
// sight. sessionID must be a canonical lower-case UUID.
func (t *Tenant) EnsureVisitor(ctx context.Context, sessionID string) (Visitor, error) {
	if !porthole.ValidID(sessionID) {
		return Visitor{}, porthole.Errorf(porthole.EINVALID, "session must be a lower-case UUID")
	}
	var v Visitor
	err := t.tx(ctx, func(tx *Tx) error {
		now := millis(t.db.now())
		_, err := tx.exec(ctx, `INSERT INTO visitors (id, org_id, session_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (org_id, session_id) DO NOTHING`, porthole.NewID(), t.orgID, sessionID, now, now)
		if isForeignKeyViolation(err) {
			return notFound("organization")
		}
		if err != nil {
			return fmt.Errorf("store: unable to create visitor: %w", err)
		}
		v, err = scanVisitor(tx.queryRow(ctx, `SELECT `+visitorColumns+` FROM visitors WHERE org_id = ? AND session_id = ?`, t.orgID, sessionID))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("visitor")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read visitor: %w", err)
		}
		return nil
	})
	return v, err
}

// Visitor returns one visitor of the bound organization.
func (t *Tenant) Visitor(ctx context.Context, id string) (Visitor, error) {
	if !porthole.ValidID(id) {
		return Visitor{}, notFound("visitor")
	}
	var v Visitor
	err := t.tx(ctx, func(tx *Tx) error {
		var err error
		v, err = scanVisitor(tx.queryRow(ctx, `SELECT `+visitorColumns+` FROM visitors WHERE org_id = ? AND id = ?`, t.orgID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("visitor")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read visitor: %w", err)
		}
		return nil
	})
	return v, err
}

// UpdateVisitor sets the fields of a visitor that are not empty in the
// arguments and keeps the others. Callers pass externalID only from a
// verified identity.
func (t *Tenant) UpdateVisitor(ctx context.Context, id, externalID, name, email string) (Visitor, error) {
	if !porthole.ValidID(id) {
		return Visitor{}, notFound("visitor")
	}
	if len(externalID) > 255 || len(name) > 200 || len(email) > 320 {
		return Visitor{}, porthole.Errorf(porthole.ETOOLARGE, "visitor identity fields are too long")
	}
	var v Visitor
	err := t.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE visitors SET
				external_id = CASE WHEN ? = '' THEN external_id ELSE ? END,
				name = CASE WHEN ? = '' THEN name ELSE ? END,
				email = CASE WHEN ? = '' THEN email ELSE ? END,
				updated_at = ?
			WHERE org_id = ? AND id = ?`,
			externalID, externalID, name, name, email, email, millis(t.db.now()), t.orgID, id)
		if err != nil {
			return fmt.Errorf("store: unable to update visitor: %w", err)
		}
		if err := expectOne(res, "visitor"); err != nil {
			return err
		}
		v, err = scanVisitor(tx.queryRow(ctx, `SELECT `+visitorColumns+` FROM visitors WHERE org_id = ? AND id = ?`, t.orgID, id))
		if err != nil {
			return fmt.Errorf("store: unable to read visitor: %w", err)
		}
		return nil
	})
	return v, err
}
