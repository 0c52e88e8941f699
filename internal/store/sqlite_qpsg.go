package store

import (
	"errors"
	"fmt"
	"reflect"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// Every SQLite connection of the store runs with the query planner
// stability guarantee (SQLITE_DBCONFIG_ENABLE_QPSG): a statement keeps the
// plan it was prepared with, whatever values are bound to it later.
//
// Without it, SQLite re-prepares a statement with `col = ?` whenever the
// value bound before was 0 or 1, in case a plan for that value is better.
// FTS5 looks up every segment of the index, for every term of a search,
// with one such statement (`... FROM '..._idx' WHERE segid=? ...`), and its
// first segment is nearly always number 1: so a knowledge search re-parsed
// and re-planned that statement once or more per term: 6-9% of the CPU of
// a chat turn (BenchmarkTurn). The store's own statements gain nothing from values: it runs
// no ANALYZE, its LIKE patterns are on lower(...), which no index serves,
// and ConversationTimeline, the one query its partial index could serve,
// is planned the same with the guarantee and without (measured).
//
// modernc.org/sqlite reaches sqlite3_db_config only for the options its
// DSN names, and this one is not among them; so the connection's handle is
// read from the driver's connection (fields db and tls). A driver that
// stops having them fails every connection, and the store's tests, loudly.

// enableQPSG turns the guarantee on for conn, a modernc.org/sqlite
// connection. openSQLite makes it a hook of the driver, run on every
// connection as it opens.
func enableQPSG(conn any) error {
	return sqliteDBConfig(conn, sqlite3.SQLITE_DBCONFIG_ENABLE_QPSG, true)
}

// sqliteDBConfig sets or clears the boolean option op of conn with
// sqlite3_db_config(db, op, on, NULL).
func sqliteDBConfig(conn any, op int32, on bool) error {
	tls, db, err := sqliteHandle(conn)
	if err != nil {
		return err
	}
	v := int32(0)
	if on {
		v = 1
	}
	const slot = 8 // libc.VaList's stride per argument
	args := libc.Xmalloc(tls, 2*slot)
	if args == 0 {
		return errors.New("store: out of memory configuring a SQLite connection")
	}
	defer libc.Xfree(tls, args)
	if rc := sqlite3.Xsqlite3_db_config(tls, db, op, libc.VaList(args, v, uintptr(0))); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("store: sqlite3_db_config(%d) returned %d", op, rc)
	}
	return nil
}

// sqliteHandle returns the sqlite3 handle of a modernc.org/sqlite
// connection and the libc state its calls are made with.
func sqliteHandle(conn any) (*libc.TLS, uintptr, error) {
	v := reflect.ValueOf(conn)
	if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		s := v.Elem()
		db, tls := s.FieldByName("db"), s.FieldByName("tls")
		if db.IsValid() && db.Kind() == reflect.Uintptr && db.Uint() != 0 &&
			tls.IsValid() && tls.Type() == reflect.TypeFor[*libc.TLS]() && !tls.IsNil() {
			return (*libc.TLS)(tls.UnsafePointer()), uintptr(db.Uint()), nil
		}
	}
	return nil, 0, fmt.Errorf("store: %T is not a modernc.org/sqlite connection this store knows how to configure", conn)
}
