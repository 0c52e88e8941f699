package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// CreateAPIKey stores a new key of the bound organization. Only the hash of
// the secret is stored; k.ID, k.OrgID and k.CreatedAt are filled in.
func (t *Tenant) CreateAPIKey(ctx context.Context, k porthole.APIKey, secretHash []byte) (porthole.APIKey, error) {
	name, err := validName("API key", k.Name)
	if err != nil {
		return porthole.APIKey{}, err
	}
	k.Name, k.ID, k.OrgID = name, porthole.NewID(), t.orgID
	k.CreatedAt = fromMillis(millis(t.db.now()))
	if k.Scopes == nil {
		k.Scopes = []string{}
	}
	scopes, err := json.Marshal(k.Scopes)
	if err != nil {
		return porthole.APIKey{}, fmt.Errorf("store: unable to encode scopes: %w", err)
	}
	err = t.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO api_keys (id, org_id, name, prefix, secret_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.OrgID, k.Name, k.Prefix, secretHash, string(scopes), millis(k.CreatedAt))
		switch {
		case isForeignKeyViolation(err):
			return notFound("organization")
		case err != nil:
			return fmt.Errorf("store: unable to create API key: %w", err)
		}
		return t.record(ctx, tx, "api_key.create", "api_key:"+k.ID, map[string]any{"name": k.Name, "prefix": k.Prefix, "scopes": k.Scopes})
	})
	return k, err
}

const apiKeyColumns = `id, org_id, name, prefix, scopes, created_at, last_used_at, revoked_at`

func scanAPIKey(row interface{ Scan(...any) error }) (porthole.APIKey, error) {
	var k porthole.APIKey
	var scopes string
	var created int64
	var used, revoked sql.NullInt64
	if err := row.Scan(&k.ID, &k.OrgID, &k.Name, &k.Prefix, &scopes, &created, &used, &revoked); err != nil {
		return k, err
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return k, fmt.Errorf("store: unable to decode scopes: %w", err)
	}
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = fromMillis(created), fromNullMillis(used), fromNullMillis(revoked)
	return k, nil
}

// APIKeyByHash finds a live (not revoked) key of the bound organization by
// the hash of its secret, and notes its use at most once a minute.
func (t *Tenant) APIKeyByHash(ctx context.Context, secretHash []byte) (porthole.APIKey, error) {
	var k porthole.APIKey
	err := t.tx(ctx, func(tx *Tx) error {
		var err error
		k, err = scanAPIKey(tx.queryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE org_id = ? AND secret_hash = ? AND revoked_at IS NULL`, t.orgID, secretHash))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("API key")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read API key: %w", err)
		}
		now := t.db.now()
		if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
			if _, err := tx.exec(ctx, `UPDATE api_keys SET last_used_at = ? WHERE org_id = ? AND id = ?`, millis(now), t.orgID, k.ID); err != nil {
				return fmt.Errorf("store: unable to note API key use: %w", err)
			}
			used := fromMillis(millis(now))
			k.LastUsedAt = &used
		}
		return nil
	})
	return k, err
}

// APIKeys lists the bound organization's keys, revoked ones included.
func (t *Tenant) APIKeys(ctx context.Context) ([]porthole.APIKey, error) {
	var list []porthole.APIKey
	err := t.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE org_id = ? ORDER BY created_at, id`, t.orgID)
		if err != nil {
			return fmt.Errorf("store: unable to list API keys: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			k, err := scanAPIKey(rows)
			if err != nil {
				return fmt.Errorf("store: unable to list API keys: %w", err)
			}
			list = append(list, k)
		}
		return rows.Err()
	})
	return list, err
}

// RevokeAPIKey revokes a key; it stops working at once.
func (t *Tenant) RevokeAPIKey(ctx context.Context, id string) error {
	if !porthole.ValidID(id) {
		return notFound("API key")
	}
	return t.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE api_keys SET revoked_at = ? WHERE org_id = ? AND id = ? AND revoked_at IS NULL`, millis(t.db.now()), t.orgID, id)
		if err != nil {
			return fmt.Errorf("store: unable to revoke API key: %w", err)
		}
		if err := expectOne(res, "API key"); err != nil {
			return err
		}
		return t.record(ctx, tx, "api_key.revoke", "api_key:"+id, nil)
	})
}
