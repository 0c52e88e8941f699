package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// eventLog is a SecurityRecorder that keeps what it is given.
type eventLog struct {
	mu     sync.Mutex
	events []porthole.SecurityEvent
}

func (l *eventLog) RecordSecurityEvent(_ context.Context, ev porthole.SecurityEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

func (l *eventLog) kinds() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var kinds []string
	for _, ev := range l.events {
		kinds = append(kinds, ev.Kind)
	}
	return kinds
}

// fakeLimiter answers with a fixed decision or error and remembers keys.
type fakeLimiter struct {
	decision porthole.Decision
	err      error
	keys     []string
}

func (f *fakeLimiter) Allow(_ context.Context, key string, _ porthole.Limit, _ int64) (porthole.Decision, error) {
	f.keys = append(f.keys, key)
	return f.decision, f.err
}

// okHandler answers 200 {"ok":true}.
var okHandler = HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	return WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
})

// newLogger returns a JSON logger writing to the returned buffer.
func newLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// mustServe runs h on req and returns the recorded response.
func mustServe(tb testing.TB, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// mustEnvelope decodes the error envelope of rec and checks status and code.
func mustEnvelope(tb testing.TB, rec *httptest.ResponseRecorder, status int, code string) ErrorBody {
	tb.Helper()
	if rec.Code != status {
		tb.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var env ErrorEnvelope
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		tb.Fatalf("body %q is not an error envelope: %v", rec.Body, err)
	}
	if env.Error.Code != code {
		tb.Fatalf("code = %q, want %q (message %q)", env.Error.Code, code, env.Error.Message)
	}
	if env.Error.Message == "" {
		tb.Fatalf("empty message in %s", rec.Body)
	}
	return env.Error
}

// mustLogLines parses a JSON log buffer into records.
func mustLogLines(tb testing.TB, buf *bytes.Buffer) []map[string]any {
	tb.Helper()
	var lines []map[string]any
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			tb.Fatalf("log is not JSON lines: %v\n%s", err, buf)
		}
		lines = append(lines, m)
	}
	return lines
}
