package app_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// mustServe runs the app's services (the audit writer among them) until the
// test ends.
func mustServe(tb testing.TB, a *app.App) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln, nil) }()
	tb.Cleanup(func() { cancel(); <-done })
}

func mustKey(tb testing.TB, a *app.App, orgID string, scopes ...string) (key, id string) {
	tb.Helper()
	key, prefix, hash := auth.NewAPIKey(orgID)
	k, err := a.DB.Tenant(orgID).CreateAPIKey(context.Background(), porthole.APIKey{Name: "k", Prefix: prefix, Scopes: scopes}, hash)
	if err != nil {
		tb.Fatal(err)
	}
	return key, k.ID
}

func do(tb testing.TB, h http.Handler, method, url, key, body string) *httptest.ResponseRecorder {
	tb.Helper()
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, url, nil)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestAuditThroughTheAPI: a change made through the API is recorded with the
// key as its actor; an owner-scoped key exports a bundle that verifies
// offline against the pinned key and records the export; another tenant's
// log is out of reach; a key without the export permission is refused.
func TestAuditThroughTheAPI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, a *app.App) {
		mustServe(t, a)
		ctx := context.Background()
		org, _ := a.DB.CreateOrganization(ctx, "Alpha")
		other, _ := a.DB.CreateOrganization(ctx, "Beta")
		writer, writerID := mustKey(t, a, org.ID, "chatbots:write", "audit:read")
		exporter, _ := mustKey(t, a, org.ID, "audit_export:read")
		if _, err := a.DB.Tenant(other.ID).CreateChatbot(ctx, "beta secret bot"); err != nil {
			t.Fatal(err)
		}
		h := a.Handler()

		if rec := do(t, h, "POST", "/api/v1/chatbots", writer, `{"name":"Front desk"}`); rec.Code != 201 {
			t.Fatalf("create = %d %s", rec.Code, rec.Body)
		}
		rec := do(t, h, "GET", "/api/v1/audit/entries", writer, "")
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"action":"chatbot.create"`) ||
			!strings.Contains(rec.Body.String(), `"actor_id":"`+writerID+`"`) || !strings.Contains(rec.Body.String(), `POST /api/v1/chatbots`) {
			t.Fatalf("entries = %d %s", rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "beta secret bot") {
			t.Fatal("another tenant's entries are visible")
		}
		if rec := do(t, h, "GET", "/api/v1/audit/export", writer, ""); rec.Code != 403 {
			t.Fatalf("export without audit_export = %d", rec.Code)
		}

		rec = do(t, h, "GET", "/api/v1/audit/export", exporter, "")
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("export = %d %s", rec.Code, rec.Body)
		}
		bundle := rec.Body.Bytes()
		if bytes.Contains(bundle, []byte("beta secret bot")) {
			t.Fatal("the bundle holds another tenant's data")
		}
		rep, err := audit.Verify(bytes.NewReader(bundle), audit.VerifyOptions{PinnedKey: a.Checkpointer.VerifierKey()})
		if err != nil {
			t.Fatalf("exported bundle does not verify: %v", err)
		}
		if rep.OrgID != org.ID || rep.Entries < 4 {
			t.Fatalf("report = %+v", rep)
		}
		if !bytes.Contains(bundle, []byte(`"action":"audit.export"`)) {
			t.Fatal("the export is not recorded in the log it exports")
		}
		// A bundle from this server does not verify against another key.
		if _, err := audit.Verify(bytes.NewReader(bundle), audit.VerifyOptions{PinnedKey: "porthole-audit+00000000+AAAA"}); err == nil {
			t.Fatal("bundle verified against a foreign pinned key")
		}
	})
}
