package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"

	"github.com/porthole-chat/porthole/internal/porthole"
)

//go:embed migrations
var migrations embed.FS

// Dialect names the SQL dialect of a DB.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// AppRole is the PostgreSQL role the server's queries run as. It owns no
// table, so row-level security always applies to it.
const AppRole = "porthole_app"

// DB is an open Porthole database of either dialect.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	now     func() time.Time
	// writer admits one SQLite write transaction at a time (a channel of
	// one slot, so waiting honours the context). SQLite allows one writer
	// and makes the others poll: BEGIN IMMEDIATE answers SQLITE_BUSY and
	// busy_timeout sleeps 1, 2, 5, 10... ms between tries, which under a
	// steady stream of chat turns costs each write milliseconds and holds
	// a scheduler thread in nanosleep. Queued here, writers of this process
	// never meet each other in SQLite; busy_timeout is left for other
	// processes (the admin CLI). nil on PostgreSQL.
	writer chan struct{}
	// threads run SQLite transactions (sqlite_threads.go); nil on
	// PostgreSQL.
	threads *sqliteThreads
}

// sqliteConns is how many connections a SQLite database keeps open: one
// writer at a time is SQLite's rule; the others serve readers.
const sqliteConns = 8

// Options say which database to open.
type Options struct {
	// URL is "postgres://..." or "postgresql://..." for PostgreSQL, or
	// "sqlite:PATH" / "sqlite://PATH" / "" for SQLite ("" means DataDir/porthole.db).
	URL string
	// DataDir holds the SQLite file when URL is empty.
	DataDir string
	// Migrate applies pending migrations before the DB is returned.
	Migrate bool
	// Logger receives migration progress; nil discards it.
	Logger *slog.Logger
}

// Target is a parsed database URL.
type Target struct {
	Dialect Dialect
	// Path is the SQLite file (SQLite only).
	Path string
	// URL is the PostgreSQL connection string (PostgreSQL only).
	URL string
}

// ParseURL turns a database URL into a Target. dataDir places the default
// SQLite file.
func ParseURL(raw, dataDir string) (Target, error) {
	switch {
	case raw == "":
		return Target{Dialect: SQLite, Path: filepath.Join(dataDir, "porthole.db")}, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := pgx.ParseConfig(raw); err != nil {
			return Target{}, fmt.Errorf("database URL is not a valid PostgreSQL URL: %s", firstLine(err.Error()))
		}
		return Target{Dialect: Postgres, URL: raw}, nil
	case strings.HasPrefix(raw, "sqlite://"):
		p := strings.TrimPrefix(raw, "sqlite://")
		if p == "" {
			return Target{}, errors.New("database URL sqlite:// names no file")
		}
		return Target{Dialect: SQLite, Path: p}, nil
	case strings.HasPrefix(raw, "sqlite:"):
		p := strings.TrimPrefix(raw, "sqlite:")
		if p == "" {
			return Target{}, errors.New("database URL sqlite:PATH names no file")
		}
		return Target{Dialect: SQLite, Path: p}, nil
	}
	return Target{}, errors.New("database URL must start with postgres://, postgresql:// or sqlite:PATH")
}

// Open opens (and with Options.Migrate, migrates) the database. Every error
// is one line that says what is wrong; Open never rewrites a file it cannot
// read as a database.
func Open(ctx context.Context, opts Options) (*DB, error) {
	t, err := ParseURL(opts.URL, opts.DataDir)
	if err != nil {
		return nil, err
	}
	switch t.Dialect {
	case SQLite:
		return openSQLite(ctx, t.Path, opts)
	default:
		return openPostgres(ctx, t.URL, opts)
	}
}

func openSQLite(ctx context.Context, path string, opts Options) (*DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("cannot create the data directory %s: %v", dir, err)
		}
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("database file %s is a directory", path)
	}
	// A file that is not a database must be refused before any pragma could
	// write to it: check its header first.
	if err := checkSQLiteHeader(path); err != nil {
		return nil, err
	}
	// A new database is created readable by its owner only; SQLite gives its
	// -wal and -shm files the same mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("cannot create the SQLite database %s: %v", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	drv := &sqlite.Driver{}
	drv.RegisterConnectionHook(func(conn sqlite.ExecQuerierContext, _ string) error { return enableQPSG(conn) })
	// Connections keep their prepared statements (sqlite_stmtcache.go).
	sqldb := sql.OpenDB(sqliteConnector{dsn: dsn, drv: drv})
	sqldb.SetMaxOpenConns(sqliteConns)
	sqldb.SetMaxIdleConns(sqliteConns)
	sqldb.SetConnMaxIdleTime(0)
	sqldb.SetConnMaxLifetime(0)
	var n int
	if err := sqldb.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(new(string)); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("the SQLite database %s cannot be read: %s", path, firstLine(err.Error()))
	}
	if err := sqldb.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("the SQLite database %s cannot be read: %s", path, firstLine(err.Error()))
	}
	db := &DB{sql: sqldb, dialect: SQLite, now: time.Now, writer: make(chan struct{}, 1), threads: newSQLiteThreads(max(2, min(runtime.GOMAXPROCS(0), sqliteConns)))}
	if opts.Migrate {
		if err := migrate(ctx, sqldb, SQLite, opts.Logger); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// checkSQLiteHeader refuses an existing non-empty file that does not start
// with the SQLite magic string.
func checkSQLiteHeader(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot open the SQLite database %s: %v", path, err)
	}
	defer f.Close()
	var hdr [16]byte
	n, _ := f.Read(hdr[:])
	if n == 0 {
		return nil
	}
	if n < 16 || string(hdr[:]) != "SQLite format 3\x00" {
		return fmt.Errorf("the file %s is not a SQLite database (corrupt or foreign file); refusing to touch it", path)
	}
	return nil
}

