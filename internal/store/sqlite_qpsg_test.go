package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	sqlite3 "modernc.org/sqlite/lib"
)

func openSQLiteForTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "s.db"), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// reprepares sums, over every statement prepared on conn (FTS5's own
// included), how many times SQLite has prepared it again.
func reprepares(t *testing.T, conn *sql.Conn) int {
	t.Helper()
	n := 0
	err := conn.Raw(func(dc any) error {
		tls, db, err := sqliteHandle(dc.(*cachingConn).conn)
		if err != nil {
			return err
		}
		for s := sqlite3.Xsqlite3_next_stmt(tls, db, 0); s != 0; s = sqlite3.Xsqlite3_next_stmt(tls, db, s) {
			n += int(sqlite3.Xsqlite3_stmt_status(tls, s, sqlite3.SQLITE_STMTSTATUS_REPREPARE, 0))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Searching a full-text index of several segments makes FTS5 look each
// segment up with `segid = ?`; under the planner stability guarantee that
// statement keeps its plan, without it SQLite re-prepares it again and again.
func TestSQLiteSearchKeepsItsStatements(t *testing.T) {
	ctx := context.Background()
	db := openSQLiteForTest(t)
	seed, err := db.sql.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // FTS5 writes a segment per transaction
		if _, err := seed.ExecContext(ctx, `INSERT INTO knowledge_fts (rowid, ns, title, text) VALUES (?, 'nsq', 'Opening hours', 'open monday to friday')`, i+1); err != nil {
			t.Fatal(err)
		}
	}
	search := func(conn *sql.Conn) {
		t.Helper()
		for range 5 {
			var n int
			if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM knowledge_fts WHERE knowledge_fts MATCH ?`, `ns:nsq AND ("open" OR "friday")`).Scan(&n); err != nil || n != 3 {
				t.Fatalf("search: %d rows, %v; want 3", n, err)
			}
		}
	}

	// seed is a connection as the store opens it; the migrations may have
	// run on it, re-preparing their own statements as the schema changed.
	before := reprepares(t, seed)
	search(seed)
	if n := reprepares(t, seed) - before; n != 0 {
		t.Errorf("searches on a store connection re-prepared statements %d times, want none", n)
	}

	// A second connection (seed is still held) without the guarantee, set
	// before it has prepared anything: the same searches re-prepare.
	plain, err := db.sql.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Raw(func(dc any) error {
		return sqliteDBConfig(dc.(*cachingConn).conn, sqlite3.SQLITE_DBCONFIG_ENABLE_QPSG, false)
	}); err != nil {
		t.Fatal(err)
	}
	search(plain)
	if n := reprepares(t, plain); n == 0 {
		t.Error("searches without the guarantee re-prepared nothing: the check above proves nothing")
	}
	seed.Close()
}
