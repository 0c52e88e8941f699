package llmtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"
)

// TokenStream is a fake OpenAI-compatible chat completions endpoint that
// answers every request with Tokens text chunks, Interval apart, then a
// finish chunk, a usage chunk and [DONE]. It stops when the client goes away.
// It is an http.Handler for any path ending in /chat/completions.
type TokenStream struct {
	// Tokens is the number of text chunks per reply.
	Tokens int
	// Interval is the gap between chunks; 0 sends them back to back.
	Interval time.Duration
	// Token is the text of each chunk; empty means "tok ".
	Token string

	requests atomic.Int64
	canceled atomic.Int64
}

// Requests returns how many completion requests were served.
func (ts *TokenStream) Requests() int64 { return ts.requests.Load() }

// Canceled returns how many replies stopped early because the client closed
// the connection.
func (ts *TokenStream) Canceled() int64 { return ts.canceled.Load() }

// ServeHTTP implements http.Handler.
func (ts *TokenStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.NotFound(w, r)
		return
	}
	ts.requests.Add(1)
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	token := ts.Token
	if token == "" {
		token = "tok "
	}
	chunk := OpenAIText(token) // encoded once: the server must not be the bottleneck
	sse := NewSSE(w)
	if sse.Data(OpenAIRole()) != nil {
		return
	}
	var tick *time.Ticker
	if ts.Interval > 0 {
		tick = time.NewTicker(ts.Interval)
		defer tick.Stop()
	}
	ctx := r.Context()
	for range ts.Tokens {
		if tick != nil {
			select {
			case <-ctx.Done():
				ts.canceled.Add(1)
				return
			case <-tick.C:
			}
		}
		if sse.Data(chunk) != nil {
			ts.canceled.Add(1)
			return
		}
	}
	_ = sse.Data(OpenAIFinish("stop"))
	_ = sse.Data(OpenAIUsage(10, ts.Tokens))
	_ = sse.Done()
}

// NewOpenAIServer starts a local server running ts. Its OpenAI base URL is
// the returned server's URL plus "/v1/". The caller closes the server.
func NewOpenAIServer(ts *TokenStream) *httptest.Server {
	return httptest.NewServer(ts)
}
