package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// SigningKey is one server-wide RS256 key of access tokens. PrivateSealed is
// the PKCS#8 private key sealed by the auth package (the store never sees it
// in clear). A key signs from NotBefore until RetireAt and verifies until
// ExpiresAt; nil means "not yet decided".
type SigningKey struct {
	KID           string
	PublicDER     []byte // PKIX
	PrivateSealed []byte
	CreatedAt     time.Time
	NotBefore     time.Time
	RetireAt      *time.Time
	ExpiresAt     *time.Time
}

// CreateSigningKey stores a new signing key.
func (db *DB) CreateSigningKey(ctx context.Context, k SigningKey) error {
	return db.globalTx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO signing_keys (kid, public_der, private_sealed, created_at, not_before, retire_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			k.KID, k.PublicDER, k.PrivateSealed, millis(k.CreatedAt), millis(k.NotBefore), nullMillis(k.RetireAt), nullMillis(k.ExpiresAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("store: unable to create signing key: kid %q exists", k.KID)
		}
		if err != nil {
			return fmt.Errorf("store: unable to create signing key: %w", err)
		}
		return nil
	})
}

func nullMillis(t *time.Time) any {
	if t == nil {
		return nil
	}
	return millis(*t)
}

// SigningKeys lists the keys still usable for verification at now, newest
// first.
func (db *DB) SigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error) {
	var list []SigningKey
	err := db.globalTx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT kid, public_der, private_sealed, created_at, not_before, retire_at, expires_at FROM signing_keys
			WHERE expires_at IS NULL OR expires_at > ? ORDER BY not_before DESC, created_at DESC, kid`, millis(now))
		if err != nil {
			return fmt.Errorf("store: unable to list signing keys: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k SigningKey
			var created, notBefore int64
			var retire, expires sql.NullInt64
			if err := rows.Scan(&k.KID, &k.PublicDER, &k.PrivateSealed, &created, &notBefore, &retire, &expires); err != nil {
				return fmt.Errorf("store: unable to list signing keys: %w", err)
			}
			k.CreatedAt, k.NotBefore, k.RetireAt, k.ExpiresAt = fromMillis(created), fromMillis(notBefore), fromNullMillis(retire), fromNullMillis(expires)
			list = append(list, k)
		}
		return rows.Err()
	})
	return list, err
}

// RetireSigningKeys sets the retirement and expiry of every key not yet
// retired except keepKID: they stop signing at retireAt and stop verifying
// at expiresAt.
func (db *DB) RetireSigningKeys(ctx context.Context, keepKID string, retireAt, expiresAt time.Time) error {
	return db.globalTx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE signing_keys SET retire_at = ?, expires_at = ? WHERE retire_at IS NULL AND kid <> ?`,
			millis(retireAt), millis(expiresAt), keepKID)
		if err != nil {
			return fmt.Errorf("store: unable to retire signing keys: %w", err)
		}
		return nil
	})
}
