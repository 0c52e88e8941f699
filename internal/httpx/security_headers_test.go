package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSecurityHeaders(t *testing.T) {
	base := map[string]string{
		"X-Content-Type-Options":     "nosniff",
		"Referrer-Policy":            "strict-origin-when-cross-origin",
		"Content-Security-Policy":    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		"Cross-Origin-Opener-Policy": "same-origin",
		"X-Frame-Options":            "DENY",
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/ping", okHandler)
	tests := []struct {
		name     string
		https    bool
		path     string
		status   int
		wantHSTS string
	}{
		{name: "api response over http", path: "/api/v1/ping", status: 200},
		{name: "api response with https public url", https: true, path: "/api/v1/ping", status: 200, wantHSTS: "max-age=63072000; includeSubDomains"},
		{name: "not found response", path: "/nowhere", status: 404},
		{name: "error envelope with https", https: true, path: "/api/v1/ping?a=1&a=2", status: 400, wantHSTS: "max-age=63072000; includeSubDomains"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Chain(mux, SecurityHeaders(SecurityHeaderOptions{HTTPS: tt.https}), RejectDuplicateQuery(nil))
			rec := mustServe(t, h, httptest.NewRequest("GET", tt.path, nil))
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.status)
			}
			for name, want := range base {
				if got := rec.Header().Values(name); len(got) != 1 || got[0] != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if got := rec.Header().Get("Strict-Transport-Security"); got != tt.wantHSTS {
				t.Errorf("Strict-Transport-Security = %q, want %q", got, tt.wantHSTS)
			}
		})
	}
}

func TestSecurityHeadersHandlerOverride(t *testing.T) {
	const frameCSP = "default-src 'none'; script-src 'self'; frame-ancestors https://shop.example"
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantCSP string
		wantXFO string
	}{
		{
			name: "dashboard page sets its CSP",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Security-Policy", DashboardCSP)
				_, _ = w.Write([]byte("<!doctype html>"))
			},
			wantCSP: DashboardCSP, wantXFO: "DENY",
		},
		{
			name: "widget frame allows its embedders",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Security-Policy", frameCSP)
				w.Header().Del("X-Frame-Options")
				_, _ = w.Write([]byte("<!doctype html>"))
			},
			wantCSP: frameCSP, wantXFO: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := mustServe(t, SecurityHeaders(SecurityHeaderOptions{})(tt.handler), httptest.NewRequest("GET", "/", nil))
			if got := rec.Header().Values("Content-Security-Policy"); len(got) != 1 || got[0] != tt.wantCSP {
				t.Errorf("CSP = %q, want %q", got, tt.wantCSP)
			}
			if got := rec.Header().Get("X-Frame-Options"); got != tt.wantXFO {
				t.Errorf("X-Frame-Options = %q, want %q", got, tt.wantXFO)
			}
		})
	}
}

func TestPoliciesHaveNoUnsafeSources(t *testing.T) {
	for name, policy := range map[string]string{"DefaultCSP": DefaultCSP, "DashboardCSP": DashboardCSP} {
		if strings.Contains(policy, "unsafe-") {
			t.Errorf("%s allows an unsafe source: %s", name, policy)
		}
		if !strings.Contains(policy, "frame-ancestors 'none'") {
			t.Errorf("%s can be framed: %s", name, policy)
		}
	}
}
