package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/widget/assets"
)

func TestSignIn(t *testing.T) {
	a := mustApp(t)
	org := mustOrg(t, a, "Smile Clinic")
	mustMember(t, a, org.ID, "owner@example.com", porthole.RoleOwner)

	t.Run("sets the session cookie", func(t *testing.T) {
		s := &session{h: a.Handler()}
		rec := s.post(t, "/app/sign-in", url.Values{"email": {"owner@example.com"}, "password": {testPassword}, "next": {"/app/chatbots"}})
		wantStatus(t, rec, http.StatusSeeOther)
		if loc := rec.Header().Get("Location"); loc != "/app/chatbots" {
			t.Fatalf("Location = %q, want /app/chatbots", loc)
		}
		c := sessionCookie(rec)
		if c == nil {
			t.Fatal("no session cookie")
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || len(c.Value) < 22 {
			t.Fatalf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/ and a long random value", c)
		}
		s.cookie = c
		page := s.get(t, "/app/")
		wantStatus(t, page, http.StatusOK)
		if !strings.Contains(page.Body.String(), "Smile Clinic") {
			t.Fatalf("overview does not name the organization: %s", page.Body)
		}
	})

	tests := []struct {
		name, email, password string
		next                  string
		wantStatus            int
		wantBody              string
	}{
		{name: "wrong password", email: "owner@example.com", password: "not the password at all", wantStatus: 401, wantBody: "Email or password is incorrect."},
		{name: "unknown email gets the same answer", email: "nobody@example.com", password: "not the password at all", wantStatus: 401, wantBody: "Email or password is incorrect."},
		{name: "next to another site is ignored", email: "owner@example.com", password: testPassword, next: "//evil.example/app/", wantStatus: 303},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &session{h: a.Handler()}
			rec := s.post(t, "/app/sign-in", url.Values{"email": {tc.email}, "password": {tc.password}, "next": {tc.next}})
			wantStatus(t, rec, tc.wantStatus)
			if !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Fatalf("body does not contain %q: %s", tc.wantBody, rec.Body)
			}
			if tc.wantStatus == 303 {
				if loc := rec.Header().Get("Location"); loc != "/app/" {
					t.Fatalf("Location = %q, want /app/", loc)
				}
			} else if sessionCookie(rec) != nil {
				t.Fatal("a failed sign-in set a session cookie")
			}
		})
	}
}

func TestSignInLockout(t *testing.T) {
	a := mustApp(t)
	org := mustOrg(t, a, "Locked")
	mustMember(t, a, org.ID, "lock@example.com", porthole.RoleOwner)
	s := &session{h: a.Handler()}
	var last int
	var body string
	for range 8 {
		rec := s.post(t, "/app/sign-in", url.Values{"email": {"lock@example.com"}, "password": {"wrong wrong wrong wrong"}})
		last, body = rec.Code, rec.Body.String()
	}
	if last != http.StatusTooManyRequests || !strings.Contains(body, "Too many attempts. Try later.") {
		t.Fatalf("after repeated failures: %d %s", last, body)
	}
	// Locked out even with the right password, with the same answer.
	rec := s.post(t, "/app/sign-in", url.Values{"email": {"lock@example.com"}, "password": {testPassword}})
	wantStatus(t, rec, http.StatusTooManyRequests)
	if sessionCookie(rec) != nil {
		t.Fatal("a locked-out sign-in set a cookie")
	}
}

