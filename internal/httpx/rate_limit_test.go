package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

func TestRateLimit(t *testing.T) {
	emailKey := func(*http.Request) (string, bool) { return "login-email:ada@example.com", true }
	tests := []struct {
		name           string
		limiter        *fakeLimiter
		key            func(*http.Request) (string, bool)
		status         int
		wantCode       string
		wantRetryAfter string
		wantEvent      bool
		wantCalls      int
	}{
		{name: "allowed", limiter: &fakeLimiter{decision: porthole.Decision{Allowed: true, Remaining: 3}}, key: emailKey, status: 200, wantCalls: 1},
		{name: "denied rounds retry up", limiter: &fakeLimiter{decision: porthole.Decision{RetryAfter: 1500 * time.Millisecond}}, key: emailKey, status: 429, wantCode: porthole.ERATELIMITED, wantRetryAfter: "2", wantEvent: true, wantCalls: 1},
		{name: "denied whole seconds kept", limiter: &fakeLimiter{decision: porthole.Decision{RetryAfter: 30 * time.Second}}, key: emailKey, status: 429, wantCode: porthole.ERATELIMITED, wantRetryAfter: "30", wantEvent: true, wantCalls: 1},
		{name: "denied with no wait still says one second", limiter: &fakeLimiter{decision: porthole.Decision{}}, key: emailKey, status: 429, wantCode: porthole.ERATELIMITED, wantRetryAfter: "1", wantEvent: true, wantCalls: 1},
		{name: "limiter failure fails closed", limiter: &fakeLimiter{err: errors.New("redis: connection refused")}, key: emailKey, status: 503, wantCode: porthole.EUNAVAILABLE, wantCalls: 1},
		{name: "no key means not limited here", limiter: &fakeLimiter{}, key: func(*http.Request) (string, bool) { return "", false }, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := &eventLog{}
			logger, logs := newLogger()
			h := Chain(okHandler, AccessLog(logger),
				RateLimit(tt.limiter, porthole.Limit{N: 5, Window: time.Minute}, tt.key, events))
			rec := mustServe(t, h, httptest.NewRequest("POST", "/api/v1/login", nil))
			if tt.wantCode != "" {
				body := mustEnvelope(t, rec, tt.status, tt.wantCode)
				if strings.Contains(body.Message, "redis") {
					t.Fatalf("limiter error leaked: %q", body.Message)
				}
			} else if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.wantRetryAfter {
				t.Fatalf("Retry-After = %q, want %q", got, tt.wantRetryAfter)
			}
			if len(tt.limiter.keys) != tt.wantCalls {
				t.Fatalf("limiter called %d times, want %d", len(tt.limiter.keys), tt.wantCalls)
			}
			wantEvents := []string(nil)
			if tt.wantEvent {
				wantEvents = []string{porthole.SecRateLimited}
			}
			if !slices.Equal(events.kinds(), wantEvents) {
				t.Fatalf("events = %v, want %v", events.kinds(), wantEvents)
			}
			if tt.wantEvent {
				ev := events.events[0]
				raw, _ := json.Marshal(ev)
				if strings.Contains(string(raw), "ada@example.com") {
					t.Fatalf("event holds the raw key: %s", raw)
				}
				if ev.Data["key_kind"] != "login-email" || ev.IP != "192.0.2.1" {
					t.Fatalf("event = %s, want key_kind login-email and ip 192.0.2.1", raw)
				}
			}
			if strings.Contains(logs.String(), "ada@example.com") {
				t.Fatalf("raw key logged:\n%s", logs)
			}
		})
	}
}

func TestKeyKind(t *testing.T) {
	tests := []struct{ name, key, want string }{
		{name: "ip", key: "ip:1.2.3.4", want: "ip"},
		{name: "email kind", key: "login-email:a@b.c", want: "login-email"},
		{name: "no colon is never echoed", key: "a@b.c", want: "unknown"},
		{name: "email before colon is never echoed", key: "a@b.c:login", want: "unknown"},
		{name: "empty kind", key: ":x", want: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keyKind(tt.key); got != tt.want {
				t.Fatalf("keyKind(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

func TestClientIPKey(t *testing.T) {
	tests := []struct{ name, remoteAddr, want string }{
		{name: "IPv4", remoteAddr: "203.0.113.7:1000", want: "ip:203.0.113.7"},
		{name: "IPv6 keyed by its /64", remoteAddr: "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:1000", want: "ip:2001:db8:1:2::/64"},
		{name: "unknown peer", remoteAddr: "@", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tt.remoteAddr
			got, ok := ClientIPKey(req)
			if got != tt.want || ok != (tt.want != "") {
				t.Fatalf("ClientIPKey = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}
