package dashboard_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/config"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// testPassword is every test member's password.
const testPassword = "correct horse battery staple 42"

// mustApp opens the real application on a fresh data directory.
func mustApp(tb testing.TB, args ...string) *app.App {
	tb.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f := config.RegisterFlags(fs)
	if err := fs.Parse(append([]string{"--data-dir", tb.TempDir()}, args...)); err != nil {
		tb.Fatal(err)
	}
	cfg, err := f.Load(func(string) string { return "" })
	if err != nil {
		tb.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatalf("app.Open: %v", err)
	}
	tb.Cleanup(func() { a.Close() })
	return a
}

// forEachDialect runs fn with an App on SQLite and, when configured, on
// PostgreSQL (where row-level security is a second wall).
func forEachDialect(t *testing.T, fn func(t *testing.T, a *app.App)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, mustApp(t)) })
	t.Run("postgres", func(t *testing.T) {
		fn(t, mustApp(t, "--database-url", storetest.MustPostgresSchemaURL(t)))
	})
}

// mustOrg creates an organization.
func mustOrg(tb testing.TB, a *app.App, name string) porthole.Organization {
	tb.Helper()
	org, err := a.DB.CreateOrganization(context.Background(), name)
	if err != nil {
		tb.Fatal(err)
	}
	return org
}

// mustMember creates a user with testPassword and makes it a member of org.
func mustMember(tb testing.TB, a *app.App, orgID, email string, role porthole.Role) porthole.User {
	tb.Helper()
	ctx := context.Background()
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		tb.Fatal(err)
	}
	u, err := a.DB.CreateUser(ctx, email, "", hash)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := a.DB.Tenant(orgID).AddMember(ctx, u.ID, role); err != nil {
		tb.Fatal(err)
	}
	return u
}

// mustChatbot creates a chatbot directly in the store.
func mustChatbot(tb testing.TB, a *app.App, orgID, name string) porthole.Chatbot {
	tb.Helper()
	c, err := a.DB.Tenant(orgID).CreateChatbot(context.Background(), name)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// session is a browser stand-in: it keeps the session cookie and sends
// form posts the way a browser does for a same-origin form.
type session struct {
	h      http.Handler
	cookie *http.Cookie
}

// do sends one request. form != nil makes it a urlencoded POST; headers
// override the defaults.
func (s *session) do(tb testing.TB, method, path string, form url.Values, headers map[string]string) *httptest.ResponseRecorder {
	tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	req.RemoteAddr = "203.0.113.9:4000"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == http.MethodPost {
		req.Header.Set("Origin", "http://example.com")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if s.cookie != nil {
		req.AddCookie(s.cookie)
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

func (s *session) get(tb testing.TB, path string) *httptest.ResponseRecorder {
	tb.Helper()
	return s.do(tb, http.MethodGet, path, nil, nil)
}

func (s *session) post(tb testing.TB, path string, form url.Values) *httptest.ResponseRecorder {
	tb.Helper()
	return s.do(tb, http.MethodPost, path, form, nil)
}

// sessionCookie returns the session cookie a response set, or nil.
func sessionCookie(rec *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == auth.SessionCookieInsecure || c.Name == auth.SessionCookieSecure {
			return c
		}
	}
	return nil
}

// mustSignIn signs email in through the dashboard's form.
func mustSignIn(tb testing.TB, a *app.App, email string) *session {
	tb.Helper()
	s := &session{h: a.Handler()}
	rec := s.post(tb, "/app/sign-in", url.Values{"email": {email}, "password": {testPassword}})
	if rec.Code != http.StatusSeeOther {
		tb.Fatalf("sign in %s = %d; body %s", email, rec.Code, rec.Body)
	}
	s.cookie = sessionCookie(rec)
	if s.cookie == nil || s.cookie.Value == "" {
		tb.Fatalf("sign in %s set no session cookie", email)
	}
	return s
}

// wantStatus fails unless rec has the status.
func wantStatus(tb testing.TB, rec *httptest.ResponseRecorder, status int) {
	tb.Helper()
	if rec.Code != status {
		tb.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
}

// pageCase is one request of a permission table: who sends it and the
// status they must get.
type pageCase struct {
	name   string
	s      *session
	method string
	path   string
	form   url.Values
	want   int
}

// runPageCases sends each case as a subtest and checks its status and that
// the answer is a strict page.
func runPageCases(t *testing.T, cases []pageCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.s.do(t, tc.method, tc.path, tc.form, nil)
			wantStatus(t, rec, tc.want)
			checkStrictPage(t, tc.path, rec.Header(), rec.Body.String())
		})
	}
}
