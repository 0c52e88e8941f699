package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"modernc.org/sqlite"
)

// A SQLite transaction that does not commit (its function fails or
// panics, or its context ends) leaves nothing behind and hands its
// connection back ready for the next one.
func TestSQLiteTransactionEnds(t *testing.T) {
	ctx := context.Background()
	db := openSQLiteForTest(t)
	db.sql.SetMaxOpenConns(1) // every transaction on the one connection
	if _, err := db.sql.Exec(`CREATE TABLE scratch (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	insert := func(ctx context.Context, tx *Tx, n int) error {
		_, err := tx.exec(ctx, `INSERT INTO scratch (n) VALUES (?)`, n)
		return err
	}
	rows := func() int {
		t.Helper()
		var n int
		if err := db.sql.QueryRow(`SELECT count(*) FROM scratch`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	boom := errors.New("boom")
	if err := db.inTx(ctx, scope{}, func(tx *Tx) error { _ = insert(ctx, tx, 1); return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing function: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	err := db.inTx(cctx, scope{}, func(tx *Tx) error {
		if err := insert(cctx, tx, 2); err != nil {
			return err
		}
		cancel() // after the last statement: the commit is refused
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("context ended before the commit: %v", err)
	}
	cctx, cancel = context.WithCancel(ctx)
	err = db.inTx(cctx, scope{}, func(tx *Tx) error {
		cancel()
		return insert(cctx, tx, 3)
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("context ended before a statement: %v", err)
	}
	func() {
		defer func() { _ = recover() }()
		_ = db.inTx(ctx, scope{}, func(tx *Tx) error { _ = insert(ctx, tx, 4); panic("boom") })
	}()
	if n := rows(); n != 0 {
		t.Fatalf("%d rows after four transactions that did not commit, want 0", n)
	}
	for _, s := range []scope{{}, {readOnly: true}} {
		if err := db.inTx(ctx, s, func(tx *Tx) error { return insert(ctx, tx, 5) }); err != nil {
			t.Fatalf("a transaction after them (read-only %v): %v", s.readOnly, err)
		}
	}
	if n := rows(); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
}

// A write transaction holds the write lock from its start, so it never has
// to upgrade a snapshot another process's write has made stale; a read
// transaction takes no lock that keeps writers out.
func TestSQLiteWriteTransactionBeginsImmediate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(ctx, Options{URL: "sqlite:" + path, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.sql.Exec(`CREATE TABLE scratch (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	// Another process, as far as SQLite can tell: its own connection, and
	// no waiting for locks.
	other := sql.OpenDB(sqliteConnector{dsn: "file:" + path + "?_pragma=busy_timeout(0)", drv: &sqlite.Driver{}})
	defer other.Close()
	otherWrites := func() error {
		_, err := other.Exec(`INSERT INTO scratch (n) VALUES (1)`)
		return err
	}
	err = db.inTx(ctx, scope{}, func(*Tx) error {
		if otherWrites() == nil {
			t.Error("another connection wrote while a write transaction was open, before its first statement")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.inTx(ctx, scope{readOnly: true}, func(*Tx) error {
		if err := otherWrites(); err != nil {
			t.Errorf("a read transaction kept another connection's write out: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
