package app_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/config"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// mustConfig builds a Config the way main does, from flags.
func mustConfig(tb testing.TB, args ...string) *config.Config {
	tb.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f := config.RegisterFlags(fs)
	if err := fs.Parse(append([]string{"--data-dir", tb.TempDir()}, args...)); err != nil {
		tb.Fatal(err)
	}
	c, err := f.Load(func(string) string { return "" })
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func mustOpen(tb testing.TB, cfg *config.Config) *app.App {
	tb.Helper()
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatalf("app.Open: %v", err)
	}
	tb.Cleanup(func() { a.Close() })
	return a
}

// forEachDialect runs fn with an App on SQLite and, when configured, on PostgreSQL.
func forEachDialect(t *testing.T, fn func(t *testing.T, a *app.App)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, mustOpen(t, mustConfig(t))) })
	t.Run("postgres", func(t *testing.T) {
		fn(t, mustOpen(t, mustConfig(t, "--database-url", storetest.MustPostgresSchemaURL(t))))
	})
}

type tenantFixture struct {
	orgID, chatbotID, originID string
	fullKey, readKey           string
}

func mustTenant(tb testing.TB, a *app.App, name string) tenantFixture {
	tb.Helper()
	ctx := context.Background()
	org, err := a.DB.CreateOrganization(ctx, name)
	if err != nil {
		tb.Fatal(err)
	}
	tn := a.DB.Tenant(org.ID)
	bot, err := tn.CreateChatbot(ctx, name+" bot")
	if err != nil {
		tb.Fatal(err)
	}
	o, err := tn.AddOrigin(ctx, "https://"+strings.ToLower(name)+".example")
	if err != nil {
		tb.Fatal(err)
	}
	mk := func(scopes []string) string {
		key, prefix, hash := auth.NewAPIKey(org.ID)
		if _, err := tn.CreateAPIKey(ctx, porthole.APIKey{Name: "k", Prefix: prefix, Scopes: scopes}, hash); err != nil {
			tb.Fatal(err)
		}
		return key
	}
	return tenantFixture{orgID: org.ID, chatbotID: bot.ID, originID: o.ID,
		fullKey: mk([]string{"organization:write", "chatbots:write", "origins:write", "settings:write", "security_events:read"}),
		readKey: mk([]string{"chatbots:read"})}
}

type scenario struct {
	name       string
	method     string
	url        string
	key        string
	body       string
	headers    map[string]string
	wantStatus int
	wantBody   []string // substrings of the body
	notBody    []string
}