func TestPagesNeedSession(t *testing.T) {
	a := mustApp(t)
	org := mustOrg(t, a, "Org")
	bot := mustChatbot(t, a, org.ID, "Bot")
	tests := []struct {
		name, method, path string
	}{
		{name: "overview", method: "GET", path: "/app/"},
		{name: "chatbots", method: "GET", path: "/app/chatbots"},
		{name: "chatbot", method: "GET", path: "/app/chatbots/" + bot.ID},
		{name: "origins", method: "GET", path: "/app/origins"},
		{name: "team", method: "GET", path: "/app/team"},
		{name: "api keys", method: "GET", path: "/app/api-keys"},
		{name: "sessions", method: "GET", path: "/app/sessions"},
		{name: "security events", method: "GET", path: "/app/security-events"},
		{name: "audit log", method: "GET", path: "/app/audit"},
		{name: "conversation replay", method: "GET", path: "/app/conversations/" + porthole.NewID() + "/timeline"},
		{name: "inbox", method: "GET", path: "/app/inbox"},
		{name: "inbox list", method: "GET", path: "/app/inbox.json"},
		{name: "inbox events", method: "GET", path: "/app/inbox/events"},
		{name: "conversation", method: "GET", path: "/app/inbox/" + porthole.NewID()},
		{name: "conversation events", method: "GET", path: "/app/inbox/" + porthole.NewID() + "/events"},
		{name: "reply", method: "POST", path: "/app/inbox/" + porthole.NewID() + "/reply"},
		{name: "range export", method: "POST", path: "/app/inbox/export"},
		{name: "analytics", method: "GET", path: "/app/analytics"},
		{name: "contacts", method: "GET", path: "/app/contacts"},
		{name: "contact", method: "GET", path: "/app/contacts/" + porthole.NewID()},
		{name: "contact merge", method: "POST", path: "/app/contacts/" + porthole.NewID() + "/merge"},
		{name: "audit export", method: "POST", path: "/app/audit/export"},
		{name: "create chatbot", method: "POST", path: "/app/chatbots"},
		{name: "delete chatbot", method: "POST", path: "/app/chatbots/" + bot.ID + "/delete"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &session{h: a.Handler()}
			var form url.Values
			if tc.method == "POST" {
				form = url.Values{"name": {"x"}}
			}
			rec := s.do(t, tc.method, tc.path, form, nil)
			wantStatus(t, rec, http.StatusSeeOther)
			if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, "/app/sign-in") {
				t.Fatalf("Location = %q, want the sign-in page", loc)
			}
		})
	}
	t.Run("a forged cookie is refused", func(t *testing.T) {
		s := &session{h: a.Handler(), cookie: &http.Cookie{Name: "porthole_session", Value: strings.Repeat("A", 43)}}
		rec := s.get(t, "/app/chatbots")
		wantStatus(t, rec, http.StatusSeeOther)
	})
	t.Run("root redirects to the dashboard", func(t *testing.T) {
		rec := (&session{h: a.Handler()}).get(t, "/")
		wantStatus(t, rec, http.StatusSeeOther)
		if loc := rec.Header().Get("Location"); loc != "/app/" {
			t.Fatalf("Location = %q", loc)
		}
	})
}

func TestCrossOriginPostsRefused(t *testing.T) {
	a := mustApp(t)
	org := mustOrg(t, a, "Org")
	mustMember(t, a, org.ID, "owner@example.com", porthole.RoleOwner)
	s := mustSignIn(t, a, "owner@example.com")
	tests := []struct {
		name       string
		headers    map[string]string
		wantStatus int
	}{
		{name: "cross-site fetch metadata", headers: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, wantStatus: 403},
		{name: "same-site but other origin", headers: map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://sub.example.com"}, wantStatus: 403},
		{name: "foreign Origin without fetch metadata", headers: map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}, wantStatus: 403},
		{name: "same origin", headers: nil, wantStatus: 303},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := s.do(t, "POST", "/app/chatbots", url.Values{"name": {"Bot " + tc.name}}, tc.headers)
			wantStatus(t, rec, tc.wantStatus)
			list, err := a.DB.Tenant(org.ID).Chatbots(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			created := false
			for _, c := range list {
				created = created || c.Name == "Bot "+tc.name
			}
			if created != (tc.wantStatus == 303) {
				t.Fatalf("chatbot created = %v with status %d", created, rec.Code)
			}
		})
	}
	t.Run("sign-in form is protected too", func(t *testing.T) {
		rec := (&session{h: a.Handler()}).do(t, "POST", "/app/sign-in",
			url.Values{"email": {"owner@example.com"}, "password": {testPassword}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
		wantStatus(t, rec, http.StatusForbidden)
		if sessionCookie(rec) != nil {
			t.Fatal("a cross-site sign-in (login CSRF) set a cookie")
		}
	})
	t.Run("refusals are security events", func(t *testing.T) {
		// They come before any tenant is known, so they are counted (and
		// stored) without an organization.
		families, err := a.Metrics.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var refused float64
		for _, f := range families {
			if f.GetName() != "porthole_security_events_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetValue() == porthole.SecCSRFRefused {
						refused += m.GetCounter().GetValue()
					}
				}
			}
		}
		if refused < 4 {
			t.Fatalf("csrf_refused events = %v, want 4", refused)
		}
	})
}

