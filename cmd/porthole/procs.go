package main

import (
	"log/slog"
	"os"
	"runtime"

	"github.com/porthole-chat/porthole/internal/store"
)

// serveProcs decides how many Ps (GOMAXPROCS) the server runs with, or 0
// to leave the runtime's choice. On SQLite the store runs transactions on
// threads of its own (internal/store/sqlite_threads.go), and a store
// thread holds a P while it works; one P more than the runtime's default
// keeps that many for the rest of the server (the sockets, the turns
// reading their providers) while a transaction runs. With the store
// threads but without the extra P, or with the extra P alone, the p99 per
// streamed token did not move; with both it halved (docs/benchmarks.md,
// "Eleventh session"). GOMAXPROCS in the environment is the operator's
// choice, which the runtime has applied already, and is kept; PostgreSQL
// does its work in its own processes.
func serveProcs(lookupEnv func(string) (string, bool), dialect store.Dialect, current int) int {
	if _, set := lookupEnv("GOMAXPROCS"); set || dialect != store.SQLite {
		return 0
	}
	return current + 1
}

// tuneProcs applies serveProcs before the store opens (its thread count
// follows GOMAXPROCS) and says what it set.
func tuneProcs(logger *slog.Logger, databaseURL, dataDir string) {
	t, err := store.ParseURL(databaseURL, dataDir)
	if err != nil {
		return // the store's own open reports it
	}
	n := serveProcs(os.LookupEnv, t.Dialect, runtime.GOMAXPROCS(0))
	if n == 0 {
		return
	}
	runtime.GOMAXPROCS(n)
	logger.Info("one P more for the SQLite store's threads (GOMAXPROCS overrides)", "gomaxprocs", n)
}