func openPostgres(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	if opts.Migrate {
		if err := MigratePostgres(ctx, rawURL, opts.Logger); err != nil {
			return nil, err
		}
	}
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("database URL is not a valid PostgreSQL URL: %s", firstLine(err.Error()))
	}
	sqldb := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET ROLE "+AppRole)
		return err
	}))
	sqldb.SetMaxOpenConns(20)
	sqldb.SetMaxIdleConns(10)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqldb.PingContext(pingCtx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("cannot reach PostgreSQL as role %s: %s", AppRole, firstLine(err.Error()))
	}
	return &DB{sql: sqldb, dialect: Postgres, now: time.Now}, nil
}

// MigratePostgres applies pending migrations as the URL's own (owner) role,
// under a session advisory lock so several processes can start at once.
func MigratePostgres(ctx context.Context, rawURL string, logger *slog.Logger) error {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return fmt.Errorf("database URL is not a valid PostgreSQL URL: %s", firstLine(err.Error()))
	}
	sqldb := stdlib.OpenDB(*cfg)
	defer sqldb.Close()
	sqldb.SetMaxOpenConns(2)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqldb.PingContext(pingCtx); err != nil {
		return fmt.Errorf("cannot reach PostgreSQL: %s", firstLine(err.Error()))
	}
	return migrate(ctx, sqldb, Postgres, logger)
}

func migrate(ctx context.Context, sqldb *sql.DB, d Dialect, logger *slog.Logger) error {
	sub, err := fs.Sub(migrations, "migrations/"+string(d))
	if err != nil {
		return fmt.Errorf("store: unable to read embedded migrations: %w", err)
	}
	gd := goose.DialectSQLite3
	popts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if d == Postgres {
		gd = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("store: unable to create the migration lock: %w", err)
		}
		popts = append(popts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, sqldb, sub, popts...)
	if err != nil {
		return fmt.Errorf("store: unable to prepare migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("database migration failed: %s", firstLine(err.Error()))
	}
	if logger != nil {
		for _, r := range results {
			logger.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
		}
	}
	return nil
}

// Dialect returns the DB's dialect.
func (db *DB) Dialect() Dialect { return db.dialect }

// Close closes the database.
func (db *DB) Close() error {
	if db.threads != nil {
		db.threads.stop()
	}
	return db.sql.Close()
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("store: unable to reach the database: %w", err)
	}
	return nil
}

// SetClock replaces the clock (tests only need it).
func (db *DB) SetClock(now func() time.Time) { db.now = now }

// rebind turns ? placeholders into $n for PostgreSQL. Queries in this
// package never put a ? inside a string literal.
func (db *DB) rebind(q string) string {
	if db.dialect != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// scope is what a transaction is allowed to see on PostgreSQL.
type scope struct {
	orgID  string // porthole.org_id: one tenant's rows
	userID string // porthole.user_id: a user's own memberships
	system bool   // porthole.scope=system: the few cross-tenant methods
	// readOnly begins a read-only transaction (see Tenant.read).
	readOnly bool
}

// Tx is a transaction of the store with its dialect, handed to private
// helpers so that public methods own the transaction.
type Tx struct {
	tx txRunner
	db *DB
}

// txRunner runs a transaction's statements: a *sql.Tx on PostgreSQL, a
// sqliteTx on SQLite.
type txRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (t *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.db.rebind(q), args...)
}

func (t *Tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.db.rebind(q), args...)
}

func (t *Tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.db.rebind(q), args...)
}

// sqliteTx runs the statements of a SQLite transaction on the connection
// that began it (inSQLiteTx). A statement there runs to its end whatever
// its context (cachingConn does not interrupt it), yet database/sql starts
// a goroutine for every query whose context can be cancelled, only to
// watch it. So database/sql gets the context without its cancellation
// while it is live; one already done is handed over as it is, and
// database/sql refuses the statement with its error.
type sqliteTx struct{ conn *sql.Conn }

func (t sqliteTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.conn.ExecContext(liveContext(ctx), q, args...)
}