var (
	inlineScript = regexp.MustCompile(`(?i)<script\b[^>]*>`)
	styleAttr    = regexp.MustCompile(`(?i)\sstyle\s*=`)
	styleElement = regexp.MustCompile(`(?i)<style\b`)
	eventAttr    = regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)
)

// checkStrictPage fails when a response could run or style anything
// inline, or could be framed.
func checkStrictPage(tb testing.TB, path string, h http.Header, body string) {
	tb.Helper()
	csp := h.Get("Content-Security-Policy")
	if csp != httpx.DashboardCSP {
		tb.Errorf("%s: CSP = %q, want DashboardCSP", path, csp)
	}
	if strings.Contains(csp, "unsafe-") || !strings.Contains(csp, "frame-ancestors 'none'") {
		tb.Errorf("%s: CSP %q allows unsafe-* or framing", path, csp)
	}
	if h.Get("X-Frame-Options") != "DENY" {
		tb.Errorf("%s: X-Frame-Options = %q", path, h.Get("X-Frame-Options"))
	}
	for _, tag := range inlineScript.FindAllString(body, -1) {
		if !strings.Contains(tag, " src=") {
			tb.Errorf("%s: inline script %s", path, tag)
		}
	}
	if m := styleAttr.FindString(body); m != "" {
		tb.Errorf("%s: style attribute in page", path)
	}
	if styleElement.MatchString(body) {
		tb.Errorf("%s: <style> element in page", path)
	}
	if m := eventAttr.FindString(body); m != "" {
		tb.Errorf("%s: inline event handler %s", path, m)
	}
}

func TestEveryPageStrictCSP(t *testing.T) {
	a := mustApp(t)
	org := mustOrg(t, a, "Org")
	second := mustOrg(t, a, "Second org")
	owner := mustMember(t, a, org.ID, "owner@example.com", porthole.RoleOwner)
	if _, err := a.DB.Tenant(second.ID).AddMember(context.Background(), owner.ID, porthole.RoleViewer); err != nil {
		t.Fatal(err)
	}
	mustMember(t, a, org.ID, "agent@example.com", porthole.RoleAgent)
	bot := mustChatbot(t, a, org.ID, "Front desk")
	if _, err := a.DB.Tenant(org.ID).AddOrigin(context.Background(), "https://*.example.com"); err != nil {
		t.Fatal(err)
	}
	s := mustSignIn(t, a, "owner@example.com")
	// Memberships made in the same millisecond tie; act in org explicitly.
	wantStatus(t, s.post(t, "/app/organization/switch", url.Values{"org_id": {org.ID}}), http.StatusSeeOther)
	anon := &session{h: a.Handler()}
	pages := []struct {
		name string
		s    *session
		path string
		want int
	}{
		{"sign-in", anon, "/app/sign-in", 200},
		{"password reset request", anon, "/app/password-reset", 200},
		{"password reset confirm", anon, "/app/password-reset?token=abc", 200},
		{"invitation", anon, "/app/invitations/accept?token=abc", 200},
		{"overview", s, "/app/", 200},
		{"chatbots", s, "/app/chatbots", 200},
		{"chatbot", s, "/app/chatbots/" + bot.ID, 200},
		{"origins", s, "/app/origins", 200},
		{"team", s, "/app/team", 200},
		{"api keys", s, "/app/api-keys", 200},
		{"sessions", s, "/app/sessions", 200},
		{"security events", s, "/app/security-events", 200},
		{"audit log", s, "/app/audit", 200},
		{"unknown conversation replay", s, "/app/conversations/" + porthole.NewID() + "/timeline", 404},
		{"inbox", s, "/app/inbox", 200},
		{"inbox waiting tab", s, "/app/inbox?state=waiting&chatbot_id=" + bot.ID, 200},
		{"unknown conversation", s, "/app/inbox/" + porthole.NewID(), 404},
		{"analytics", s, "/app/analytics", 200},
		{"analytics of a year", s, "/app/analytics?days=365", 200},
		{"contacts", s, "/app/contacts", 200},
		{"contacts search", s, "/app/contacts?q=ann&before=1", 200},
		{"unknown contact", s, "/app/contacts/" + porthole.NewID(), 404},
		{"unknown page", s, "/app/nope", 404},
		{"unknown chatbot", s, "/app/chatbots/" + porthole.NewID(), 404},
		{"redirect", anon, "/app/chatbots", 303},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.s.get(t, tc.path)
			wantStatus(t, rec, tc.want)
			checkStrictPage(t, tc.path, rec.Header(), rec.Body.String())
			if tc.want == 200 && !strings.Contains(rec.Body.String(), `<main id="main"`) {
				t.Fatalf("%s has no main landmark", tc.path)
			}
		})
	}
	t.Run("switcher lists both organizations", func(t *testing.T) {
		body := s.get(t, "/app/").Body.String()
		if !strings.Contains(body, "Second org") || !strings.Contains(body, `action="/app/organization/switch"`) {
			t.Fatalf("no organization switcher: %s", body)
		}
	})
	t.Run("static files", func(t *testing.T) {
		body := s.get(t, "/app/").Body.String()
		for _, re := range []*regexp.Regexp{regexp.MustCompile(`href="(/app/static/dashboard\.css\?v=[0-9a-f]+)"`), regexp.MustCompile(`src="(/app/static/dashboard\.js\?v=[0-9a-f]+)"`)} {
			m := re.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("page does not link %s", re)
			}
			rec := anon.get(t, m[1])
			wantStatus(t, rec, 200)
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/css") && !strings.HasPrefix(ct, "text/javascript") {
				t.Fatalf("%s Content-Type %q", m[1], ct)
			}
		}
	})
}

