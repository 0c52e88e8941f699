package dashboard_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/dashboard"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/store"
)

// inboxFixture is an organization with one chatbot, its members, and a
// dashboard wired to a chat service the test also drives as the visitor.
type inboxFixture struct {
	a    *app.App
	org  porthole.Organization
	bot  porthole.Chatbot
	chat *chat.Service
	dash *dashboard.Dashboard
}

func mustInbox(tb testing.TB, botName string) *inboxFixture {
	tb.Helper()
	a := mustApp(tb)
	f := &inboxFixture{a: a, org: mustOrg(tb, a, "Clinic")}
	f.bot = mustChatbot(tb, a, f.org.ID, botName)
	f.chat = chat.New(chat.Config{DB: a.DB, PubSub: pubsub.NewMemory(), Logger: slog.New(slog.DiscardHandler), Security: a.Security})
	tb.Cleanup(func() { _ = f.chat.Shutdown(context.Background()) })
	var err error
	f.dash, err = dashboard.New(dashboard.Deps{DB: a.DB, Auth: a.Accounts, Security: a.Security, PublicURL: "http://example.com",
		Logger: slog.New(slog.DiscardHandler), Chat: f.chat})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = f.dash.Shutdown(context.Background()) })
	return f
}

// member adds a member (with a grant on the chatbot when grant is not "")
// and signs them in to the fixture's dashboard.
func (f *inboxFixture) member(tb testing.TB, email string, role porthole.Role, grant string) (*session, porthole.User) {
	tb.Helper()
	u := mustMember(tb, f.a, f.org.ID, email, role)
	if grant != "" {
		if err := f.a.DB.Tenant(f.org.ID).SetChatbotGrant(context.Background(), f.bot.ID, u.ID, grant); err != nil {
			tb.Fatal(err)
		}
	}
	s := mustSignIn(tb, f.a, email)
	s.h = f.dash.Handler()
	return s, u
}

