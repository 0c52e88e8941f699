package dashboard_test

import (
	"bytes"
	"context"
	"html"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// hostileReason tries to close the page's <pre>, run a script and forge a
// bundle line.
const hostileReason = "</pre><script>alert(1)</script>\n{\"type\":\"entry\"}"

// mustRunServices runs the app's services (the audit writer and checkpointer
// among them) until the test ends.
func mustRunServices(tb testing.TB, a *app.App) {
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

// mustConversation creates a visitor's conversation with a new chatbot and
// records decisions about it: a routing decision with its visitor message,
// then a knowledge lookup whose reason is reason.
func mustConversation(tb testing.TB, a *app.App, orgID, reason string) store.Conversation {
	tb.Helper()
	ctx := context.Background()
	tn := a.DB.Tenant(orgID)
	bot := mustChatbot(tb, a, orgID, "Replay bot")
	v, err := tn.EnsureVisitor(ctx, porthole.NewID())
	if err != nil {
		tb.Fatal(err)
	}
	conv, err := tn.EnsureConversation(ctx, v.ID, bot.ID)
	if err != nil {
		tb.Fatal(err)
	}
	if _, _, err := tn.AppendEvent(ctx, store.NewEvent{ConversationID: conv.ID, Kind: store.EventMessage, Role: store.RoleVisitor, Text: "hi",
		Audit: &audit.Entry{Actor: audit.Actor{Kind: audit.ActorVisitor, ID: v.ID}, Action: audit.ActionRoutingDecision,
			Target: "assistant", Reason: "inside active hours: the assistant answers"}}); err != nil {
		tb.Fatal(err)
	}
	if err := tn.RecordDecision(ctx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorAssistant, ID: bot.ID}, ConversationID: conv.ID,
		Action: audit.ActionKnowledgeLookup, Target: "knowledge:" + bot.ID, Reason: reason,
		Payload: audit.Payload(map[string]any{"passages": []string{"opening hours\n<b>9-5</b>"}, "note": reason})}); err != nil {
		tb.Fatal(err)
	}
	return conv
}

// TestAuditPagesPermissions: the audit log and replays are for owners and
// admins; the export is for owners only.
func TestAuditPagesPermissions(t *testing.T) {
	a := mustApp(t)
	mustRunServices(t, a)
	org := mustOrg(t, a, "Smile Clinic")
	roles := []porthole.Role{porthole.RoleOwner, porthole.RoleAdmin, porthole.RoleAgent, porthole.RoleViewer}
	sessions := map[porthole.Role]*session{}
	users := map[porthole.Role]porthole.User{}
	for _, role := range roles {
		email := string(role) + "@example.com"
		users[role] = mustMember(t, a, org.ID, email, role)
		sessions[role] = mustSignIn(t, a, email)
	}
	conv := mustConversation(t, a, org.ID, "3 passages")
	replay := "/app/conversations/" + conv.ID + "/timeline"
	tests := []struct {
		name   string
		role   porthole.Role
		method string
		path   string
		want   int
	}{
		{"owner opens the audit log", porthole.RoleOwner, "GET", "/app/audit", 200},
		{"admin opens the audit log", porthole.RoleAdmin, "GET", "/app/audit", 200},
		{"agent cannot open the audit log", porthole.RoleAgent, "GET", "/app/audit", 403},
		{"viewer cannot open the audit log", porthole.RoleViewer, "GET", "/app/audit", 403},
		{"admin opens a replay", porthole.RoleAdmin, "GET", replay, 200},
		{"viewer cannot open a replay", porthole.RoleViewer, "GET", replay, 403},
		{"admin cannot export", porthole.RoleAdmin, "POST", "/app/audit/export", 403},
		{"viewer cannot export", porthole.RoleViewer, "POST", "/app/audit/export", 403},
		{"owner exports", porthole.RoleOwner, "POST", "/app/audit/export", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var form url.Values
			if tc.method == "POST" {
				form = url.Values{}
			}
			rec := sessions[tc.role].do(t, tc.method, tc.path, form, nil)
			wantStatus(t, rec, tc.want)
			if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				checkStrictPage(t, tc.path, rec.Header(), rec.Body.String())
			}
		})
	}
	t.Run("only owners see the export form", func(t *testing.T) {
		owner := sessions[porthole.RoleOwner].get(t, "/app/audit").Body.String()
		admin := sessions[porthole.RoleAdmin].get(t, "/app/audit").Body.String()
		if !strings.Contains(owner, `action="/app/audit/export"`) || strings.Contains(admin, `action="/app/audit/export"`) {
			t.Fatal("the export form is shown to the wrong roles")
		}
		if want := "porthole audit verify FILE --public-key " + a.Checkpointer.VerifierKey(); !strings.Contains(html.UnescapeString(owner), want) {
			t.Fatalf("the owner's page does not show %q", want)
		}
	})
	t.Run("the log links a conversation to its replay", func(t *testing.T) {
		body := sessions[porthole.RoleAdmin].get(t, "/app/audit").Body.String()
		if !strings.Contains(body, `href="`+replay+`"`) {
			t.Fatalf("no replay link in the audit log: %s", body)
		}
	})
	t.Run("a dashboard change is recorded as made by the member", func(t *testing.T) {
		wantStatus(t, sessions[porthole.RoleAdmin].post(t, "/app/chatbots", url.Values{"name": {"Audited bot"}}), http.StatusSeeOther)
		list, err := a.DB.Tenant(org.ID).AuditEntries(context.Background(), 1)
		if err != nil || len(list) != 1 {
			t.Fatalf("AuditEntries = %+v, %v", list, err)
		}
		want := audit.Actor{Kind: audit.ActorUser, ID: users[porthole.RoleAdmin].ID}
		if e := list[0]; e.Action != "chatbot.create" || e.Actor != want || e.Reason != "POST /app/chatbots" {
			t.Fatalf("newest entry = %+v; want chatbot.create by %+v", e, want)
		}
	})
	t.Run("a cross-site export is refused", func(t *testing.T) {
		rec := sessions[porthole.RoleOwner].do(t, "POST", "/app/audit/export", url.Values{},
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
		wantStatus(t, rec, http.StatusForbidden)
	})
}