func TestChatbotNameEscaped(t *testing.T) {
	a := mustApp(t)
	org := mustOrg(t, a, "Org")
	mustMember(t, a, org.ID, "owner@example.com", porthole.RoleOwner)
	s := mustSignIn(t, a, "owner@example.com")
	const evil = `<img src=x onerror=alert(1)>`
	rec := s.post(t, "/app/chatbots", url.Values{"name": {evil}})
	wantStatus(t, rec, http.StatusSeeOther)
	list, err := a.DB.Tenant(org.ID).Chatbots(context.Background())
	if err != nil || len(list) != 1 || list[0].Name != evil {
		t.Fatalf("stored %+v, %v; want the name as typed (plain text)", list, err)
	}
	for _, path := range []string{"/app/chatbots", "/app/chatbots/" + list[0].ID} {
		body := s.get(t, path).Body.String()
		if strings.Contains(body, "<img src=x") {
			t.Fatalf("%s renders the name as HTML: %s", path, body)
		}
		if !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") {
			t.Fatalf("%s does not show the escaped name: %s", path, body)
		}
	}
}

func TestPermissions(t *testing.T) {
	forEachDialect(t, func(t *testing.T, a *app.App) {
		orgA, orgB := mustOrg(t, a, "Alpha"), mustOrg(t, a, "Beta")
		mustMember(t, a, orgA.ID, "owner@a.example", porthole.RoleOwner)
		mustMember(t, a, orgA.ID, "admin@a.example", porthole.RoleAdmin)
		agent := mustMember(t, a, orgA.ID, "agent@a.example", porthole.RoleAgent)
		mustMember(t, a, orgA.ID, "viewer@a.example", porthole.RoleViewer)
		botA := mustChatbot(t, a, orgA.ID, "Alpha bot")
		granted := mustChatbot(t, a, orgA.ID, "Granted bot")
		botB := mustChatbot(t, a, orgB.ID, "Beta bot")
		if err := a.DB.Tenant(orgA.ID).SetChatbotGrant(context.Background(), granted.ID, agent.ID, "read"); err != nil {
			t.Fatal(err)
		}
		sessions := map[string]*session{}
		for _, who := range []string{"owner", "admin", "agent", "viewer"} {
			sessions[who] = mustSignIn(t, a, who+"@a.example")
		}
		tests := []struct {
			name, who, method, path string
			form                    url.Values
			wantStatus              int
		}{
			{"viewer cannot create chatbots", "viewer", "POST", "/app/chatbots", url.Values{"name": {"v"}}, 403},
			{"agent cannot create chatbots", "agent", "POST", "/app/chatbots", url.Values{"name": {"g"}}, 403},
			{"admin creates chatbots", "admin", "POST", "/app/chatbots", url.Values{"name": {"a"}}, 303},
			{"other org's chatbot is 404", "owner", "GET", "/app/chatbots/" + botB.ID, nil, 404},
			{"other org's chatbot rename is 404", "owner", "POST", "/app/chatbots/" + botB.ID + "/rename", url.Values{"name": {"x"}}, 404},
			{"other org's chatbot delete is 404", "owner", "POST", "/app/chatbots/" + botB.ID + "/delete", nil, 404},
			{"agent without grant gets 404", "agent", "GET", "/app/chatbots/" + botA.ID, nil, 404},
			{"agent with grant sees it", "agent", "GET", "/app/chatbots/" + granted.ID, nil, 200},
			{"agent cannot change appearance", "agent", "POST", "/app/chatbots/" + granted.ID + "/appearance", url.Values{"position": {"left"}}, 403},
			{"viewer cannot add origins", "viewer", "POST", "/app/origins", url.Values{"origin": {"https://x.example"}}, 403},
			{"agent cannot open API keys", "agent", "GET", "/app/api-keys", nil, 403},
			{"viewer cannot open security events", "viewer", "GET", "/app/security-events", nil, 403},
			{"agent cannot invite", "agent", "POST", "/app/team/invitations", url.Values{"email": {"x@a.example"}, "role": {"viewer"}}, 403},
			{"admin cannot make owners", "admin", "POST", "/app/team/invitations", url.Values{"email": {"y@a.example"}, "role": {"owner"}}, 403},
			{"viewer sees sessions", "viewer", "GET", "/app/sessions", nil, 200},
			{"unknown member role change is 404", "owner", "POST", "/app/team/members/" + porthole.NewID() + "/role", url.Values{"role": {"viewer"}}, 404},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				rec := sessions[tc.who].do(t, tc.method, tc.path, tc.form, nil)
				wantStatus(t, rec, tc.wantStatus)
				checkStrictPage(t, tc.path, rec.Header(), rec.Body.String())
			})
		}
		t.Run("agent's list shows only granted chatbots", func(t *testing.T) {
			body := sessions["agent"].get(t, "/app/chatbots").Body.String()
			if !strings.Contains(body, "Granted bot") || strings.Contains(body, "Alpha bot") {
				t.Fatalf("agent's chatbot list: %s", body)
			}
		})
		t.Run("refusals are security events", func(t *testing.T) {
			events, err := a.DB.Tenant(orgA.ID).SecurityEvents(context.Background(), 100)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, ev := range events {
				if ev.Kind == porthole.SecAuthorizationFailed {
					n++
				}
			}
			if n == 0 {
				t.Fatal("no authorization_failed events recorded")
			}
			body := sessions["owner"].get(t, "/app/security-events").Body.String()
			if !strings.Contains(body, porthole.SecAuthorizationFailed) {
				t.Fatalf("security events page does not list them: %s", body)
			}
		})
	})
}

