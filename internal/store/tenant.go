package store

import (
	"context"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Tenant is the store bound to one organization. It is the only way to reach
// tenant data: every method filters by the bound id, and on PostgreSQL every
// transaction it opens is also bound by row-level security.
type Tenant struct {
	db    *DB
	orgID string
}

// Tenant returns the handle for orgID. An id that is not well formed yields a
// handle whose every method answers ENOTFOUND.
func (db *DB) Tenant(orgID string) *Tenant { return &Tenant{db: db, orgID: orgID} }

// OrgID returns the organization the handle is bound to.
func (t *Tenant) OrgID() string { return t.orgID }

// tx runs fn in a transaction bound to the tenant.
func (t *Tenant) tx(ctx context.Context, fn func(*Tx) error) error {
	return t.inTx(ctx, false, fn)
}

// read runs fn in a read-only transaction bound to the tenant. On SQLite
// it begins DEFERRED rather than IMMEDIATE, so readers see a snapshot
// without taking the one writer lock (and never wait in busy_timeout's
// sleeps behind a writer); on PostgreSQL it is READ ONLY, so a write
// slipped into fn fails instead of committing.
func (t *Tenant) read(ctx context.Context, fn func(*Tx) error) error {
	return t.inTx(ctx, true, fn)
}

func (t *Tenant) inTx(ctx context.Context, readOnly bool, fn func(*Tx) error) error {
	if !porthole.ValidID(t.orgID) {
		return notFound("organization")
	}
	return t.db.inTx(ctx, scope{orgID: t.orgID, readOnly: readOnly}, fn)
}

// systemTx runs fn in a transaction that may see across tenants. Only the
// methods in this package that say "system-wide" in their doc use it.
func (db *DB) systemTx(ctx context.Context, fn func(*Tx) error) error {
	return db.inTx(ctx, scope{system: true}, fn)
}

// globalTx runs fn in a transaction bound to no tenant: it sees the global
// tables (users, sessions) and no tenant row.
func (db *DB) globalTx(ctx context.Context, fn func(*Tx) error) error {
	return db.inTx(ctx, scope{}, fn)
}