// TestAuditExportVerifies: an owner's download is a bundle that verifies
// offline against the pinned verifier key, and it holds the record of its
// own export, by that owner.
func TestAuditExportVerifies(t *testing.T) {
	forEachDialect(t, func(t *testing.T, a *app.App) {
		mustRunServices(t, a)
		org := mustOrg(t, a, "Smile Clinic")
		owner := mustMember(t, a, org.ID, "owner@example.com", porthole.RoleOwner)
		s := mustSignIn(t, a, "owner@example.com")
		mustConversation(t, a, org.ID, hostileReason)

		rec := s.post(t, "/app/audit/export", url.Values{"since": {""}, "until": {""}})
		wantStatus(t, rec, http.StatusOK)
		if ct := rec.Header().Get("Content-Type"); ct != "application/x-ndjson" {
			t.Fatalf("Content-Type = %q", ct)
		}
		if cd := rec.Header().Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
			t.Fatalf("Content-Disposition = %q, want a download", cd)
		}
		bundle := rec.Body.Bytes()
		report, err := audit.Verify(bytes.NewReader(bundle), audit.VerifyOptions{PinnedKey: a.Checkpointer.VerifierKey()})
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if report.OrgID != org.ID || !report.KeyPinned || report.Entries < 3 {
			t.Fatalf("report = %+v", report)
		}
		var exported bool
		for _, line := range strings.Split(string(bundle), "\n") {
			if strings.Contains(line, `"action":"audit.export"`) && strings.Contains(line, `"actor_kind":"user","actor_id":"`+owner.ID+`"`) {
				exported = true
			}
		}
		if !exported {
			t.Fatalf("the bundle does not record its own export by the owner:\n%s", bundle)
		}

		bad := s.post(t, "/app/audit/export", url.Values{"since": {"yesterday"}})
		wantStatus(t, bad, http.StatusBadRequest)
	})
}

// TestConversationReplay: the replay lists a conversation's decisions in
// order, renders hostile values inert, and answers 404 for another
// organization's conversation.
func TestConversationReplay(t *testing.T) {
	forEachDialect(t, func(t *testing.T, a *app.App) {
		org, other := mustOrg(t, a, "Alpha"), mustOrg(t, a, "Beta")
		mustMember(t, a, org.ID, "admin@example.com", porthole.RoleAdmin)
		s := mustSignIn(t, a, "admin@example.com")
		conv := mustConversation(t, a, org.ID, hostileReason)
		otherConv := mustConversation(t, a, other.ID, "beta secret reason")

		rec := s.get(t, "/app/conversations/"+conv.ID+"/timeline")
		wantStatus(t, rec, http.StatusOK)
		body := rec.Body.String()
		checkStrictPage(t, "replay", rec.Header(), body)
		routing, lookup := strings.Index(body, "Routing decision"), strings.Index(body, "Passages retrieved")
		if routing < 0 || lookup < 0 || routing > lookup {
			t.Fatalf("replay is not routing decision then lookup (at %d, %d): %s", routing, lookup, body)
		}

		escaping := []struct {
			name, page string
		}{
			{"replay", body},
			{"audit log", s.get(t, "/app/audit").Body.String()},
		}
		for _, tc := range escaping {
			t.Run(tc.name+" renders hostile values inert", func(t *testing.T) {
				if strings.Contains(tc.page, "<script>") || strings.Contains(tc.page, "alert(1)</script>") {
					t.Fatalf("the hostile reason reached the page as markup: %s", tc.page)
				}
				if !strings.Contains(tc.page, "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;⏎{&#34;type&#34;:&#34;entry&#34;}") {
					t.Fatalf("the reason is not shown escaped, with its newline visible: %s", tc.page)
				}
				if strings.Contains(tc.page, "&lt;/script&gt;\n") {
					t.Fatal("a raw newline from the reason reached the page")
				}
			})
		}
		t.Run("payload is escaped JSON", func(t *testing.T) {
			if !strings.Contains(body, `opening hours\n\u003cb\u003e9-5\u003c/b\u003e`) && !strings.Contains(body, `opening hours\n&lt;b&gt;9-5&lt;/b&gt;`) {
				t.Fatalf("the payload is not shown as escaped JSON: %s", body)
			}
		})

		tests := []struct {
			name string
			path string
			want int
		}{
			{"another organization's conversation", "/app/conversations/" + otherConv.ID + "/timeline", 404},
			{"a conversation that never existed", "/app/conversations/" + porthole.NewID() + "/timeline", 404},
			{"not an id", "/app/conversations/x'%20OR%201=1/timeline", 404},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				rec := s.get(t, tc.path)
				wantStatus(t, rec, tc.want)
				if strings.Contains(rec.Body.String(), "beta secret reason") {
					t.Fatal("another organization's decisions leaked")
				}
			})
		}
	})
}
