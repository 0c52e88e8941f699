package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// NormalizeEmail trims and lower-cases an email address and checks its
// shape. Users are found by the normalized form.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 254 {
		return "", porthole.Errorf(porthole.EINVALID, "email must be at most 254 characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") && !strings.HasSuffix(s, "@localhost") {
		return "", porthole.Errorf(porthole.EINVALID, "email is not a valid address")
	}
	return s, nil
}

// CreateUser creates a user with an already hashed password. An email in use
// is ECONFLICT.
func (db *DB) CreateUser(ctx context.Context, email, name, passwordHash string) (porthole.User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return porthole.User{}, err
	}
	if len(name) > MaxNameLength {
		return porthole.User{}, porthole.Errorf(porthole.EINVALID, "name must be at most %d bytes", MaxNameLength)
	}
	now := fromMillis(millis(db.now()))
	u := porthole.User{ID: porthole.NewID(), Email: email, Name: strings.TrimSpace(name), CreatedAt: now}
	err = db.globalTx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			u.ID, u.Email, u.Name, passwordHash, millis(now), millis(now))
		if isUniqueViolation(err) {
			return porthole.Errorf(porthole.ECONFLICT, "a user with this email exists already")
		}
		if err != nil {
			return fmt.Errorf("store: unable to create user: %w", err)
		}
		return nil
	})
	return u, err
}

// UserByEmail returns a user and their password hash by email.
func (db *DB) UserByEmail(ctx context.Context, email string) (porthole.User, string, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return porthole.User{}, "", notFound("user")
	}
	return db.userWhere(ctx, `email = ?`, email)
}

// UserByID returns a user and their password hash by id.
func (db *DB) UserByID(ctx context.Context, id string) (porthole.User, string, error) {
	if !porthole.ValidID(id) {
		return porthole.User{}, "", notFound("user")
	}
	return db.userWhere(ctx, `id = ?`, id)
}

func (db *DB) userWhere(ctx context.Context, where string, arg any) (porthole.User, string, error) {
	var u porthole.User
	var hash string
	err := db.globalTx(ctx, func(tx *Tx) error {
		var created int64
		err := tx.queryRow(ctx, `SELECT id, email, name, password_hash, created_at FROM users WHERE `+where, arg).
			Scan(&u.ID, &u.Email, &u.Name, &hash, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read user: %w", err)
		}
		u.CreatedAt = fromMillis(created)
		return nil
	})
	return u, hash, err
}

// SetPasswordHash replaces a user's password hash.
func (db *DB) SetPasswordHash(ctx context.Context, userID, passwordHash string) error {
	if !porthole.ValidID(userID) {
		return notFound("user")
	}
	return db.globalTx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, passwordHash, millis(db.now()), userID)
		if err != nil {
			return fmt.Errorf("store: unable to set password: %w", err)
		}
		return expectOne(res, "user")
	})
}
