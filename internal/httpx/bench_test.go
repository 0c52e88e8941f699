package httpx

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// benchMux is a ServeMux with one JSON handler, the baseline both benchmarks
// share.
func benchMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/ping", HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	return mux
}

// benchRequest is an API call from an allowed origin through a trusted proxy.
func benchRequest() *http.Request {
	req := httptest.NewRequest("GET", "/api/v1/ping?page=2", nil)
	req.RemoteAddr = "10.0.0.1:40000"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("Origin", "https://shop.example")
	return req
}

func BenchmarkBareMux(b *testing.B) {
	h := benchMux()
	req := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

func BenchmarkMiddlewareStack(b *testing.B) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	cors, err := CORS([]string{"https://shop.example"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	allow := &allowLimiter{}
	h := Chain(benchMux(),
		Recover(logger),
		RequestIDs,
		AccessLog(logger),
		ClientIPs([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}),
		SecurityHeaders(SecurityHeaderOptions{HTTPS: true}),
		BodyLimit(1<<20),
		RejectDuplicateQuery(nil),
		cors,
		RateLimit(allow, porthole.Limit{N: 1000, Window: time.Minute}, ClientIPKey, nil),
	)
	req := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// allowLimiter allows everything, so the benchmark measures the middleware,
// not a limiter.
type allowLimiter struct{}

func (allowLimiter) Allow(_ context.Context, _ string, _ porthole.Limit, _ int64) (porthole.Decision, error) {
	return porthole.Decision{Allowed: true}, nil
}
