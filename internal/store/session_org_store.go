package store

import (
	"context"
	"fmt"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// SetSessionOrganization points a live session of a user at another of the
// user's organizations (the dashboard's organization switcher). The check
// that the user is a member and the update are one statement in a
// transaction scoped to the user, so on PostgreSQL row-level security
// shows it only the user's own memberships. A session of another user, an
// ended one, or an organization the user does not belong to is ENOTFOUND.
func (db *DB) SetSessionOrganization(ctx context.Context, userID, sessionID, orgID string) error {
	if !porthole.ValidID(userID) || !porthole.ValidID(sessionID) {
		return notFound("session")
	}
	if !porthole.ValidID(orgID) {
		return notFound("organization")
	}
	return db.inTx(ctx, scope{userID: userID}, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE sessions SET current_org_id = ?
			WHERE id = ? AND user_id = ? AND revoked_at IS NULL
			AND EXISTS (SELECT 1 FROM memberships WHERE org_id = ? AND user_id = ?)`,
			orgID, sessionID, userID, orgID, userID)
		if err != nil {
			return fmt.Errorf("store: unable to switch the session's organization: %w", err)
		}
		return expectOne(res, "session or membership")
	})
}
