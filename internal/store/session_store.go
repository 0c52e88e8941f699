package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Session is a signed-in browser or client of one user. Only the SHA-256 of
// the secret cookie value is stored (TokenHash); ID is a separate public id
// used to list and revoke sessions, never a credential.
type Session struct {
	ID         string     `json:"id"`
	TokenHash  []byte     `json:"-"`
	UserID     string     `json:"user_id"`
	OrgID      string     `json:"organization_id,omitempty"` // the organization the session acts in
	UserAgent  string     `json:"user_agent"`
	IP         string     `json:"ip"`
	CreatedAt  time.Time  `json:"created_at"`
	LastSeenAt time.Time  `json:"last_seen_at"`
	ExpiresAt  time.Time  `json:"expires_at"` // absolute end of life
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// maxUserAgentLength caps the stored user agent; longer ones are cut.
const maxUserAgentLength = 300

// CreateSession stores a new session. s.ID is filled in when empty; the
// caller sets the times from its own clock.
func (db *DB) CreateSession(ctx context.Context, s Session) (Session, error) {
	if s.ID == "" {
		s.ID = porthole.NewID()
	}
	if !porthole.ValidID(s.UserID) {
		return Session{}, notFound("user")
	}
	if len(s.UserAgent) > maxUserAgentLength {
		s.UserAgent = s.UserAgent[:maxUserAgentLength]
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMillis(millis(s.CreatedAt)), fromMillis(millis(s.LastSeenAt)), fromMillis(millis(s.ExpiresAt))
	var org any
	if s.OrgID != "" {
		org = s.OrgID
	}
	err := db.globalTx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO sessions (id, token_hash, user_id, current_org_id, user_agent, ip, created_at, last_seen_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.TokenHash, s.UserID, org, s.UserAgent, s.IP, millis(s.CreatedAt), millis(s.LastSeenAt), millis(s.ExpiresAt))
		switch {
		case isForeignKeyViolation(err):
			return notFound("user")
		case err != nil:
			return fmt.Errorf("store: unable to create session: %w", err)
		}
		return nil
	})
	return s, err
}

const sessionColumns = `id, token_hash, user_id, current_org_id, user_agent, ip, created_at, last_seen_at, expires_at, revoked_at`

func scanSession(row interface{ Scan(...any) error }) (Session, error) {
	var s Session
	var org sql.NullString
	var created, seen, expires int64
	var revoked sql.NullInt64
	if err := row.Scan(&s.ID, &s.TokenHash, &s.UserID, &org, &s.UserAgent, &s.IP, &created, &seen, &expires, &revoked); err != nil {
		return s, err
	}
	s.OrgID = org.String
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.RevokedAt = fromMillis(created), fromMillis(seen), fromMillis(expires), fromNullMillis(revoked)
	return s, nil
}

// SessionByTokenHash returns the live (not revoked) session whose cookie
// value hashes to tokenHash. Expiry is the caller's to judge, with its clock.
func (db *DB) SessionByTokenHash(ctx context.Context, tokenHash []byte) (Session, error) {
	var s Session
	err := db.globalTx(ctx, func(tx *Tx) error {
		var err error
		s, err = scanSession(tx.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = ? AND revoked_at IS NULL`, tokenHash))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("session")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read session: %w", err)
		}
		return nil
	})
	return s, err
}

// SessionByID returns one live session of a user.
func (db *DB) SessionByID(ctx context.Context, userID, id string) (Session, error) {
	var s Session
	if !porthole.ValidID(userID) || !porthole.ValidID(id) {
		return s, notFound("session")
	}
	err := db.globalTx(ctx, func(tx *Tx) error {
		var err error
		s, err = scanSession(tx.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ? AND user_id = ? AND revoked_at IS NULL`, id, userID))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("session")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read session: %w", err)
		}
		return nil
	})
	return s, err
}

// TouchSession notes activity on a session, for its idle timeout.
func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	if !porthole.ValidID(id) {
		return notFound("session")
	}
	return db.globalTx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ? AND revoked_at IS NULL AND last_seen_at < ?`, millis(at), id, millis(at))
		if err != nil {
			return fmt.Errorf("store: unable to touch session: %w", err)
		}
		return nil
	})
}

// UserSessions lists a user's sessions that are neither revoked nor past
// their absolute lifetime at now, newest first.
func (db *DB) UserSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	if !porthole.ValidID(userID) {
		return nil, notFound("user")
	}
	var list []Session
	err := db.globalTx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC, id DESC`,
			userID, millis(now))
		if err != nil {
			return fmt.Errorf("store: unable to list sessions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			s, err := scanSession(rows)
			if err != nil {
				return fmt.Errorf("store: unable to list sessions: %w", err)
			}
			list = append(list, s)
		}
		return rows.Err()
	})
	return list, err
}

// RevokeSession ends one session of a user. A session of another user, or
// one already ended, is ENOTFOUND.
func (db *DB) RevokeSession(ctx context.Context, userID, id string, at time.Time) error {
	if !porthole.ValidID(userID) || !porthole.ValidID(id) {
		return notFound("session")
	}
	return db.globalTx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL`, millis(at), id, userID)
		if err != nil {
			return fmt.Errorf("store: unable to revoke session: %w", err)
		}
		return expectOne(res, "session")
	})
}

// RevokeUserSessions ends every live session of a user except exceptID
// ("" ends them all) and returns the ids it ended.
func (db *DB) RevokeUserSessions(ctx context.Context, userID, exceptID string, at time.Time) ([]string, error) {
	if !porthole.ValidID(userID) {
		return nil, notFound("user")
	}
	var ids []string
	err := db.globalTx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND id <> ?`, userID, exceptID)
		if err != nil {
			return fmt.Errorf("store: unable to revoke sessions: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("store: unable to revoke sessions: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: unable to revoke sessions: %w", err)
		}
		if _, err := tx.exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND id <> ?`, millis(at), userID, exceptID); err != nil {
			return fmt.Errorf("store: unable to revoke sessions: %w", err)
		}
		return nil
	})
	return ids, err
}

// DeleteSessionsBefore deletes sessions whose absolute lifetime ended, or
// that were revoked, before the given time. It returns how many it deleted.
func (db *DB) DeleteSessionsBefore(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.globalTx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?`, millis(before), millis(before))
		if err != nil {
			return fmt.Errorf("store: unable to delete old sessions: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
