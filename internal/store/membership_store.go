package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// AddMember gives a user a role in the bound organization.
func (t *Tenant) AddMember(ctx context.Context, userID string, role porthole.Role) (porthole.Membership, error) {
	if !role.Valid() {
		return porthole.Membership{}, porthole.Errorf(porthole.EINVALID, "role must be owner, admin, agent or viewer")
	}
	if !porthole.ValidID(userID) {
		return porthole.Membership{}, notFound("user")
	}
	m := porthole.Membership{OrgID: t.orgID, UserID: userID, Role: role, CreatedAt: fromMillis(millis(t.db.now()))}
	err := t.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`,
			m.OrgID, m.UserID, string(m.Role), millis(m.CreatedAt))
		switch {
		case isUniqueViolation(err):
			return porthole.Errorf(porthole.ECONFLICT, "the user is a member already")
		case isForeignKeyViolation(err):
			return notFound("user")
		case err != nil:
			return fmt.Errorf("store: unable to add member: %w", err)
		}
		return t.record(ctx, tx, "member.add", "user:"+userID, map[string]string{"role": string(role)})
	})
	return m, err
}

// Member returns a user's membership in the bound organization.
func (t *Tenant) Member(ctx context.Context, userID string) (porthole.Membership, error) {
	var m porthole.Membership
	if !porthole.ValidID(userID) {
		return m, notFound("member")
	}
	err := t.tx(ctx, func(tx *Tx) error {
		var role string
		var created int64
		err := tx.queryRow(ctx, `SELECT org_id, user_id, role, created_at FROM memberships WHERE org_id = ? AND user_id = ?`, t.orgID, userID).
			Scan(&m.OrgID, &m.UserID, &role, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("member")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read member: %w", err)
		}
		m.Role, m.CreatedAt = porthole.Role(role), fromMillis(created)
		return nil
	})
	return m, err
}

// Members lists the bound organization's memberships.
func (t *Tenant) Members(ctx context.Context) ([]porthole.Membership, error) {
	var list []porthole.Membership
	err := t.tx(ctx, func(tx *Tx) error {
		var err error
		list, err = scanMemberships(tx.query(ctx, `SELECT org_id, user_id, role, created_at FROM memberships WHERE org_id = ? ORDER BY created_at, user_id`, t.orgID))
		return err
	})
	return list, err
}

// SetMemberRole changes a member's role.
func (t *Tenant) SetMemberRole(ctx context.Context, userID string, role porthole.Role) error {
	if !role.Valid() {
		return porthole.Errorf(porthole.EINVALID, "role must be owner, admin, agent or viewer")
	}
	if !porthole.ValidID(userID) {
		return notFound("member")
	}
	return t.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE memberships SET role = ? WHERE org_id = ? AND user_id = ?`, string(role), t.orgID, userID)
		if err != nil {
			return fmt.Errorf("store: unable to set role: %w", err)
		}
		if err := expectOne(res, "member"); err != nil {
			return err
		}
		return t.record(ctx, tx, "member.role", "user:"+userID, map[string]string{"role": string(role)})
	})
}

// RemoveMember ends a user's membership in the bound organization.
func (t *Tenant) RemoveMember(ctx context.Context, userID string) error {
	if !porthole.ValidID(userID) {
		return notFound("member")
	}
	return t.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `DELETE FROM memberships WHERE org_id = ? AND user_id = ?`, t.orgID, userID)
		if err != nil {
			return fmt.Errorf("store: unable to remove member: %w", err)
		}
		if err := expectOne(res, "member"); err != nil {
			return err
		}
		return t.record(ctx, tx, "member.remove", "user:"+userID, nil)
	})
}

// UserMemberships lists the organizations a user belongs to. On PostgreSQL
// the transaction is bound to the user, not to a tenant, and sees only that
// user's own membership rows.
func (db *DB) UserMemberships(ctx context.Context, userID string) ([]porthole.Membership, error) {
	if !porthole.ValidID(userID) {
		return nil, nil
	}
	var list []porthole.Membership
	err := db.inTx(ctx, scope{userID: userID}, func(tx *Tx) error {
		var err error
		list, err = scanMemberships(tx.query(ctx, `SELECT org_id, user_id, role, created_at FROM memberships WHERE user_id = ? ORDER BY created_at, org_id`, userID))
		return err
	})
	return list, err
}

func scanMemberships(rows *sql.Rows, err error) ([]porthole.Membership, error) {
	if err != nil {
		return nil, fmt.Errorf("store: unable to list memberships: %w", err)
	}
	defer rows.Close()
	var list []porthole.Membership
	for rows.Next() {
		var m porthole.Membership
		var role string
		var created int64
		if err := rows.Scan(&m.OrgID, &m.UserID, &role, &created); err != nil {
			return nil, fmt.Errorf("store: unable to list memberships: %w", err)
		}
		m.Role, m.CreatedAt = porthole.Role(role), fromMillis(created)
		list = append(list, m)
	}
	return list, rows.Err()
}