func (t sqliteTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.conn.QueryContext(liveContext(ctx), q, args...)
}

func (t sqliteTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.conn.QueryRowContext(liveContext(ctx), q, args...)
}

// liveContext is ctx without its cancellation, unless it is already done.
func liveContext(ctx context.Context) context.Context {
	if ctx.Err() != nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// inTx runs fn in one transaction with the given scope and commits when fn
// returns nil.
func (db *DB) inTx(ctx context.Context, s scope, fn func(*Tx) error) error {
	// PostgreSQL may break a deadlock between two writers by failing one;
	// that transaction rolled back whole, so it is run again (twice at most).
	for attempt := 0; ; attempt++ {
		err := db.inTxOnce(ctx, s, fn)
		if attempt == 2 || db.dialect != Postgres || !isDeadlock(err) || ctx.Err() != nil {
			return err
		}
	}
}

func isDeadlock(err error) bool {
	return err != nil && strings.Contains(err.Error(), "SQLSTATE 40P01")
}

func (db *DB) inTxOnce(ctx context.Context, s scope, fn func(*Tx) error) error {
	if db.writer != nil && !s.readOnly {
		select {
		case db.writer <- struct{}{}:
			defer func() { <-db.writer }()
		case <-ctx.Done():
			return fmt.Errorf("store: unable to begin a transaction: %w", ctx.Err())
		}
	}
	if db.dialect == SQLite {
		return db.threads.run(ctx, func() error { return db.inSQLiteTx(ctx, s.readOnly, fn) })
	}
	sqltx, err := db.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: s.readOnly})
	if err != nil {
		return fmt.Errorf("store: unable to begin a transaction: %w", err)
	}
	tx := &Tx{tx: sqltx, db: db}
	if db.dialect == Postgres {
		if err := setScope(ctx, tx, s); err != nil {
			_ = sqltx.Rollback()
			return err
		}
	}
	if err := fn(tx); err != nil {
		_ = sqltx.Rollback()
		return err
	}
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("store: unable to commit: %w", err)
	}
	return nil
}

// inSQLiteTx runs fn in a transaction of its own on one SQLite
// connection, begun and ended by statements. A *sql.Tx would do the same
// but start a goroutine per transaction, and one per query in it, to roll
// back on the context's cancellation: most of a chat turn's goroutines.
// Here a cancelled context stops the transaction at its next statement or
// before its commit; a transaction that does not commit, or whose fn
// panics, is rolled back before its connection goes back to the pool.
//
// A writer begins IMMEDIATE, taking the write lock at once, so it never
// has to upgrade a read snapshot that another process's write has made
// stale (which busy_timeout cannot wait out).
func (db *DB) inSQLiteTx(ctx context.Context, readOnly bool, fn func(*Tx) error) error {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: unable to begin a transaction: %w", err)
	}
	live := context.WithoutCancel(ctx)
	begin := "BEGIN IMMEDIATE"
	if readOnly {
		begin = "BEGIN"
	}
	if _, err := conn.ExecContext(live, begin); err != nil {
		_ = conn.Close()
		return fmt.Errorf("store: unable to begin a transaction: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_, _ = conn.ExecContext(live, "ROLLBACK")
		}
		_ = conn.Close()
	}()
	if err := fn(&Tx{tx: sqliteTx{conn}, db: db}); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: unable to commit: %w", err)
	}
	if _, err := conn.ExecContext(live, "COMMIT"); err != nil {
		return fmt.Errorf("store: unable to commit: %w", err)
	}
	committed = true
	return nil
}

func setScope(ctx context.Context, tx *Tx, s scope) error {
	systemScope := ""
	if s.system {
		systemScope = "system"
	}
	_, err := tx.exec(ctx, `SELECT set_config('porthole.org_id', ?, true), set_config('porthole.user_id', ?, true), set_config('porthole.scope', ?, true)`,
		s.orgID, s.userID, systemScope)
	if err != nil {
		return fmt.Errorf("store: unable to bind the transaction to its tenant: %w", err)
	}
	return nil
}

// millis converts a time to the stored form: unix milliseconds.
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis converts a stored time back.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func fromNullMillis(ms sql.NullInt64) *time.Time {
	if !ms.Valid {
		return nil
	}
	t := fromMillis(ms.Int64)
	return &t
}

// isUniqueViolation reports whether err is a unique-constraint failure in
// either dialect.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505") || strings.Contains(s, "duplicate key value")
}

func notFound(what string) error { return porthole.Errorf(porthole.ENOTFOUND, "%s not found", what) }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// isForeignKeyViolation reports whether err is a foreign-key failure in
// either dialect (the parent row is missing, or invisible to this tenant).
func isForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "FOREIGN KEY constraint failed") || strings.Contains(s, "SQLSTATE 23503")
}

// Now returns the store's clock reading (tests move it).
func (db *DB) Now() time.Time { return db.now() }
