package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/porthole-chat/porthole/internal/api"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/ratelimit"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

type accountEnv struct {
	srv    *httptest.Server
	db     *store.DB
	svc    *auth.Service
	mu     sync.Mutex
	events []porthole.SecurityEvent
}

func mustAccountEnv(tb testing.TB) *accountEnv {
	tb.Helper()
	env := &accountEnv{db: storetest.MustOpenSQLite(tb)}
	rec := porthole.SecurityRecorderFunc(func(_ context.Context, ev porthole.SecurityEvent) {
		env.mu.Lock()
		env.events = append(env.events, ev)
		env.mu.Unlock()
	})
	svc, err := auth.New(context.Background(), auth.Config{PublicURL: "https://porthole.example", ServerKey: bytes.Repeat([]byte{7}, 32)},
		auth.Deps{DB: env.db, Limiter: ratelimit.NewMemory(), Recorder: rec})
	if err != nil {
		tb.Fatal(err)
	}
	env.svc = svc
	mux := http.NewServeMux()
	api.NewServer(env.db, api.Authenticators{api.AccountAuthenticator{Accounts: svc}}, rec).Register(mux)
	mux.Handle("GET /.well-known/jwks.json", api.JWKSHandler(svc))
	env.srv = httptest.NewServer(mux)
	tb.Cleanup(env.srv.Close)
	return env
}

