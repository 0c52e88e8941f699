package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/secrets"
)

// DataKeys is the store of per-organization data keys, wrapped by the
// operator's master key. It implements secrets.DataKeyStore.
type DataKeys struct{ db *DB }

// DataKeys returns the data-key store.
func (db *DB) DataKeys() *DataKeys { return &DataKeys{db: db} }

var _ secrets.DataKeyStore = (*DataKeys)(nil)

// DataKey returns org's wrapped data key.
func (d *DataKeys) DataKey(ctx context.Context, orgID string) (secrets.WrappedKey, error) {
	var k secrets.WrappedKey
	err := d.db.Tenant(orgID).tx(ctx, func(tx *Tx) error {
		err := tx.queryRow(ctx, `SELECT master_key_id, wrapped FROM tenant_keys WHERE org_id = ?`, orgID).Scan(&k.MasterKeyID, &k.Ciphertext)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("data key")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read data key: %w", err)
		}
		return nil
	})
	return k, err
}

// CreateDataKey stores org's first data key; ECONFLICT when one exists.
func (d *DataKeys) CreateDataKey(ctx context.Context, orgID string, k secrets.WrappedKey) error {
	now := millis(d.db.now())
	return d.db.Tenant(orgID).tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO tenant_keys (org_id, master_key_id, wrapped, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
			orgID, k.MasterKeyID, k.Ciphertext, now, now)
		switch {
		case isUniqueViolation(err) || (err != nil && bytes.Contains([]byte(err.Error()), []byte("PRIMARY KEY"))):
			return porthole.Errorf(porthole.ECONFLICT, "data key exists already")
		case isForeignKeyViolation(err):
			return notFound("organization")
		case err != nil:
			return fmt.Errorf("store: unable to create data key: %w", err)
		}
		return nil
	})
}

// ReplaceDataKey swaps old for new when the stored key still equals old.
// Rotation runs system-wide, so the transaction is bound to the org and the
// compare-and-swap is in the WHERE clause.
func (d *DataKeys) ReplaceDataKey(ctx context.Context, orgID string, old, new secrets.WrappedKey) error {
	return d.db.Tenant(orgID).tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE tenant_keys SET master_key_id = ?, wrapped = ?, updated_at = ?
			WHERE org_id = ? AND master_key_id = ? AND wrapped = ?`,
			new.MasterKeyID, new.Ciphertext, millis(d.db.now()), orgID, old.MasterKeyID, old.Ciphertext)
		if err != nil {
			return fmt.Errorf("store: unable to replace data key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return porthole.Errorf(porthole.ECONFLICT, "data key changed meanwhile")
		}
		return nil
	})
}

// DataKeyOrgs lists, system-wide, the organizations that have a data key.
func (d *DataKeys) DataKeyOrgs(ctx context.Context) ([]string, error) {
	var ids []string
	err := d.db.systemTx(ctx, func(tx *Tx) error {
		var err error
		ids, err = rawStrings(ctx, tx, `SELECT org_id FROM tenant_keys ORDER BY org_id`)
		if err != nil {
			return fmt.Errorf("store: unable to list data keys: %w", err)
		}
		return nil
	})
	return ids, err
}

// HasDataKeys reports, system-wide, whether any data key exists.
func (d *DataKeys) HasDataKeys(ctx context.Context) (bool, error) {
	var n int
	err := d.db.systemTx(ctx, func(tx *Tx) error {
		if err := tx.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM tenant_keys LIMIT 1) AS k`).Scan(&n); err != nil {
			return fmt.Errorf("store: unable to count data keys: %w", err)
		}
		return nil
	})
	return n > 0, err
}

func rawStrings(ctx context.Context, tx *Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
