// Package storetest runs store-backed tests on every dialect: SQLite always,
// PostgreSQL when PORTHOLE_TEST_POSTGRES_URL is set. Each PostgreSQL run gets
// a fresh schema, dropped at the end, so concurrent runs never collide.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/testenv"
)

// ForEachDialect runs fn as a subtest per dialect with a fresh, migrated DB.
func ForEachDialect(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, MustOpenSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, MustOpenPostgres(t)) })
}

// MustOpenSQLite opens a fresh migrated SQLite database in a temp dir.
func MustOpenSQLite(tb testing.TB) *store.DB {
	tb.Helper()
	dir := tb.TempDir()
	db, err := store.Open(context.Background(), store.Options{URL: "sqlite:" + filepath.Join(dir, "test.db"), Migrate: true})
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustOpenPostgres opens a fresh migrated PostgreSQL schema, or skips.
func MustOpenPostgres(tb testing.TB) *store.DB {
	tb.Helper()
	u := MustPostgresSchemaURL(tb)
	db, err := store.Open(context.Background(), store.Options{URL: u, Migrate: true})
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustPostgresSchemaURL creates a fresh schema and returns a URL whose
// search_path points at it. The schema is dropped when tb ends.
func MustPostgresSchemaURL(tb testing.TB) string {
	tb.Helper()
	base := testenv.PostgresURL(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "porthole_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect postgres: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Logf("drop schema %s: %v", schema, err)
		}
	})
	pu, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse postgres url: %v", err)
	}
	q := pu.Query()
	q.Set("search_path", schema)
	pu.RawQuery = q.Encode()
	return pu.String()
}
