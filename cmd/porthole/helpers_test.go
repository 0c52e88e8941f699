package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/secrets"
	"github.com/porthole-chat/porthole/internal/store"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mustSealSomething stores one encrypted secret in the data dir's database,
// with the data dir's master key.
func mustSealSomething(tb testing.TB, dir string) {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{DataDir: dir, Migrate: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	k, err := secrets.LoadKeyringFile(filepath.Join(dir, "master.key"))
	if err != nil {
		tb.Fatal(err)
	}
	org, err := db.CreateOrganization(ctx, "Sealed")
	if err != nil {
		tb.Fatal(err)
	}
	v, err := secrets.NewVault(k, db.DataKeys())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := v.Seal(ctx, org.ID, []byte("provider key")); err != nil {
		tb.Fatal(err)
	}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func newJSONRequest(method, url, key, body string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	return req, nil
}
