package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/porthole-chat/porthole/internal/store"
)

// lookupIn is os.LookupEnv over vars instead of the process's environment.
func lookupIn(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestCollectorSettings(t *testing.T) {
	v2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(v2, "memory.max"), []byte("1073741824\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unlimited := t.TempDir()
	if err := os.WriteFile(filepath.Join(unlimited, "memory.max"), []byte("max\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v1 := t.TempDir()
	if err := os.MkdirAll(filepath.Join(v1, "memory"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v1, "memory", "memory.limit_in_bytes"), []byte("2147483648\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v1none := t.TempDir()
	if err := os.MkdirAll(filepath.Join(v1none, "memory"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v1none, "memory", "memory.limit_in_bytes"), []byte("9223372036854771712\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		vars    map[string]string
		root    string
		percent int
		limit   int64
	}{
		{"container v2", nil, v2, serveGCPercent, 966367641},
		{"container v1", nil, v1, serveGCPercent, 1932735283},
		{"no limit", nil, unlimited, serveGCPercent, 0},
		{"v1 without a limit", nil, v1none, serveGCPercent, 0},
		{"no cgroup", nil, filepath.Join(v2, "absent"), serveGCPercent, 0},
		{"operator's GOGC", map[string]string{"GOGC": "100"}, v2, -1, 0},
		{"operator's GOGC=off", map[string]string{"GOGC": "off"}, v2, -1, 0},
		{"operator's GOMEMLIMIT", map[string]string{"GOMEMLIMIT": "512MiB"}, v2, serveGCPercent, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			percent, limit := collectorSettings(lookupIn(c.vars), c.root)
			if percent != c.percent || limit != c.limit {
				t.Fatalf("collectorSettings = %d, %d; want %d, %d", percent, limit, c.percent, c.limit)
			}
		})
	}
}

func TestServeProcs(t *testing.T) {
	cases := []struct {
		name    string
		vars    map[string]string
		dialect store.Dialect
		want    int
	}{
		{"SQLite: one P for the store's threads", nil, store.SQLite, 3},
		{"operator's GOMAXPROCS", map[string]string{"GOMAXPROCS": "2"}, store.SQLite, 0},
		{"PostgreSQL", nil, store.Postgres, 0},
	}
	for _, c := range cases {
		if got := serveProcs(lookupIn(c.vars), c.dialect, 2); got != c.want {
			t.Errorf("%s: %d Ps, want %d", c.name, got, c.want)
		}
	}
}