func (e *accountEnv) eventCount(kind string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.events {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// do sends a request with an optional JSON body, cookie and bearer token.
func (e *accountEnv) do(tb testing.TB, method, path string, body any, cookie *http.Cookie, bearer string) (*http.Response, string) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (e *accountEnv) mustOwner(tb testing.TB, email string) (porthole.User, porthole.Organization) {
	tb.Helper()
	u, org, err := e.svc.CreateOwner(context.Background(), email, "", "tangerine-bicycle-42", "Org of "+email)
	if err != nil {
		tb.Fatal(err)
	}
	return u, org
}

func (e *accountEnv) mustLogin(tb testing.TB, email string) (*http.Cookie, string) {
	tb.Helper()
	resp, body := e.do(tb, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": "tangerine-bicycle-42"}, nil, "")
	if resp.StatusCode != 200 {
		tb.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	_ = json.Unmarshal([]byte(body), &tok)
	if tok.AccessToken == "" || tok.ExpiresIn != 900 {
		tb.Fatalf("login body %s", body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == auth.SessionCookieSecure {
			return c, tok.AccessToken
		}
	}
	tb.Fatalf("no session cookie in %v", resp.Header["Set-Cookie"])
	return nil, ""
}

func TestAccountPermissionNamesMatchTheTable(t *testing.T) {
	if auth.PermSelf != "account:self" || auth.PermAny != "account:any" {
		t.Fatal("routes.go spells the account permissions as literals; keep them equal to auth.PermSelf and auth.PermAny")
	}
}

func TestAccountsOverHTTP(t *testing.T) {
	env := mustAccountEnv(t)
	env.mustOwner(t, "owner@example.com")
	_, other := env.mustOwner(t, "rival@example.com")

	resp, _ := env.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": "owner@example.com", "password": "tangerine-bicycle-42"}, nil, "")
	setCookie := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"__Host-porthole_session=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(setCookie, want) {
			t.Fatalf("Set-Cookie %q lacks %q", setCookie, want)
		}
	}
	if strings.Contains(setCookie, "Domain=") {
		t.Fatalf("__Host- cookie with a Domain: %q", setCookie)
	}

	cookie, token := env.mustLogin(t, "owner@example.com")
	for _, cred := range []struct {
		name   string
		cookie *http.Cookie
		bearer string
	}{{"cookie", cookie, ""}, {"access token", nil, token}} {
		resp, body := env.do(t, "GET", "/api/v1/me", nil, cred.cookie, cred.bearer)
		if resp.StatusCode != 200 || !strings.Contains(body, `"role":"owner"`) || !strings.Contains(body, "owner@example.com") {
			t.Fatalf("/me by %s: %d %s", cred.name, resp.StatusCode, body)
		}
	}

	// API key: created once, usable as Bearer, 401 once revoked.
	resp, body := env.do(t, "POST", "/api/v1/api-keys", map[string]any{"name": "CI", "scopes": []string{"members:read"}}, cookie, "")
	if resp.StatusCode != 201 {
		t.Fatalf("create key: %d %s", resp.StatusCode, body)
	}
	var created struct {
		Key    string          `json:"key"`
		APIKey porthole.APIKey `json:"api_key"`
	}
	_ = json.Unmarshal([]byte(body), &created)
	if resp, body := env.do(t, "GET", "/api/v1/members", nil, nil, created.Key); resp.StatusCode != 200 || !strings.Contains(body, "owner@example.com") {
		t.Fatalf("members by key: %d %s", resp.StatusCode, body)
	}
	if resp, _ := env.do(t, "GET", "/api/v1/api-keys", nil, nil, created.Key); resp.StatusCode != 403 {
		t.Fatalf("key beyond its scopes: %d", resp.StatusCode)
	}
	if env.eventCount(porthole.SecAuthorizationFailed) == 0 {
		t.Fatal("403 without a security event")
	}
	if resp, _ := env.do(t, "DELETE", "/api/v1/api-keys/"+created.APIKey.ID, nil, cookie, ""); resp.StatusCode != 204 {
		t.Fatalf("revoke key: %d", resp.StatusCode)
	}
	if resp, _ := env.do(t, "GET", "/api/v1/members", nil, nil, created.Key); resp.StatusCode != 401 {
		t.Fatalf("revoked key: %d", resp.StatusCode)
	}

	// Another tenant's ids answer 404.
	rivalMembers, _ := env.db.Tenant(other.ID).Members(context.Background())
	if resp, _ := env.do(t, "PATCH", "/api/v1/members/"+rivalMembers[0].UserID, map[string]string{"role": "viewer"}, cookie, ""); resp.StatusCode != 404 {
		t.Fatalf("other tenant's member: %d", resp.StatusCode)
	}

	// JWKS.
	if resp, body := env.do(t, "GET", "/.well-known/jwks.json", nil, nil, ""); resp.StatusCode != 200 || !strings.Contains(body, `"alg":"RS256"`) {
		t.Fatalf("jwks: %d %s", resp.StatusCode, body)
	}

	// Logout kills the cookie and its token server-side.
	if resp, _ := env.do(t, "POST", "/api/v1/auth/logout", nil, cookie, ""); resp.StatusCode != 204 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	for _, cred := range []struct {
		cookie *http.Cookie
		bearer string
	}{{cookie, ""}, {nil, token}} {
		if resp, _ := env.do(t, "GET", "/api/v1/me", nil, cred.cookie, cred.bearer); resp.StatusCode != 401 {
			t.Fatalf("old credentials after logout: %d", resp.StatusCode)
		}
	}
}

func TestLoginLockoutOverHTTPLooksTheSame(t *testing.T) {
	env := mustAccountEnv(t)
	env.mustOwner(t, "known@example.com")
	attempt := func(email string) (int, string) {
		resp, body := env.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": "wrong-password-123"}, nil, "")
		return resp.StatusCode, body
	}
	var known, unknown []string
	for i := 0; i < 6; i++ {
		s1, b1 := attempt("known@example.com")
		s2, b2 := attempt("unknown@example.com")
		known = append(known, http.StatusText(s1)+" "+b1)
		unknown = append(unknown, http.StatusText(s2)+" "+b2)
	}
	for i := range known {
		if known[i] != unknown[i] {
			t.Fatalf("attempt %d: known %q, unknown %q", i+1, known[i], unknown[i])
		}
	}
	if !strings.HasPrefix(known[5], "Too Many Requests") {
		t.Fatalf("sixth attempt: %q", known[5])
	}
	if env.eventCount(porthole.SecLockout) != 2 {
		t.Fatalf("lockout events = %d", env.eventCount(porthole.SecLockout))
	}
	if resp, body := env.do(t, "POST", "/api/v1/auth/password-reset", map[string]string{"email": "unknown@example.com"}, nil, ""); resp.StatusCode != 202 {
		t.Fatalf("reset request: %d %s", resp.StatusCode, body)
	}
	if resp, _ := env.do(t, "POST", "/api/v1/auth/login", map[string]any{"email": "x@example.com", "password": "p", "admin": true}, nil, ""); resp.StatusCode != 400 {
		t.Fatalf("unknown field: %d", resp.StatusCode)
	}
}