func TestGreetingSanitizedBeforeStorage(t *testing.T) {
	a := mustApp(t)
	org := mustOrg(t, a, "Org")
	mustMember(t, a, org.ID, "owner@example.com", porthole.RoleOwner)
	bot := mustChatbot(t, a, org.ID, "Bot")
	s := mustSignIn(t, a, "owner@example.com")
	tests := []struct {
		name, greeting, want string
	}{
		{"script removed", `<script>alert(1)</script><b>Hi</b>`, `Hi`},
		{"event handler removed", `<img src=x onerror=alert(1)>Hello`, `Hello`},
		{"javascript link removed", `<a href="javascript:alert(1)">x</a>`, `x`},
		{"style attribute removed", `<p style="color:red">Hey</p>`, `Hey`},
		{"plain text kept", `Hi! How can we help?`, `Hi! How can we help?`},
		{"markdown and ampersands kept", `**Tom & Jerry** welcome you: [prices](https://example.com)`, `**Tom & Jerry** welcome you: [prices](https://example.com)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := s.post(t, "/app/chatbots/"+bot.ID+"/appearance", url.Values{"color": {"#123456"}, "position": {"left"}, "greeting": {tc.greeting}})
			wantStatus(t, rec, http.StatusSeeOther)
			ws, err := a.DB.Tenant(org.ID).WidgetSettings(context.Background(), bot.ID)
			if err != nil {
				t.Fatal(err)
			}
			if ws.Greeting != tc.want || ws.Color != "#123456" || ws.Position != "left" {
				t.Fatalf("stored greeting %q color %q position %q; want %q #123456 left", ws.Greeting, ws.Color, ws.Position, tc.want)
			}
			page := s.get(t, "/app/chatbots/"+bot.ID)
			checkStrictPage(t, "chatbot", page.Header(), page.Body.String())
		})
	}
	t.Run("bad color is shown on the form", func(t *testing.T) {
		rec := s.post(t, "/app/chatbots/"+bot.ID+"/appearance", url.Values{"color": {"red; x"}, "position": {"left"}})
		wantStatus(t, rec, http.StatusBadRequest)
		if !strings.Contains(rec.Body.String(), "color must be #rrggbb") {
			t.Fatalf("no message: %s", rec.Body)
		}
	})
}

func TestOrigins(t *testing.T) {
	a := mustApp(t)
	org := mustOrg(t, a, "Org")
	mustMember(t, a, org.ID, "owner@example.com", porthole.RoleOwner)
	s := mustSignIn(t, a, "owner@example.com")
	for _, o := range []string{"https://shop.example.com", "https://*.example.org"} {
		wantStatus(t, s.post(t, "/app/origins", url.Values{"origin": {o}}), http.StatusSeeOther)
	}
	rec := s.post(t, "/app/origins", url.Values{"origin": {"javascript:alert(1)"}})
	wantStatus(t, rec, http.StatusBadRequest)
	body := s.get(t, "/app/origins").Body.String()
	for _, want := range []string{
		"https://shop.example.com", "https://*.example.org", "pattern: any subdomain",
		`integrity=&#34;` + assets.LoaderSRI() + `&#34;`, `data-business=&#34;` + org.ID + `&#34;`,
		"script-src http://127.0.0.1:8080", "frame-src http://127.0.0.1:8080", `data-copy="install-snippet"`,
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("origins page lacks %q: %s", want, body)
		}
	}
	// The site, its www companion and the pattern.
	list, err := a.DB.Tenant(org.ID).Origins(context.Background())
	if err != nil || len(list) != 3 {
		t.Fatalf("origins %+v %v", list, err)
	}
	wantStatus(t, s.post(t, "/app/origins/"+list[0].ID+"/delete", url.Values{}), http.StatusSeeOther)
	if list, _ = a.DB.Tenant(org.ID).Origins(context.Background()); len(list) != 2 {
		t.Fatalf("after removal: %+v", list)
	}
}