// visitor starts a visitor's conversation and sends text.
func (f *inboxFixture) visitor(tb testing.TB, text string) *chat.Session {
	tb.Helper()
	sess, err := f.chat.Join(context.Background(), f.org.ID, f.bot.ID, porthole.NewID(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	f.send(tb, sess, text)
	return sess
}

func (f *inboxFixture) send(tb testing.TB, sess *chat.Session, text string) {
	tb.Helper()
	if _, _, err := f.chat.SendMessage(context.Background(), sess, porthole.NewID()[:20], text); err != nil {
		tb.Fatal(err)
	}
}

// history is what the visitor's widget gets: every stored frame.
func (f *inboxFixture) history(tb testing.TB, sess *chat.Session) []chat.Frame {
	tb.Helper()
	frames, err := f.chat.History(context.Background(), sess, 0, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	return frames
}

func (f *inboxFixture) state(tb testing.TB, sess *chat.Session) store.InboxConversation {
	tb.Helper()
	c, err := f.a.DB.Tenant(f.org.ID).InboxConversation(context.Background(), sess.Conversation.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestInboxPermissions(t *testing.T) {
	f := mustInbox(t, "Front desk")
	sess := f.visitor(t, "I want to talk to a human")
	id := sess.Conversation.ID
	owner, _ := f.owner(t)
	agentNoGrant, _ := f.member(t, "nogrant@example.com", porthole.RoleAgent, "")
	viewer, _ := f.member(t, "viewer@example.com", porthole.RoleViewer, "read")
	agent, _ := f.member(t, "agent@example.com", porthole.RoleAgent, "write")
	reply := url.Values{"text": {"Hello from the team"}}
	cases := []pageCase{
		{"owner sees the inbox", owner, "GET", "/app/inbox", nil, 200},
		{"owner sees the conversation", owner, "GET", "/app/inbox/" + id, nil, 200},
		{"agent without a grant: the conversation does not exist", agentNoGrant, "GET", "/app/inbox/" + id, nil, 404},
		{"agent without a grant cannot reply", agentNoGrant, "POST", "/app/inbox/" + id + "/reply", reply, 404},
		{"agent without a grant cannot export", agentNoGrant, "POST", "/app/inbox/" + id + "/export", url.Values{"format": {"json"}}, 404},
		{"agent without a grant cannot stream", agentNoGrant, "GET", "/app/inbox/" + id + "/events", nil, 404},
		{"viewer reads the conversation", viewer, "GET", "/app/inbox/" + id, nil, 200},
		{"viewer cannot reply", viewer, "POST", "/app/inbox/" + id + "/reply", reply, 403},
		{"viewer cannot take over", viewer, "POST", "/app/inbox/" + id + "/take-over", url.Values{}, 403},
		{"viewer cannot add a note", viewer, "POST", "/app/inbox/" + id + "/notes", url.Values{"text": {"x"}}, 403},
		{"agent cannot reassign", agent, "POST", "/app/inbox/" + id + "/reassign", url.Values{"user_id": {porthole.NewID()}}, 403},
		{"agent cannot take over as supervisor", agent, "POST", "/app/inbox/" + id + "/supervisor-take-over", url.Values{}, 403},
		{"agent with write access replies", agent, "POST", "/app/inbox/" + id + "/reply", reply, 303},
		{"unknown conversation", owner, "GET", "/app/inbox/" + porthole.NewID(), nil, 404},
		{"bad state filter", owner, "GET", "/app/inbox?state=nope", nil, 400},
	}
	runPageCases(t, cases)
	t.Run("the list shows only what a member may see", func(t *testing.T) {
		if body := agentNoGrant.get(t, "/app/inbox").Body.String(); strings.Contains(body, id) {
			t.Errorf("an agent without a grant sees the conversation in the inbox")
		}
		if body := viewer.get(t, "/app/inbox.json").Body.String(); !strings.Contains(body, id) {
			t.Errorf("a granted viewer does not see the conversation: %s", body)
		}
	})
}

func (f *inboxFixture) owner(tb testing.TB) (*session, porthole.User) {
	tb.Helper()
	return f.member(tb, "owner@example.com", porthole.RoleOwner, "")
}

func TestInboxReplyReachesVisitorNoteDoesNot(t *testing.T) {
	f := mustInbox(t, "Front desk")
	sess := f.visitor(t, "I want to talk to a human")
	id := sess.Conversation.ID
	if st := f.state(t, sess).State; st != store.StateWaiting {
		t.Fatalf("state after asking for a human = %q, want waiting", st)
	}
	owner, _ := f.owner(t)
	page := owner.get(t, "/app/inbox?state=waiting")
	wantStatus(t, page, 200)
	if !strings.Contains(page.Body.String(), "/app/inbox/"+id) {
		t.Fatalf("the waiting tab does not list the conversation")
	}
	const note = "internal: the visitor sounds upset, be kind"
	rec := owner.post(t, "/app/inbox/"+id+"/notes", url.Values{"text": {note}})
	wantStatus(t, rec, http.StatusSeeOther)
	rec = owner.post(t, "/app/inbox/"+id+"/reply", url.Values{"text": {"Hi, I am Ana from the clinic."}, "client_id": {"r1"}})
	wantStatus(t, rec, http.StatusSeeOther)
	if loc := rec.Header().Get("Location"); loc != "/app/inbox/"+id+"?done=reply-sent" {
		t.Errorf("Location = %q", loc)
	}
	var sawReply bool
	for _, fr := range f.history(t, sess) {
		if strings.Contains(fr.Text, "internal") || strings.Contains(fr.Text, "upset") {
			t.Errorf("the visitor's history holds the note: %+v", fr)
		}
		if fr.Role == store.RoleAgent && fr.Text == "Hi, I am Ana from the clinic." {
			sawReply = true
		}
	}
	if !sawReply {
		t.Errorf("the visitor's history lacks the reply: %+v", f.history(t, sess))
	}
	if st := f.state(t, sess); st.State != store.StateAgent {
		t.Errorf("state after the reply = %q, want agent", st.State)
	}
	body := owner.get(t, "/app/inbox/"+id).Body.String()
	for _, want := range []string{note, "Hi, I am Ana from the clinic.", "Internal notes"} {
		if !strings.Contains(body, want) {
			t.Errorf("conversation page lacks %q", want)
		}
	}
	t.Run("export of one conversation", func(t *testing.T) {
		rec := owner.post(t, "/app/inbox/"+id+"/export", url.Values{"format": {"csv"}})
		wantStatus(t, rec, 200)
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("Content-Type = %q", ct)
		}
		if !strings.Contains(rec.Header().Get("Content-Disposition"), "attachment") {
			t.Errorf("not a download: %q", rec.Header().Get("Content-Disposition"))
		}
		if b := rec.Body.String(); !strings.Contains(b, "Hi, I am Ana") || strings.Contains(b, "upset") {
			t.Errorf("CSV export without notes = %s", b)
		}
		rec = owner.post(t, "/app/inbox/"+id+"/export", url.Values{"format": {"json"}, "include_notes": {"on"}})
		wantStatus(t, rec, 200)
		if b := rec.Body.String(); !strings.Contains(b, "upset") {
			t.Errorf("JSON export with notes lacks the note: %s", b)
		}
		entries, err := f.a.DB.Tenant(f.org.ID).AuditEntries(context.Background(), 50)
		if err != nil {
			t.Fatal(err)
		}
		exports := 0
		for _, e := range entries {
			if e.Action == chat.ActionExport {
				exports++
			}
		}
		if exports != 2 {
			t.Errorf("%d exports recorded, want 2", exports)
		}
	})
	t.Run("range export", func(t *testing.T) {
		today := time.Now().UTC().Format(time.DateOnly)
		rec := owner.post(t, "/app/inbox/export", url.Values{"format": {"json"}, "since": {today}, "until": {today}})
		wantStatus(t, rec, 200)
		if !strings.Contains(rec.Body.String(), id) {
			t.Errorf("range export lacks the conversation")
		}
		rec = owner.post(t, "/app/inbox/export", url.Values{"format": {"xml"}, "since": {today}, "until": {today}})
		wantStatus(t, rec, 400)
	})
	t.Run("a cross-site export is refused", func(t *testing.T) {
		rec := owner.do(t, "POST", "/app/inbox/"+id+"/export", url.Values{"format": {"json"}},
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
		wantStatus(t, rec, 403)
	})
}

func TestInboxActionsAndStaleVersion(t *testing.T) {
	f := mustInbox(t, "Front desk")
	sess := f.visitor(t, "I want to talk to a human")
	id := sess.Conversation.ID
	owner, _ := f.owner(t)
	v := f.state(t, sess).LeaseVersion
	stale := owner.post(t, "/app/inbox/"+id+"/take-over", url.Values{"version": {strconv.FormatInt(v+7, 10)}, "reason": {"mine"}})
	wantStatus(t, stale, http.StatusConflict)
	if !strings.Contains(stale.Body.String(), "Someone else changed this conversation; reload") {
		t.Errorf("a stale version does not ask for a reload: %s", stale.Body)
	}
	checkStrictPage(t, "stale take-over", stale.Header(), stale.Body.String())
	steps := []struct {
		action, wantState string
	}{
		{"take-over", store.StateAgent},
		{"release", store.StateOpen},
		{"close", store.StateClosed},
		{"reopen", store.StateOpen},
	}
	for _, step := range steps {
		v := f.state(t, sess).LeaseVersion
		rec := owner.post(t, "/app/inbox/"+id+"/"+step.action, url.Values{"version": {strconv.FormatInt(v, 10)}, "reason": {"test " + step.action}})
		wantStatus(t, rec, http.StatusSeeOther)
		if got := f.state(t, sess).State; got != step.wantState {
			t.Fatalf("after %s: state %q, want %q", step.action, got, step.wantState)
		}
	}
	entries, err := f.a.DB.Tenant(f.org.ID).AuditEntries(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, e := range entries {
		reasons[e.Reason] = true
	}
	for _, step := range steps {
		if !reasons["test "+step.action] {
			t.Errorf("the reason of %s was not recorded", step.action)
		}
	}
	t.Run("supervisor reassigns", func(t *testing.T) {
		_, agent := f.member(t, "agent@example.com", porthole.RoleAgent, "write")
		rec := owner.post(t, "/app/inbox/"+id+"/reassign", url.Values{"user_id": {agent.ID}, "reason": {"her shift"}})
		wantStatus(t, rec, http.StatusSeeOther)
		if c := f.state(t, sess); c.State != store.StateAgent || c.Holder != agent.ID {
			t.Errorf("after reassign: %s held by %s", c.State, c.Holder)
		}
		rec = owner.post(t, "/app/inbox/"+id+"/supervisor-take-over", url.Values{})
		wantStatus(t, rec, http.StatusSeeOther)
		if c := f.state(t, sess); c.Holder == agent.ID {
			t.Errorf("the supervisor did not take over")
		}
	})
}

// sseReader reads a Server-Sent Events stream line by line.
type sseReader struct {
	lines chan string
}

func mustOpenStream(tb testing.TB, srv *httptest.Server, s *session, path string) *sseReader {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.AddCookie(s.cookie)
	res, err := srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		tb.Fatalf("%s: %d %s %s", path, res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	r := &sseReader{lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	return r
}

// waitFor reads until a line contains all of want, or fails at the deadline.
func (r *sseReader) waitFor(tb testing.TB, within time.Duration, want ...string) string {
	tb.Helper()
	deadline := time.After(within)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				tb.Fatalf("the stream ended before %q", want)
			}
			all := true
			for _, w := range want {
				all = all && strings.Contains(line, w)
			}
			if all {
				return line
			}
		case <-deadline:
			tb.Fatalf("no event with %q within %v", want, within)
		}
	}
}

func TestInboxEventStreams(t *testing.T) {
	f := mustInbox(t, "Front desk")
	owner, _ := f.owner(t)
	srv := httptest.NewServer(f.dash.Handler())
	defer srv.Close()
	inbox := mustOpenStream(t, srv, owner, "/app/inbox/events")
	inbox.waitFor(t, 5*time.Second, ": stream open")
	sess := f.visitor(t, "hello")
	id := sess.Conversation.ID
	f.send(t, sess, "I want to talk to a human")
	inbox.waitFor(t, 5*time.Second, "data:", id, `"state":"waiting"`)

	conv := mustOpenStream(t, srv, owner, "/app/inbox/"+id+"/events")
	conv.waitFor(t, 5*time.Second, ": stream open")
	f.send(t, sess, "are you there?")
	conv.waitFor(t, 5*time.Second, "data:", `"role":"visitor"`, "are you there?")
	wantStatus(t, owner.post(t, "/app/inbox/"+id+"/notes", url.Values{"text": {"checking the booking"}}), http.StatusSeeOther)
	conv.waitFor(t, 5*time.Second, "data:", `"type":"note"`, "checking the booking")
	wantStatus(t, owner.post(t, "/app/inbox/"+id+"/take-over", url.Values{}), http.StatusSeeOther)
	conv.waitFor(t, 5*time.Second, "data:", `"state":"agent"`)
	inbox.waitFor(t, 5*time.Second, "data:", id, `"state":"agent"`)

	t.Run("an agent without a grant hears nothing of it", func(t *testing.T) {
		outsider, _ := f.member(t, "outsider@example.com", porthole.RoleAgent, "")
		stream := mustOpenStream(t, srv, outsider, "/app/inbox/events")
		stream.waitFor(t, 5*time.Second, ": stream open")
		wantStatus(t, owner.post(t, "/app/inbox/"+id+"/release", url.Values{}), http.StatusSeeOther)
		inbox.waitFor(t, 5*time.Second, "data:", id, `"state":"open"`)
		select {
		case line := <-stream.lines:
			if strings.Contains(line, id) {
				t.Errorf("an outsider heard of the conversation: %s", line)
			}
		case <-time.After(300 * time.Millisecond):
		}
	})
	t.Run("shutdown ends the streams", func(t *testing.T) {
		_ = f.dash.Shutdown(context.Background())
		inbox.waitFor(t, 5*time.Second, "event: shutdown")
		select {
		case _, ok := <-conv.lines:
			for ok {
				_, ok = <-conv.lines
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the conversation stream stayed open after Shutdown")
		}
	})
}

func TestAnalyticsPage(t *testing.T) {
	const hostile = `<script>alert("bot")</script>`
	f := mustInbox(t, hostile)
	for i := range 3 {
		sess := f.visitor(t, "hello "+strconv.Itoa(i))
		if i == 0 {
			f.send(t, sess, "I want to talk to a human")
		}
	}
	owner, _ := f.owner(t)
	rec := owner.get(t, "/app/analytics")
	wantStatus(t, rec, 200)
	body := rec.Body.String()
	checkStrictPage(t, "/app/analytics", rec.Header(), body)
	if !strings.Contains(body, "<svg class=\"chart\"") || !strings.Contains(body, "<rect class=\"bar\"") {
		t.Errorf("no SVG chart with bars")
	}
	if strings.Contains(body, hostile) {
		t.Errorf("the chatbot's name reached the page as markup")
	}
	if !strings.Contains(body, "&lt;script&gt;alert(&#34;bot&#34;)&lt;/script&gt;") {
		t.Errorf("the chatbot's name is not shown escaped")
	}
	if !strings.Contains(body, "<dd class=\"n\">3</dd>") {
		t.Errorf("the total of conversations is not 3")
	}
	if !strings.Contains(body, "33%") {
		t.Errorf("the handoff rate 1/3 is not shown")
	}
	wantStatus(t, owner.get(t, "/app/analytics?days=0"), 400)
	wantStatus(t, owner.get(t, "/app/analytics?chatbot_id="+porthole.NewID()), 404)
}
