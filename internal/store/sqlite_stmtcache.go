package store

import (
	"container/list"
	"context"
	"database/sql/driver"
	"reflect"
)

// SQLite parses and plans every statement it is given; for the store's
// short queries that costs more than running them (a chat turn runs a
// dozen). So each SQLite connection keeps its prepared statements, keyed
// by the SQL text, and runs a query it has seen before without parsing
// it again. PostgreSQL needs none of this: pgx caches prepared statements
// per connection itself.
//
// The connection also hands the driver contexts without cancellation, after
// checking them itself: given a context that can end, the driver starts a
// goroutine per statement to interrupt it, and a chat turn's dozens of
// short statements would put as many goroutines in the scheduler's queues
// as its streamed tokens do (docs/benchmarks.md, "Assistant: overhead per
// streamed token"). So a statement, once started, runs to its end (the
// store's statements are short and bounded by their LIMITs), a canceled
// context stops the next one, and database/sql still rolls a transaction
// back when its context ends.

// stmtCacheSize bounds the statements one connection keeps. The store's
// statements are literals, so the working set is their number (a few
// hundred); the least recently used one is closed to make room.
const stmtCacheSize = 512

// sqliteConnector opens SQLite connections that keep their statements.
type sqliteConnector struct {
	dsn string
	drv driver.Driver
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &cachingConn{conn: conn, stmts: map[string]*list.Element{}, lru: list.New()}, nil
}

func (c sqliteConnector) Driver() driver.Driver { return c.drv }

// sqliteConn is what the store needs of the driver's connection.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachedStmt is a prepared statement and whether rows of it are open: a
// statement with open rows cannot run again until they are closed, so a
// nested query of the same text prepares a statement of its own.
type cachedStmt struct {
	query string
	stmt  driver.Stmt
	busy  bool
}

// cachingConn runs queries and statements through prepared statements it
// keeps. database/sql never uses a connection from two goroutines at once,
// so it needs no lock.
type cachingConn struct {
	conn  driver.Conn
	stmts map[string]*list.Element // of *cachedStmt, most recent at the front
	lru   *list.List
}

func (c *cachingConn) raw() sqliteConn { return c.conn.(sqliteConn) }

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(query) }
func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.raw().BeginTx(context.Background(), driver.TxOptions{})
}
func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.raw().BeginTx(context.WithoutCancel(ctx), opts)
}
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.raw().PrepareContext(ctx, query)
}
func (c *cachingConn) Ping(ctx context.Context) error         { return c.raw().Ping(ctx) }
func (c *cachingConn) ResetSession(ctx context.Context) error { return c.raw().ResetSession(ctx) }
func (c *cachingConn) IsValid() bool                          { return c.raw().IsValid() }

// Close closes the kept statements, then the connection.
func (c *cachingConn) Close() error {
	for e := c.lru.Front(); e != nil; e = e.Next() {
		_ = e.Value.(*cachedStmt).stmt.Close()
	}
	c.lru.Init()
	clear(c.stmts)
	return c.conn.Close()
}

// statement returns the kept statement of query, preparing and keeping it
// on first use. A statement whose rows are open is not handed out again:
// the caller gets a one-off statement (kept is false) to close itself.
func (c *cachingConn) statement(ctx context.Context, query string) (cs *cachedStmt, kept bool, err error) {
	if e, ok := c.stmts[query]; ok {
		cs = e.Value.(*cachedStmt)
		if !cs.busy {
			c.lru.MoveToFront(e)
			return cs, true, nil
		}
		st, err := c.raw().PrepareContext(ctx, query)
		return &cachedStmt{query: query, stmt: st}, false, err
	}
	st, err := c.raw().PrepareContext(ctx, query)
	if err != nil {
		return nil, false, err
	}
	cs = &cachedStmt{query: query, stmt: st}
	if c.lru.Len() >= stmtCacheSize {
		oldest := c.lru.Back()
		old := oldest.Value.(*cachedStmt)
		if old.busy {
			return cs, false, nil // everything is in use; run this one once
		}
		c.lru.Remove(oldest)
		delete(c.stmts, old.query)
		_ = old.stmt.Close()
	}
	c.stmts[query] = c.lru.PushFront(cs)
	return cs, true, nil
}

// run checks that ctx has not ended, then returns it without cancellation
// (see the top of this file) and the statement of query.
func (c *cachingConn) run(ctx context.Context, query string) (context.Context, *cachedStmt, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, false, err
	}
	ctx = context.WithoutCancel(ctx)
	cs, kept, err := c.statement(ctx, query)
	return ctx, cs, kept, err
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ctx, cs, kept, err := c.run(ctx, query)
	if err != nil {
		return nil, err
	}
	if !kept {
		defer cs.stmt.Close()
	}
	return cs.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	ctx, cs, kept, err := c.run(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := cs.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		if !kept {
			_ = cs.stmt.Close()
		}
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs, kept: kept}, nil
}

// cachedRows frees its statement for the next query when closed.
type cachedRows struct {
	driver.Rows
	cs     *cachedStmt
	kept   bool
	closed bool
}

func (r *cachedRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.Rows.Close()
	r.cs.busy = false
	if !r.kept {
		if cerr := r.cs.stmt.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// The column type methods database/sql looks for on rows, passed through.

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}
