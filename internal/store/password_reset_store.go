package store

import (
	"context"
	"fmt"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// PasswordReset is an outstanding password reset. Only the hash of the
// token is stored, so the row can be used once and never replayed from a
// database copy.
type PasswordReset struct {
	ID        string
	UserID    string
	TokenHash []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreatePasswordReset stores a reset token's hash.
func (db *DB) CreatePasswordReset(ctx context.Context, pr PasswordReset) error {
	if !porthole.ValidID(pr.ID) || !porthole.ValidID(pr.UserID) {
		return porthole.Errorf(porthole.EINVALID, "password reset needs valid ids")
	}
	return db.globalTx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO password_resets (id, user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			pr.ID, pr.UserID, pr.TokenHash, millis(pr.CreatedAt), millis(pr.ExpiresAt))
		switch {
		case isForeignKeyViolation(err):
			return notFound("user")
		case err != nil:
			return fmt.Errorf("store: unable to create password reset: %w", err)
		}
		return nil
	})
}

// ConsumePasswordReset uses a reset token once: it returns the user id when
// a row with this id and hash is unused and unexpired at now, and marks it
// and every other outstanding reset of the user used. Anything else
// (unknown, used, expired) is ENOTFOUND.
func (db *DB) ConsumePasswordReset(ctx context.Context, id string, tokenHash []byte, now time.Time) (string, error) {
	if !porthole.ValidID(id) {
		return "", notFound("password reset")
	}
	var userID string
	err := db.globalTx(ctx, func(tx *Tx) error {
		// The UPDATE decides single use: of two concurrent attempts only one
		// changes the row.
		res, err := tx.exec(ctx, `UPDATE password_resets SET used_at = ? WHERE id = ? AND token_hash = ? AND used_at IS NULL AND expires_at > ?`,
			millis(now), id, tokenHash, millis(now))
		if err != nil {
			return fmt.Errorf("store: unable to use password reset: %w", err)
		}
		if err := expectOne(res, "password reset"); err != nil {
			return err
		}
		if err := tx.queryRow(ctx, `SELECT user_id FROM password_resets WHERE id = ?`, id).Scan(&userID); err != nil {
			return fmt.Errorf("store: unable to use password reset: %w", err)
		}
		if _, err := tx.exec(ctx, `UPDATE password_resets SET used_at = ? WHERE user_id = ? AND used_at IS NULL`, millis(now), userID); err != nil {
			return fmt.Errorf("store: unable to use password reset: %w", err)
		}
		return nil
	})
	return userID, err
}

// DeletePasswordResetsBefore forgets resets that expired before the given time.
func (db *DB) DeletePasswordResetsBefore(ctx context.Context, before time.Time) error {
	return db.globalTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `DELETE FROM password_resets WHERE expires_at < ?`, millis(before)); err != nil {
			return fmt.Errorf("store: unable to purge password resets: %w", err)
		}
		return nil
	})
}
