package httpx

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestAccessLog(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.Handler
		wantStatus float64
		wantBytes  float64
		wantLevel  string
		wantPanic  bool
	}{
		{name: "json response", handler: okHandler, wantStatus: 200, wantBytes: float64(len("{\"ok\":true}\n")), wantLevel: "INFO"},
		{name: "nothing written is 200", handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), wantStatus: 200, wantLevel: "INFO"},
		{name: "error status", handler: http.NotFoundHandler(), wantStatus: 404, wantBytes: float64(len("404 page not found\n")), wantLevel: "INFO"},
		{name: "panic logged as 500", handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("x") }), wantStatus: 500, wantLevel: "ERROR", wantPanic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, logs := newLogger()
			// Recover outermost and ClientIPs innermost: the access line still
			// gets the id and the forwarded client address.
			h := Chain(tt.handler, Recover(logger), RequestIDs, AccessLog(logger),
				ClientIPs([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}))
			req := httptest.NewRequest("GET", "/api/v1/chatbots?ticket=SECRET-TICKET&email=ada@example.com", nil)
			req.RemoteAddr = "10.1.2.3:5555"
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			req.Header.Set("Authorization", "Bearer SECRET-TOKEN")
			req.Header.Set("Cookie", "session=SECRET-COOKIE")
			req.Header.Set(RequestIDHeader, "log-req")
			mustServe(t, h, req)
			out := logs.String()
			for _, secret := range []string{"SECRET", "ada@example.com", "ticket"} {
				if strings.Contains(out, secret) {
					t.Fatalf("log holds %q:\n%s", secret, out)
				}
			}
			var access map[string]any
			for _, line := range mustLogLines(t, logs) {
				if line["msg"] == "request" {
					access = line
				}
			}
			if access == nil {
				t.Fatalf("no access line:\n%s", out)
			}
			want := map[string]any{
				"method": "GET", "path": "/api/v1/chatbots", "status": tt.wantStatus, "bytes": tt.wantBytes,
				"request_id": "log-req", "client_ip": "203.0.113.7", "level": tt.wantLevel,
			}
			for k, v := range want {
				if access[k] != v {
					t.Errorf("%s = %v, want %v", k, access[k], v)
				}
			}
			if _, ok := access["duration"]; !ok {
				t.Error("no duration")
			}
			if (access["panic"] == true) != tt.wantPanic {
				t.Errorf("panic = %v, want %v", access["panic"], tt.wantPanic)
			}
		})
	}
}
