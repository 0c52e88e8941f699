// Package store holds every SQL statement of Porthole, for SQLite (the
// embedded default, pure Go, WAL) and PostgreSQL, with the schema as embedded
// goose migrations, one folder per dialect.
//
// Tenant data is reached only through a Tenant handle bound to one
// organization id (DB.Tenant); no method takes a row id without that binding.
// On PostgreSQL every tenant table also has row-level security keyed on the
// transaction setting porthole.org_id, and the server's queries run as the
// role porthole_app, which owns no table, so a query that forgot its tenant
// filter still sees only its own tenant's rows.
//
// This package must never import net/http or a transport; it returns
// porthole.Error values (ENOTFOUND, ECONFLICT, ...) and wraps other failures
// as "store: unable to ...: %w".
package store