func runScenarios(t *testing.T, h http.Handler, scenarios []scenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var body io.Reader
			if sc.body != "" {
				body = strings.NewReader(sc.body)
			}
			req := httptest.NewRequest(sc.method, sc.url, body)
			req.RemoteAddr = "198.51.100.7:5555"
			if sc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if sc.key != "" {
				req.Header.Set("Authorization", "Bearer "+sc.key)
			}
			for k, v := range sc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != sc.wantStatus {
				t.Fatalf("%s %s = %d, want %d; body %s", sc.method, sc.url, rec.Code, sc.wantStatus, rec.Body)
			}
			for _, want := range sc.wantBody {
				if !strings.Contains(rec.Body.String(), want) {
					t.Fatalf("body %s does not contain %q", rec.Body, want)
				}
			}
			for _, not := range sc.notBody {
				if strings.Contains(rec.Body.String(), not) {
					t.Fatalf("body %s contains %q", rec.Body, not)
				}
			}
			if rec.Code >= 400 && rec.Code != 429 {
				var env struct {
					Error struct{ Code, Message string } `json:"error"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Error.Code == "" {
					t.Fatalf("error body %s is not the envelope", rec.Body)
				}
			}
		})
	}
}

func TestAPIScenarios(t *testing.T) {
	forEachDialect(t, func(t *testing.T, a *app.App) {
		A, B := mustTenant(t, a, "Alpha"), mustTenant(t, a, "Beta")
		h := a.Handler()
		runScenarios(t, h, []scenario{
			{name: "openapi is public", method: "GET", url: "/api/v1/openapi.json", wantStatus: 200, wantBody: []string{`"openapi": "3.1.0"`}},
			{name: "no credentials", method: "GET", url: "/api/v1/chatbots", wantStatus: 401, wantBody: []string{`"unauthorized"`}},
			{name: "junk key", method: "GET", url: "/api/v1/chatbots", key: "ph_nonsense", wantStatus: 401},
			{name: "list own chatbots", method: "GET", url: "/api/v1/chatbots", key: A.fullKey, wantStatus: 200,
				wantBody: []string{A.chatbotID}, notBody: []string{B.chatbotID}},
			{name: "other tenant's chatbot is 404", method: "GET", url: "/api/v1/chatbots/" + B.chatbotID, key: A.fullKey, wantStatus: 404},
			{name: "other tenant's chatbot cannot be renamed", method: "PATCH", url: "/api/v1/chatbots/" + B.chatbotID, key: A.fullKey,
				body: `{"name":"pwned"}`, wantStatus: 404},
			{name: "other tenant's chatbot cannot be deleted", method: "DELETE", url: "/api/v1/chatbots/" + B.chatbotID, key: A.fullKey, wantStatus: 404},
			{name: "other tenant's origin cannot be removed", method: "DELETE", url: "/api/v1/origins/" + B.originID, key: A.fullKey, wantStatus: 404},
			{name: "read key cannot write", method: "POST", url: "/api/v1/chatbots", key: A.readKey, body: `{"name":"x"}`, wantStatus: 403,
				wantBody: []string{"chatbots:write"}},
			{name: "read key cannot read origins", method: "GET", url: "/api/v1/origins", key: A.readKey, wantStatus: 403},
			{name: "create chatbot", method: "POST", url: "/api/v1/chatbots", key: A.fullKey, body: `{"name":"<b>Sales</b>"}`, wantStatus: 201,
				wantBody: []string{`\u003cb\u003eSales`}},
			{name: "unknown field", method: "POST", url: "/api/v1/chatbots", key: A.fullKey, body: `{"name":"x","admin":true}`, wantStatus: 400},
			{name: "malformed json", method: "POST", url: "/api/v1/chatbots", key: A.fullKey, body: `{"name":`, wantStatus: 400},
			{name: "empty name", method: "POST", url: "/api/v1/chatbots", key: A.fullKey, body: `{"name":"  "}`, wantStatus: 400},
			{name: "bad origin", method: "POST", url: "/api/v1/origins", key: A.fullKey, body: `{"origin":"javascript:alert(1)"}`, wantStatus: 400},
			{name: "duplicate origin", method: "POST", url: "/api/v1/origins", key: A.fullKey, body: `{"origin":"https://alpha.example"}`, wantStatus: 409},
			{name: "retention zero refused", method: "PUT", url: "/api/v1/settings", key: A.fullKey,
				body: `{"message_retention_days":0,"audit_payload_retention_days":30}`, wantStatus: 400, wantBody: []string{"message_retention_days"}},
			{name: "retention negative refused", method: "PUT", url: "/api/v1/settings", key: A.fullKey,
				body: `{"message_retention_days":-1,"audit_payload_retention_days":30}`, wantStatus: 400},
			{name: "retention set", method: "PUT", url: "/api/v1/settings", key: A.fullKey,
				body: `{"message_retention_days":90,"audit_payload_retention_days":30}`, wantStatus: 200, wantBody: []string{`"message_retention_days":90`}},
			{name: "duplicate query parameter", method: "GET", url: "/api/v1/security-events?limit=1&limit=1000", key: A.fullKey, wantStatus: 400},
			{name: "unknown route", method: "GET", url: "/api/v1/nope", key: A.fullKey, wantStatus: 404},
			{name: "cors from unlisted origin refused", method: "OPTIONS", url: "/api/v1/chatbots",
				headers: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}, wantStatus: 403},
			{name: "security events show the refusals", method: "GET", url: "/api/v1/security-events", key: A.fullKey, wantStatus: 200,
				wantBody: []string{porthole.SecAuthorizationFailed}},
		})
	})
}

func TestBaselineHeaders(t *testing.T) {
	a := mustOpen(t, mustConfig(t, "--public-url", "https://chat.example.com"))
	for _, path := range []string{"/healthz", "/api/v1/openapi.json", "/api/v1/chatbots", "/nope"} {
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		h := rec.Header()
		csp := h.Get("Content-Security-Policy")
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" ||
			!strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-") ||
			!strings.HasPrefix(h.Get("Strict-Transport-Security"), "max-age=") || h.Get("Cross-Origin-Opener-Policy") == "" ||
			h.Get("X-Request-Id") == "" {
			t.Fatalf("%s headers = %v", path, h)
		}
	}
	plain := mustOpen(t, mustConfig(t))
	rec := httptest.NewRecorder()
	plain.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Header().Get("Strict-Transport-Security") != "" {
		t.Fatal("HSTS sent for a plain-http public URL")
	}
}

func TestReadyz(t *testing.T) {
	a := mustOpen(t, mustConfig(t))
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 {
		t.Fatalf("readyz = %d %s", rec.Code, rec.Body)
	}
	a.DB.Close()
	rec = httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "unreachable") {
		t.Fatalf("readyz with a closed store = %d %s", rec.Code, rec.Body)
	}
}

func TestAPIRateLimitPerIP(t *testing.T) {
	a := mustOpen(t, mustConfig(t))
	var last *httptest.ResponseRecorder
	for i := 0; i < 601; i++ {
		last = httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/v1/openapi.json", nil)
		req.RemoteAddr = "203.0.113.50:1234"
		a.Handler().ServeHTTP(last, req)
	}
	if last.Code != 429 || last.Header().Get("Retry-After") == "" {
		t.Fatalf("601st request = %d, Retry-After %q", last.Code, last.Header().Get("Retry-After"))
	}
	// Another client is unaffected.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/v1/openapi.json", nil)
	req.RemoteAddr = "203.0.113.51:1234"
	a.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("other client = %d", rec.Code)
	}
}

// TestAPICrossOriginProtection: a browser on another origin cannot make a
// signed-in member's browser change state through the API; the operator's
// CORS origins and programs without browser headers can.
func TestAPICrossOriginProtection(t *testing.T) {
	a := mustOpen(t, mustConfig(t, "--cors-origins", "https://admin.example"))
	A := mustTenant(t, a, "Alpha")
	tests := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"foreign site", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"foreign origin without fetch metadata", map[string]string{"Origin": "https://evil.example"}, 403},
		{"listed CORS origin", map[string]string{"Origin": "https://admin.example", "Sec-Fetch-Site": "cross-site"}, 201},
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, 201},
		{"program without browser headers", nil, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runScenarios(t, a.Handler(), []scenario{{name: tt.name, method: "POST", url: "/api/v1/chatbots", key: A.fullKey,
				body: `{"name":"x"}`, headers: tt.headers, wantStatus: tt.want}})
		})
	}
}

func TestJWKSPublishesOnlyPublicRSAKeys(t *testing.T) {
	a := mustOpen(t, mustConfig(t))
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &set) != nil || len(set.Keys) == 0 {
		t.Fatalf("jwks = %d %s", rec.Code, rec.Body)
	}
	for _, k := range set.Keys {
		if k["kty"] != "RSA" || k["kid"] == "" || k["alg"] != "RS256" || k["n"] == nil {
			t.Fatalf("key %v", k)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS leaks private member %q", private)
			}
		}
	}
}
