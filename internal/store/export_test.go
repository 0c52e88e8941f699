package store

import "context"

// TenantRawStrings runs q inside a transaction bound to the tenant, exactly
// as the tenant's own methods do, and returns the first column of each row.
// Tests use it to run a query that forgot its tenant filter.
func (t *Tenant) TenantRawStrings(ctx context.Context, q string, args ...any) ([]string, error) {
	var out []string
	err := t.tx(ctx, func(tx *Tx) error {
		var err error
		out, err = rawStrings(ctx, tx, q, args...)
		return err
	})
	return out, err
}

// UnboundRawStrings runs q in a transaction bound to no tenant.
func (db *DB) UnboundRawStrings(ctx context.Context, q string, args ...any) ([]string, error) {
	var out []string
	err := db.globalTx(ctx, func(tx *Tx) error {
		var err error
		out, err = rawStrings(ctx, tx, q, args...)
		return err
	})
	return out, err
}

// TenantRawExec runs a statement inside a transaction bound to the tenant.
func (t *Tenant) TenantRawExec(ctx context.Context, q string, args ...any) error {
	return t.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, q, args...)
		return err
	})
}

// TenantReadExec runs a statement inside a read-only transaction bound to
// the tenant, as the tenant's read methods do.
func (t *Tenant) TenantReadExec(ctx context.Context, q string, args ...any) error {
	return t.read(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, q, args...)
		return err
	})
}

// HoldWriteTx opens a write transaction bound to the tenant, writes in it,
// closes held and keeps the transaction open until release is closed.
func (t *Tenant) HoldWriteTx(ctx context.Context, held chan<- struct{}, release <-chan struct{}) error {
	return t.tx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `UPDATE organizations SET name = name WHERE id = ?`, t.orgID); err != nil {
			return err
		}
		close(held)
		<-release
		return nil
	})
}

// HoldContactLock locks a contact's row as a merge does, closes held and
// keeps the transaction open until release is closed.
func (t *Tenant) HoldContactLock(ctx context.Context, contactID string, held chan<- struct{}, release <-chan struct{}) error {
	return t.tx(ctx, func(tx *Tx) error {
		if _, err := t.contact(ctx, tx, contactID, true); err != nil {
			return err
		}
		close(held)
		<-release
		return nil
	})
}
