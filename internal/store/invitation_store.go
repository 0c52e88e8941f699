package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Invitation asks someone, by email, to join the bound organization with a
// role. The link's token is stored only as its hash.
type Invitation struct {
	ID         string        `json:"id"`
	OrgID      string        `json:"organization_id"`
	Email      string        `json:"email"`
	Role       porthole.Role `json:"role"`
	InvitedBy  string        `json:"invited_by"`
	CreatedAt  time.Time     `json:"created_at"`
	ExpiresAt  time.Time     `json:"expires_at"`
	AcceptedAt *time.Time    `json:"accepted_at,omitempty"`
}

// CreateInvitation stores an invitation of the bound organization; inv.ID,
// inv.OrgID and the normalized email are filled in.
func (t *Tenant) CreateInvitation(ctx context.Context, inv Invitation, tokenHash []byte) (Invitation, error) {
	email, err := NormalizeEmail(inv.Email)
	if err != nil {
		return Invitation{}, err
	}
	if !inv.Role.Valid() {
		return Invitation{}, porthole.Errorf(porthole.EINVALID, "role must be owner, admin, agent or viewer")
	}
	inv.ID, inv.OrgID, inv.Email = porthole.NewID(), t.orgID, email
	inv.CreatedAt, inv.ExpiresAt = fromMillis(millis(inv.CreatedAt)), fromMillis(millis(inv.ExpiresAt))
	err = t.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO invitations (id, org_id, email, role, token_hash, invited_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			inv.ID, inv.OrgID, inv.Email, string(inv.Role), tokenHash, inv.InvitedBy, millis(inv.CreatedAt), millis(inv.ExpiresAt))
		switch {
		case isForeignKeyViolation(err):
			return notFound("organization")
		case err != nil:
			return fmt.Errorf("store: unable to create invitation: %w", err)
		}
		return nil
	})
	return inv, err
}

const invitationColumns = `id, org_id, email, role, invited_by, created_at, expires_at, accepted_at`

func scanInvitation(row interface{ Scan(...any) error }) (Invitation, error) {
	var inv Invitation
	var role string
	var created, expires int64
	var accepted sql.NullInt64
	if err := row.Scan(&inv.ID, &inv.OrgID, &inv.Email, &role, &inv.InvitedBy, &created, &expires, &accepted); err != nil {
		return inv, err
	}
	inv.Role, inv.CreatedAt, inv.ExpiresAt, inv.AcceptedAt = porthole.Role(role), fromMillis(created), fromMillis(expires), fromNullMillis(accepted)
	return inv, nil
}

// PendingInvitation returns the invitation of the bound organization whose
// token hashes to tokenHash, when it is neither accepted, revoked nor
// expired at now; anything else is ENOTFOUND.
func (t *Tenant) PendingInvitation(ctx context.Context, tokenHash []byte, now time.Time) (Invitation, error) {
	var inv Invitation
	err := t.tx(ctx, func(tx *Tx) error {
		var err error
		inv, err = scanInvitation(tx.queryRow(ctx, `SELECT `+invitationColumns+` FROM invitations
			WHERE org_id = ? AND token_hash = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?`, t.orgID, tokenHash, millis(now)))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("invitation")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read invitation: %w", err)
		}
		return nil
	})
	return inv, err
}

// Invitations lists the bound organization's pending invitations at now.
func (t *Tenant) Invitations(ctx context.Context, now time.Time) ([]Invitation, error) {
	var list []Invitation
	err := t.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT `+invitationColumns+` FROM invitations
			WHERE org_id = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at, id`, t.orgID, millis(now))
		if err != nil {
			return fmt.Errorf("store: unable to list invitations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			inv, err := scanInvitation(rows)
			if err != nil {
				return fmt.Errorf("store: unable to list invitations: %w", err)
			}
			list = append(list, inv)
		}
		return rows.Err()
	})
	return list, err
}

// AcceptInvitation uses a pending invitation once and makes userID a member
// with the invitation's role, in one transaction. A used, revoked or expired
// invitation is ENOTFOUND; a user who is a member already is ECONFLICT.
func (t *Tenant) AcceptInvitation(ctx context.Context, id, userID string, now time.Time) (porthole.Membership, error) {
	var m porthole.Membership
	if !porthole.ValidID(id) || !porthole.ValidID(userID) {
		return m, notFound("invitation")
	}
	err := t.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE invitations SET accepted_at = ? WHERE org_id = ? AND id = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
			millis(now), t.orgID, id, millis(now))
		if err != nil {
			return fmt.Errorf("store: unable to accept invitation: %w", err)
		}
		if err := expectOne(res, "invitation"); err != nil {
			return err
		}
		var role string
		if err := tx.queryRow(ctx, `SELECT role FROM invitations WHERE org_id = ? AND id = ?`, t.orgID, id).Scan(&role); err != nil {
			return fmt.Errorf("store: unable to accept invitation: %w", err)
		}
		m = porthole.Membership{OrgID: t.orgID, UserID: userID, Role: porthole.Role(role), CreatedAt: fromMillis(millis(now))}
		_, err = tx.exec(ctx, `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`, m.OrgID, m.UserID, role, millis(now))
		switch {
		case isUniqueViolation(err):
			return porthole.Errorf(porthole.ECONFLICT, "the user is a member already")
		case isForeignKeyViolation(err):
			return notFound("user")
		case err != nil:
			return fmt.Errorf("store: unable to accept invitation: %w", err)
		}
		return nil
	})
	return m, err
}

// RevokeInvitation withdraws a pending invitation of the bound organization.
func (t *Tenant) RevokeInvitation(ctx context.Context, id string, now time.Time) error {
	if !porthole.ValidID(id) {
		return notFound("invitation")
	}
	return t.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE invitations SET revoked_at = ? WHERE org_id = ? AND id = ? AND accepted_at IS NULL AND revoked_at IS NULL`, millis(now), t.orgID, id)
		if err != nil {
			return fmt.Errorf("store: unable to revoke invitation: %w", err)
		}
		return expectOne(res, "invitation")
	})
}
