package llm_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/assistant/llm"
)

// testKey is the provider key the fake servers expect; it is "sealed" by
// reversing it, which is enough to prove the provider opens it per request.
const testKey = "sk-test-123"

func seal(key string) []byte {
	b := []byte(key)
	slices.Reverse(b)
	return b
}

// keyOpener counts how often it is called.
type keyOpener struct{ calls atomic.Int64 }

func (o *keyOpener) open(_ context.Context, sealed []byte) ([]byte, error) {
	o.calls.Add(1)
	b := slices.Clone(sealed)
	slices.Reverse(b)
	return b, nil
}

// fastPolicy keeps retry waits short so tests stay quick.
var fastPolicy = llm.Policy{
	FirstTokenTimeout: 5 * time.Second,
	IdleTimeout:       5 * time.Second,
	MaxAttempts:       3,
	BaseDelay:         10 * time.Millisecond,
	MaxDelay:          40 * time.Millisecond,
	MaxRetryAfter:     2 * time.Second,
}

// upstream is a scripted provider server: each request runs the next
// handler of script (the last one repeats), and what it saw is recorded.
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	script   []http.HandlerFunc
	requests []recordedRequest
	// closed receives one value per request whose client went away before
	// the handler finished.
	closed chan struct{}
}

type recordedRequest struct {
	Path   string
	Query  string
	Header http.Header
	Body   map[string]any
}

func mustUpstream(tb testing.TB, script ...http.HandlerFunc) *upstream {
	tb.Helper()
	u := &upstream{script: script, closed: make(chan struct{}, 16)}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	tb.Cleanup(u.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	u.mu.Lock()
	n := len(u.requests)
	u.requests = append(u.requests, recordedRequest{Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: m})
	h := u.script[min(n, len(u.script)-1)]
	u.mu.Unlock()
	h(w, r)
	if r.Context().Err() != nil {
		u.closed <- struct{}{}
	}
}

func (u *upstream) recorded() []recordedRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.requests)
}

func (u *upstream) count() int { return len(u.recorded()) }

// waitClientGone blocks until a handler saw its client disconnect.
func (u *upstream) waitClientGone(tb testing.TB) {
	tb.Helper()
	select {
	case <-u.closed:
	case <-time.After(5 * time.Second):
		tb.Fatal("the upstream never saw the connection close")
	}
}

// untilClientGone is a handler tail that holds the response open until the
// client disconnects.
func untilClientGone(r *http.Request) {
	<-r.Context().Done()
}

func mustProvider(tb testing.TB, cfg llm.Config) (llm.Provider, *keyOpener) {
	tb.Helper()
	opener := &keyOpener{}
	if cfg.Policy == (llm.Policy{}) {
		cfg.Policy = fastPolicy
	}
	p, err := llm.NewProvider(context.Background(), cfg, opener.open)
	if err != nil {
		tb.Fatalf("NewProvider: %v", err)
	}
	return p, opener
}

func mustStream(tb testing.TB, ctx context.Context, p llm.Provider, req llm.Request) llm.Stream {
	tb.Helper()
	s, err := p.Stream(ctx, req)
	if err != nil {
		tb.Fatalf("Stream: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// collectEvents reads s to its end, failing on a hang.
func collectEvents(tb testing.TB, s llm.Stream) []llm.Event {
	tb.Helper()
	done := make(chan []llm.Event, 1)
	go func() {
		var evs []llm.Event
		for {
			ev, ok := s.Next()
			if !ok {
				done <- evs
				return
			}
			evs = append(evs, ev)
		}
	}()
	select {
	case evs := <-done:
		return evs
	case <-time.After(15 * time.Second):
		tb.Fatal("stream hung")
		return nil
	}
}

func lastEvent(tb testing.TB, evs []llm.Event) llm.Event {
	tb.Helper()
	if len(evs) == 0 {
		tb.Fatal("no events")
	}
	return evs[len(evs)-1]
}

func textOf(evs []llm.Event) string {
	var s string
	for _, ev := range evs {
		if ev.Kind == llm.EventText {
			s += ev.Text
		}
	}
	return s
}

func mustErrorEvent(tb testing.TB, evs []llm.Event, kind llm.ErrorKind) *llm.Error {
	tb.Helper()
	last := lastEvent(tb, evs)
	if last.Kind != llm.EventError {
		tb.Fatalf("last event is %v, want an error of kind %s (events %+v)", last.Kind, kind, evs)
	}
	if last.Err.Kind != kind {
		tb.Fatalf("error kind %s, want %s: %v", last.Err.Kind, kind, last.Err)
	}
	return last.Err
}

func ptr[T any](v T) *T { return &v }

var baseRequest = llm.Request{
	Messages: []llm.Message{{Role: llm.RoleUser, Text: "Do you ship to Spain?"}},
}