func TestTeamAndKeys(t *testing.T) {
	a := mustApp(t)
	org := mustOrg(t, a, "Org")
	mustMember(t, a, org.ID, "owner@example.com", porthole.RoleOwner)
	agent := mustMember(t, a, org.ID, "agent@example.com", porthole.RoleAgent)
	bot := mustChatbot(t, a, org.ID, "Bot")
	s := mustSignIn(t, a, "owner@example.com")
	ctx := context.Background()

	t.Run("invitation link shown without SMTP and usable once", func(t *testing.T) {
		rec := s.post(t, "/app/team/invitations", url.Values{"email": {"new@example.com"}, "role": {"viewer"}})
		wantStatus(t, rec, http.StatusOK)
		m := regexp.MustCompile(`value="(http://127\.0\.0\.1:8080/app/invitations/accept\?token=[^"]+)"`).FindStringSubmatch(rec.Body.String())
		if m == nil {
			t.Fatalf("no invitation link: %s", rec.Body)
		}
		link, err := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
		if err != nil {
			t.Fatal(err)
		}
		token := link.Query().Get("token")
		anon := &session{h: a.Handler()}
		wantStatus(t, anon.get(t, "/app/invitations/accept?token="+url.QueryEscape(token)), http.StatusOK)
		rec = anon.post(t, "/app/invitations/accept", url.Values{"token": {token}, "name": {"New"}, "password": {testPassword}})
		wantStatus(t, rec, http.StatusSeeOther)
		if sessionCookie(rec) == nil {
			t.Fatal("accepting set no session")
		}
		rec = anon.post(t, "/app/invitations/accept", url.Values{"token": {token}, "name": {"New"}, "password": {testPassword}})
		wantStatus(t, rec, http.StatusBadRequest)
	})
	t.Run("role change and grant", func(t *testing.T) {
		wantStatus(t, s.post(t, "/app/team/members/"+agent.ID+"/role", url.Values{"role": {"viewer"}}), http.StatusSeeOther)
		m, err := a.DB.Tenant(org.ID).Member(ctx, agent.ID)
		if err != nil || m.Role != porthole.RoleViewer {
			t.Fatalf("member %+v %v", m, err)
		}
		wantStatus(t, s.post(t, "/app/team/members/"+agent.ID+"/grants", url.Values{"chatbot_id": {bot.ID}, "access": {"read"}}), http.StatusSeeOther)
		grants, err := a.DB.Tenant(org.ID).UserChatbotGrants(ctx, agent.ID)
		if err != nil || grants[bot.ID] != "read" {
			t.Fatalf("grants %v %v", grants, err)
		}
	})
	t.Run("API key shown once, listed by prefix, revocable", func(t *testing.T) {
		rec := s.post(t, "/app/api-keys", url.Values{"name": {"ci"}, "scope": {"chatbots:read", "origins:write"}})
		wantStatus(t, rec, http.StatusOK)
		m := regexp.MustCompile(`value="(ph_[A-Za-z0-9_-]+)"`).FindStringSubmatch(rec.Body.String())
		if m == nil {
			t.Fatalf("key not shown: %s", rec.Body)
		}
		list := s.get(t, "/app/api-keys").Body.String()
		if strings.Contains(list, m[1]) {
			t.Fatal("the key is shown again on the list")
		}
		keys, err := a.DB.Tenant(org.ID).APIKeys(ctx)
		if err != nil || len(keys) != 1 || !strings.Contains(list, keys[0].Prefix) {
			t.Fatalf("keys %+v %v; list %s", keys, err, list)
		}
		wantStatus(t, s.post(t, "/app/api-keys/"+keys[0].ID+"/revoke", url.Values{}), http.StatusSeeOther)
		keys, _ = a.DB.Tenant(org.ID).APIKeys(ctx)
		if keys[0].RevokedAt == nil {
			t.Fatal("key not revoked")
		}
	})
}

