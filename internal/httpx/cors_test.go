package httpx

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// mustCORS builds the CORS middleware or fails tb.
func mustCORS(tb testing.TB, origins []string, rec porthole.SecurityRecorder) Middleware {
	tb.Helper()
	mw, err := CORS(origins, rec)
	if err != nil {
		tb.Fatal(err)
	}
	return mw
}

func TestCORS(t *testing.T) {
	allowed := []string{"https://shop.example", "https://Admin.Example:443", "http://localhost:5173"}
	tests := []struct {
		name        string
		method      string
		origin      string // "-" means no Origin header
		host        string
		preflight   bool
		status      int
		wantACAO    string
		wantHandler bool
		wantEvent   bool
	}{
		{name: "no origin passes untouched", method: "GET", origin: "-", status: 200, wantHandler: true},
		{name: "listed origin simple request", method: "GET", origin: "https://shop.example", status: 200, wantACAO: "https://shop.example", wantHandler: true},
		{name: "listed origin normalized from config", method: "POST", origin: "https://admin.example", status: 200, wantACAO: "https://admin.example", wantHandler: true},
		{name: "listed origin with port", method: "GET", origin: "http://localhost:5173", status: 200, wantACAO: "http://localhost:5173", wantHandler: true},
		{name: "listed origin preflight", method: "OPTIONS", origin: "https://shop.example", preflight: true, status: 204, wantACAO: "https://shop.example"},
		{name: "unlisted origin preflight refused", method: "OPTIONS", origin: "https://evil.example", preflight: true, status: 403, wantEvent: true},
		{name: "null origin preflight refused", method: "OPTIONS", origin: "null", preflight: true, status: 403, wantEvent: true},
		{name: "unlisted origin simple request gets no CORS headers", method: "GET", origin: "https://evil.example", status: 200, wantHandler: true, wantEvent: true},
		{name: "null origin simple request gets no CORS headers", method: "POST", origin: "null", status: 200, wantHandler: true, wantEvent: true},
		{name: "scheme must match", method: "GET", origin: "http://shop.example", status: 200, wantHandler: true, wantEvent: true},
		{name: "port must match", method: "GET", origin: "https://shop.example:8443", status: 200, wantHandler: true, wantEvent: true},
		{name: "suffix trick refused", method: "GET", origin: "https://shop.example.evil.example", status: 200, wantHandler: true, wantEvent: true},
		{name: "same origin dashboard call passes without event", method: "POST", origin: "https://porthole.example", host: "porthole.example", status: 200, wantHandler: true},
		{name: "plain OPTIONS without request method is not a preflight", method: "OPTIONS", origin: "https://shop.example", status: 200, wantACAO: "https://shop.example", wantHandler: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := &eventLog{}
			called := false
			h := mustCORS(t, allowed, events)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				w.WriteHeader(http.StatusOK)
			}))
			req := httptest.NewRequest(tt.method, "https://porthole.example/api/v1/chatbots", nil)
			if tt.host != "" {
				req.Host = tt.host
			} else {
				req.Host = "api.porthole.example"
			}
			if tt.origin != "-" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.preflight {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
			}
			rec := mustServe(t, h, req)
			if tt.status == 403 {
				mustEnvelope(t, rec, 403, porthole.EFORBIDDEN)
			} else if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.status)
			}
			if called != tt.wantHandler {
				t.Fatalf("handler called = %v, want %v", called, tt.wantHandler)
			}
			hdr := rec.Header()
			if got := hdr.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
				t.Fatalf("Access-Control-Allow-Origin = %q, want %q", got, tt.wantACAO)
			}
			if tt.wantACAO != "" {
				if hdr.Get("Access-Control-Allow-Credentials") != "true" || !slices.Contains(hdr.Values("Vary"), "Origin") {
					t.Fatalf("allowed response lacks credentials or Vary: %v", hdr)
				}
			} else if hdr.Get("Access-Control-Allow-Credentials") != "" || hdr.Get("Access-Control-Allow-Methods") != "" {
				t.Fatalf("refused response carries CORS headers: %v", hdr)
			}
			if tt.preflight && tt.status == 204 {
				want := map[string]string{
					"Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE",
					"Access-Control-Allow-Headers": "Authorization, Content-Type, X-Request-Id",
					"Access-Control-Max-Age":       "600",
				}
				for name, v := range want {
					if hdr.Get(name) != v {
						t.Errorf("%s = %q, want %q", name, hdr.Get(name), v)
					}
				}
			}
			wantEvents := []string(nil)
			if tt.wantEvent {
				wantEvents = []string{porthole.SecCORSRefused}
			}
			if !slices.Equal(events.kinds(), wantEvents) {
				t.Fatalf("events = %v, want %v", events.kinds(), wantEvents)
			}
		})
	}
}

func TestCORSRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		origin string
	}{
		{name: "wildcard", origin: "*"},
		{name: "null", origin: "null"},
		{name: "subdomain wildcard", origin: "https://*.example.com"},
		{name: "path", origin: "https://shop.example/app"},
		{name: "query", origin: "https://shop.example?x=1"},
		{name: "userinfo", origin: "https://user@shop.example"},
		{name: "other scheme", origin: "ftp://shop.example"},
		{name: "no scheme", origin: "shop.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := CORS([]string{"https://ok.example", tt.origin}, nil); err == nil {
				t.Fatalf("CORS accepted %q", tt.origin)
			}
		})
	}
}

func TestParseOrigin(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "lower-cased", in: "HTTPS://Shop.Example", want: "https://shop.example"},
		{name: "default https port dropped", in: "https://shop.example:443", want: "https://shop.example"},
		{name: "default http port dropped", in: "http://shop.example:80/", want: "http://shop.example"},
		{name: "other port kept", in: "https://shop.example:8443", want: "https://shop.example:8443"},
		{name: "IPv6 host", in: "http://[::1]:8080", want: "http://[::1]:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOrigin(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("ParseOrigin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
