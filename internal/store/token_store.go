package store

import (
	"context"
	"fmt"
	"time"
)

// RevokeToken records that access tokens naming value as their session id
// (kind "sid") or token id (kind "jti") are no longer valid. The record is
// kept until `until`, after which no such token can be valid anyway.
func (db *DB) RevokeToken(ctx context.Context, kind, value string, until time.Time) error {
	if kind != "sid" && kind != "jti" {
		return fmt.Errorf("store: unable to revoke token: unknown kind %q", kind)
	}
	return db.globalTx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO revoked_tokens (kind, value, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (kind, value) DO UPDATE SET expires_at = excluded.expires_at`, kind, value, millis(until))
		if err != nil {
			return fmt.Errorf("store: unable to revoke token: %w", err)
		}
		return nil
	})
}

// TokenRevoked reports whether an access token with session id sid or token
// id jti has been revoked.
func (db *DB) TokenRevoked(ctx context.Context, sid, jti string) (bool, error) {
	var n int
	err := db.globalTx(ctx, func(tx *Tx) error {
		err := tx.queryRow(ctx, `SELECT count(*) FROM revoked_tokens WHERE (kind = 'sid' AND value = ?) OR (kind = 'jti' AND value = ?)`, sid, jti).Scan(&n)
		if err != nil {
			return fmt.Errorf("store: unable to check token revocation: %w", err)
		}
		return nil
	})
	return n > 0, err
}

// DeleteRevokedTokensBefore forgets revocations that expired before the
// given time.
func (db *DB) DeleteRevokedTokensBefore(ctx context.Context, before time.Time) error {
	return db.globalTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `DELETE FROM revoked_tokens WHERE expires_at < ?`, millis(before)); err != nil {
			return fmt.Errorf("store: unable to purge token revocations: %w", err)
		}
		return nil
	})
}

// LockLogin locks sign-in for a subject (the SHA-256 of "email:..." or
// "ip:...") until the given time. An existing later lock is kept.
func (db *DB) LockLogin(ctx context.Context, subjectHash []byte, until time.Time) error {
	return db.globalTx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO login_lockouts (subject_hash, locked_until) VALUES (?, ?)
			ON CONFLICT (subject_hash) DO UPDATE SET locked_until = excluded.locked_until
			WHERE login_lockouts.locked_until < excluded.locked_until`, subjectHash, millis(until))
		if err != nil {
			return fmt.Errorf("store: unable to lock sign-in: %w", err)
		}
		return nil
	})
}

// LoginLockedUntil returns the latest lock among the subjects that is still
// in force at now, or the zero time when none is.
func (db *DB) LoginLockedUntil(ctx context.Context, now time.Time, subjectHashes ...[]byte) (time.Time, error) {
	var latest int64
	err := db.globalTx(ctx, func(tx *Tx) error {
		for _, h := range subjectHashes {
			var until int64
			err := tx.queryRow(ctx, `SELECT COALESCE(MAX(locked_until), 0) FROM login_lockouts WHERE subject_hash = ? AND locked_until > ?`, h, millis(now)).Scan(&until)
			if err != nil {
				return fmt.Errorf("store: unable to read sign-in locks: %w", err)
			}
			latest = max(latest, until)
		}
		return nil
	})
	if err != nil || latest == 0 {
		return time.Time{}, err
	}
	return fromMillis(latest), nil
}

// DeleteLoginLocksBefore forgets locks that ended before the given time.
func (db *DB) DeleteLoginLocksBefore(ctx context.Context, before time.Time) error {
	return db.globalTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `DELETE FROM login_lockouts WHERE locked_until < ?`, millis(before)); err != nil {
			return fmt.Errorf("store: unable to purge sign-in locks: %w", err)
		}
		return nil
	})
}