func TestSessionsAndSwitch(t *testing.T) {
	forEachDialect(t, func(t *testing.T, a *app.App) {
		org, other := mustOrg(t, a, "First"), mustOrg(t, a, "Other")
		u := mustMember(t, a, org.ID, "owner@example.com", porthole.RoleOwner)
		if _, err := a.DB.Tenant(other.ID).AddMember(context.Background(), u.ID, porthole.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		stranger := mustOrg(t, a, "Stranger")
		first := mustSignIn(t, a, "owner@example.com")
		second := mustSignIn(t, a, "owner@example.com")

		t.Run("switch organization", func(t *testing.T) {
			wantStatus(t, first.post(t, "/app/organization/switch", url.Values{"org_id": {other.ID}}), http.StatusSeeOther)
			body := first.get(t, "/app/").Body.String()
			if !strings.Contains(body, "<h1>Other</h1>") {
				t.Fatalf("after switch: %s", body)
			}
			wantStatus(t, first.post(t, "/app/organization/switch", url.Values{"org_id": {stranger.ID}}), http.StatusNotFound)
		})
		t.Run("revoke another session", func(t *testing.T) {
			body := first.get(t, "/app/sessions").Body.String()
			ids := regexp.MustCompile(`action="/app/sessions/([0-9a-f-]+)/revoke"`).FindAllStringSubmatch(body, -1)
			if len(ids) != 2 {
				t.Fatalf("want 2 sessions listed: %s", body)
			}
			for _, id := range ids {
				rec := first.post(t, "/app/sessions/"+id[1]+"/revoke", url.Values{})
				wantStatus(t, rec, http.StatusSeeOther)
				if rec.Header().Get("Location") == "/app/sessions?done=session-revoked" {
					break
				}
			}
			wantStatus(t, second.get(t, "/app/"), http.StatusSeeOther)
			wantStatus(t, first.get(t, "/app/"), http.StatusOK)
		})
		t.Run("sign out kills the cookie server-side", func(t *testing.T) {
			old := *first.cookie
			rec := first.post(t, "/app/sign-out", url.Values{})
			wantStatus(t, rec, http.StatusSeeOther)
			if c := sessionCookie(rec); c == nil || c.MaxAge >= 0 {
				t.Fatalf("sign-out did not clear the cookie: %+v", c)
			}
			replay := &session{h: a.Handler(), cookie: &old}
			rec = replay.get(t, "/app/")
			wantStatus(t, rec, http.StatusSeeOther)
			if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, "/app/sign-in") {
				t.Fatalf("old cookie went to %q", loc)
			}
		})
	})
}
