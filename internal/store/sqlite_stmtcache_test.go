package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"modernc.org/sqlite"
)

// countingDriver counts the statements SQLite is asked to prepare.
type countingDriver struct {
	sqlite.Driver
	prepares atomic.Int64
}

func (d *countingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.Driver.Open(name)
	if err != nil {
		return nil, err
	}
	return countingConn{sqliteConn: c.(sqliteConn), n: &d.prepares}, nil
}

type countingConn struct {
	sqliteConn
	n *atomic.Int64
}

func (c countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	c.n.Add(1)
	return c.sqliteConn.PrepareContext(ctx, q)
}

func openCounting(t *testing.T) (*sql.DB, *countingDriver) {
	t.Helper()
	drv := &countingDriver{}
	db := sql.OpenDB(sqliteConnector{dsn: "file:" + filepath.Join(t.TempDir(), "c.db"), drv: drv})
	db.SetMaxOpenConns(1) // one connection, so its cache is the one observed
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := db.Exec(`INSERT INTO t (n) VALUES (?)`, i); err != nil {
			t.Fatal(err)
		}
	}
	return db, drv
}

func sumOf(t *testing.T, db interface {
	QueryRow(string, ...any) *sql.Row
}, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStatementCacheReusesPreparedStatements(t *testing.T) {
	db, drv := openCounting(t)
	before := drv.prepares.Load()
	for i := range 50 {
		if got := sumOf(t, db, `SELECT coalesce(sum(n), 0) FROM t WHERE n >= ?`, i%3); got != []int{3, 3, 2}[i%3] {
			t.Fatalf("sum = %d", got)
		}
		if _, err := db.Exec(`UPDATE t SET n = n WHERE n = ?`, i%3); err != nil {
			t.Fatal(err)
		}
	}
	if n := drv.prepares.Load() - before; n != 2 {
		t.Fatalf("100 runs of 2 statements prepared %d times, want 2", n)
	}
}

// A query of the same text while rows of it are open (a nested loop) gets
// a statement of its own and both read the right rows.
func TestStatementCacheNestedSameQuery(t *testing.T) {
	db, _ := openCounting(t)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const q = `SELECT n FROM t WHERE n >= ? ORDER BY n`
	outer, err := tx.Query(q, 0)
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for outer.Next() {
		var a int
		if err := outer.Scan(&a); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.Query(q, a)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			var b int
			if err := inner.Scan(&b); err != nil {
				t.Fatal(err)
			}
			pairs = append(pairs, fmt.Sprint(a, b))
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	if got, want := fmt.Sprint(pairs), "[0 0 0 1 0 2 1 1 1 2 2 2]"; got != want {
		t.Fatalf("nested rows %s, want %s", got, want)
	}
	// The kept statement is free again afterwards.
	if got := sumOf(t, tx, `SELECT count(*) FROM t WHERE n >= ?`, 1); got != 2 {
		t.Fatalf("count = %d", got)
	}
}

// More distinct statements than the cache holds: the oldest are closed and
// every query still answers.
func TestStatementCacheEvicts(t *testing.T) {
	db, drv := openCounting(t)
	for i := range stmtCacheSize + 50 {
		if got := sumOf(t, db, fmt.Sprintf(`SELECT count(*) + %d FROM t`, i)); got != 3+i {
			t.Fatalf("query %d = %d", i, got)
		}
	}
	before := drv.prepares.Load()
	_ = sumOf(t, db, `SELECT count(*) + 0 FROM t`) // evicted long ago
	if drv.prepares.Load() != before+1 {
		t.Fatal("an evicted statement was not prepared again")
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.Raw(func(c any) error {
		if n := c.(*cachingConn).lru.Len(); n != stmtCacheSize {
			t.Errorf("connection keeps %d statements, want %d", n, stmtCacheSize)
		}
		return nil
	})
}

// A context that has ended stops the next statement before it runs.
func TestSQLiteConnHonoursEndedContext(t *testing.T) {
	db, _ := openCounting(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.ExecContext(ctx, `DELETE FROM t`); !errors.Is(err, context.Canceled) {
		t.Fatalf("exec with a canceled context: %v", err)
	}
	if _, err := db.QueryContext(ctx, `SELECT n FROM t`); !errors.Is(err, context.Canceled) {
		t.Fatalf("query with a canceled context: %v", err)
	}
	if _, err := db.BeginTx(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("begin with a canceled context: %v", err)
	}
	if got := sumOf(t, db, `SELECT count(*) FROM t`); got != 3 {
		t.Fatalf("%d rows after a canceled delete, want 3", got)
	}
}
