package chat_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// securityLog collects security events.
type securityLog struct {
	mu     sync.Mutex
	events []porthole.SecurityEvent
}

func (l *securityLog) RecordSecurityEvent(_ context.Context, ev porthole.SecurityEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

func (l *securityLog) count(kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ev := range l.events {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// mustContactsFixture is mustFixture with a security recorder and the
// chatbot's phone numbering set to Germany.
func mustContactsFixture(tb testing.TB, db *store.DB) (*fixture, *securityLog) {
	tb.Helper()
	f := mustFixture(tb, db)
	sec := &securityLog{}
	f.svc = chat.New(chat.Config{DB: db, PubSub: pubsub.NewMemory(), Security: sec,
		Engine: chat.EchoEngine{Delay: time.Millisecond}, Now: func() time.Time { return *f.clock }})
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.svc.Shutdown(ctx)
	})
	ctx := context.Background()
	tn := db.Tenant(f.org.ID)
	cfg, err := tn.AssistantConfig(ctx, f.bot.ID)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.DefaultCountry = "DE"
	if _, err := tn.PutAssistantConfig(ctx, cfg); err != nil {
		tb.Fatalf("PutAssistantConfig: %v", err)
	}
	return f, sec
}

// mustSubmitContact asks the session for the contact form and submits it.
func mustSubmitContact(tb testing.TB, f *fixture, sess *chat.Session, values map[string]string) chat.Frame {
	tb.Helper()
	ctx := context.Background()
	if _, _, err := f.db.Tenant(f.org.ID).AppendEvent(ctx, store.NewEvent{ConversationID: sess.Conversation.ID,
		Kind: store.EventForm, Data: json.RawMessage(`{"form_id":"contact"}`)}); err != nil {
		tb.Fatal(err)
	}
	res, err := f.svc.SubmitForm(ctx, sess, chat.ContactFormID, values)
	if err != nil {
		tb.Fatalf("SubmitForm: %v", err)
	}
	return res
}

func mustContact(tb testing.TB, f *fixture, id string) store.Contact {
	tb.Helper()
	c, err := f.db.Tenant(f.org.ID).Contact(context.Background(), id)
	if err != nil {
		tb.Fatalf("Contact(%s): %v", id, err)
	}
	return c
}

// auditActions counts the organization's audit entries by action.
func auditActions(tb testing.TB, f *fixture) map[string][]audit.Entry {
	tb.Helper()
	list, err := f.db.Tenant(f.org.ID).AuditEntries(context.Background(), 1000)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]audit.Entry{}
	for _, e := range list {
		out[e.Action] = append(out[e.Action], e)
	}
	return out
}

func historyTexts(tb testing.TB, f *fixture, sess *chat.Session) string {
	tb.Helper()
	frames, err := f.svc.History(context.Background(), sess, 0, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	var b strings.Builder
	for _, fr := range frames {
		b.WriteString(fr.Text + "\n")
	}
	return b.String()
}

func conversationIDs(list []store.InboxConversation) map[string]string {
	out := map[string]string{}
	for _, c := range list {
		out[c.ID] = c.ContactID
	}
	return out
}

func TestContactFormUpgradesVisitorInPlace(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		f, _ := mustContactsFixture(t, db)
		sess := mustJoin(t, f)
		res := mustSubmitContact(t, f, sess, map[string]string{"name": "Ann", "phone": "030 1234567", "email": "ann@example.com"})
		if res.Status != "accepted" {
			t.Fatalf("submit = %+v", res)
		}
		stored, err := db.Tenant(f.org.ID).LastEvent(context.Background(), sess.Conversation.ID, store.EventFormResult)
		if err != nil || !strings.Contains(string(stored.Data), `"phone":"+49301234567"`) {
			t.Fatalf("stored form result = %s, %v; want the phone in E.164", stored.Data, err)
		}
		c := mustContact(t, f, sess.Visitor.ID)
		if c.ID != sess.Visitor.ID || c.Name != "Ann" || c.Phone != "+49301234567" || c.Email != "ann@example.com" ||
			c.EmailVerified || c.MergedInto != "" {
			t.Fatalf("contact after the form = %+v; want the same row, phone in E.164, email unverified", c)
		}
		if m := auditActions(t, f)[store.ActionContactMerge]; len(m) != 0 {
			t.Fatalf("a lone contact was merged: %+v", m)
		}
	})
}

func TestContactFormInvalidPhoneStoresNothing(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f, _ := mustContactsFixture(t, db)
		sess := mustJoin(t, f)
		tests := []struct{ name, phone, problem string }{
			{"letters", "0301234CALL", "only digits"},
			{"too short", "+49 30", "too short"},
			{"too long", "+49 30 1234567890123", "too long"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := mustSubmitContact(t, f, sess, map[string]string{"name": "Ann", "phone": tt.phone, "email": "ann@example.com"})
				if res.Status != "invalid" || !strings.Contains(res.Errors["phone"], tt.problem) || res.Seq != 0 {
					t.Fatalf("submit with phone %q = %+v; want invalid about %q", tt.phone, res, tt.problem)
				}
			})
		}
		c := mustContact(t, f, sess.Visitor.ID)
		if c.Name != "" || c.Phone != "" || c.Email != "" {
			t.Fatalf("an invalid form changed the visitor: %+v", c)
		}
		if _, err := db.Tenant(f.org.ID).LastEvent(ctx, sess.Conversation.ID, store.EventFormResult); !porthole.IsCode(err, porthole.ENOTFOUND) {
			t.Fatalf("an invalid form was stored: %v", err)
		}
	})
}

// TestContactSamePhoneMergesButWidgetStaysOwn: a second visitor typing the
// first one's phone number is merged into that contact for the team, and
// both conversations stay attached; but the second visitor's widget still
// sees only its own conversation. An undo puts every row back exactly.
func TestContactSamePhoneMergesButWidgetStaysOwn(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f, _ := mustContactsFixture(t, db)
		tn := db.Tenant(f.org.ID)
		admin := mustMember(t, f, porthole.RoleAdmin, "")

		first := mustJoin(t, f)
		mustSend(t, f, first, "a1", "my appointment is on Tuesday, private details")
		mustSubmitContact(t, f, first, map[string]string{"name": "Ann", "phone": "+49 30 1234567", "email": "ann@example.com"})

		second := mustJoin(t, f)
		mustSend(t, f, second, "b1", "hello from somebody else")
		beforeFirst, beforeSecond := mustContact(t, f, first.Visitor.ID), mustContact(t, f, second.Visitor.ID)
		beforeConvs, err := tn.InboxConversations(ctx, store.Visibility{All: true}, store.InboxFilter{})
		if err != nil {
			t.Fatal(err)
		}
		res := mustSubmitContact(t, f, second, map[string]string{"name": "Mallory", "phone": "030/123 45 67", "email": "mallory@example.com"})
		if res.Status != "accepted" {
			t.Fatalf("submit = %+v", res)
		}

		// The rows merged server-side: the newer row points to the older one.
		merged := mustContact(t, f, second.Visitor.ID)
		if merged.MergedInto != first.Visitor.ID || merged.Phone != "+49301234567" {
			t.Fatalf("second visitor after the form = %+v; want merged into %s", merged, first.Visitor.ID)
		}
		detail, err := f.svc.Contact(ctx, admin, first.Visitor.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := conversationIDs(detail.Conversations)
		if len(got) != 2 || got[first.Conversation.ID] != first.Visitor.ID || got[second.Conversation.ID] != first.Visitor.ID {
			t.Fatalf("contact conversations = %v; want both attached to %s", got, first.Visitor.ID)
		}
		if len(detail.Merged) != 1 || detail.Merged[0].ID != second.Visitor.ID || len(detail.Merges) != 1 {
			t.Fatalf("contact detail merged=%+v merges=%+v", detail.Merged, detail.Merges)
		}
		merge := detail.Merges[0]
		if merge.Match != store.MatchPhone || merge.SurvivorID != first.Visitor.ID || merge.MergedID != second.Visitor.ID {
			t.Fatalf("merge = %+v", merge)
		}
		if detail.Name != "Ann" || detail.Email != "ann@example.com" {
			t.Fatalf("the survivor's own details changed: %+v", detail.Contact)
		}
		for _, id := range []string{first.Conversation.ID, second.Conversation.ID} {
			if _, err := tn.Conversation(ctx, id); err != nil {
				t.Fatalf("conversation %s after the merge: %v", id, err)
			}
		}
		entries := auditActions(t, f)[store.ActionContactMerge]
		if len(entries) != 1 || entries[0].Actor != (audit.Actor{Kind: audit.ActorVisitor, ID: second.Visitor.ID}) ||
			strings.Contains(entries[0].Target+entries[0].Reason, "+49") {
			t.Fatalf("contact.merge entries = %+v", entries)
		}

		// The widget: the second visitor's session, now and after a
		// reconnect, shows only its own conversation.
		for _, sess := range []*chat.Session{second, mustRejoin(t, f, second)} {
			if sess.Conversation.ID != second.Conversation.ID || sess.Visitor.ID != second.Visitor.ID {
				t.Fatalf("the second visitor joined %+v", sess)
			}
			h := historyTexts(t, f, sess)
			if strings.Contains(h, "private details") || !strings.Contains(h, "hello from somebody else") {
				t.Fatalf("the second visitor's history shows:\n%s", h)
			}
		}
		if h := historyTexts(t, f, first); strings.Contains(h, "somebody else") {
			t.Fatalf("the first visitor's history shows the second's:\n%s", h)
		}

		// Undo: rows and conversations exactly as before.
		if _, err := f.svc.UndoContactMerge(ctx, mustMember(t, f, porthole.RoleAgent, "write"), merge.ID, ""); !porthole.IsCode(err, porthole.EFORBIDDEN) {
			t.Fatalf("an agent's undo = %v; want forbidden", err)
		}
		undone, err := f.svc.UndoContactMerge(ctx, admin, merge.ID, "wrong person")
		if err != nil || undone.UndoneAt == nil || undone.UndoneBy != "user:"+admin.UserID {
			t.Fatalf("undo = %+v, %v", undone, err)
		}
		afterFirst, afterSecond := mustContact(t, f, first.Visitor.ID), mustContact(t, f, second.Visitor.ID)
		if !sameContact(afterFirst, beforeFirst) {
			t.Fatalf("first contact after undo = %+v; before the merge %+v", afterFirst, beforeFirst)
		}
		beforeSecond.Name, beforeSecond.Email, beforeSecond.Phone = "Mallory", "mallory@example.com", "+49301234567" // the form, not the merge
		if !sameContact(afterSecond, beforeSecond) {
			t.Fatalf("second contact after undo = %+v; want %+v", afterSecond, beforeSecond)
		}
		afterConvs, err := tn.InboxConversations(ctx, store.Visibility{All: true}, store.InboxFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if a, b := conversationIDs(afterConvs), conversationIDs(beforeConvs); len(a) != 2 || a[first.Conversation.ID] != b[first.Conversation.ID] ||
			a[second.Conversation.ID] != b[second.Conversation.ID] {
			t.Fatalf("conversation contacts after undo = %v; before %v", a, b)
		}
		if _, err := f.svc.UndoContactMerge(ctx, admin, merge.ID, ""); !porthole.IsCode(err, porthole.ECONFLICT) {
			t.Fatalf("a second undo = %v; want conflict", err)
		}
		undos := auditActions(t, f)[store.ActionContactMergeUndo]
		if len(undos) != 1 || undos[0].Actor != (audit.Actor{Kind: audit.ActorUser, ID: admin.UserID}) || undos[0].Reason != "wrong person" {
			t.Fatalf("contact.merge_undo entries = %+v", undos)
		}
	})
}

func mustRejoin(tb testing.TB, f *fixture, sess *chat.Session) *chat.Session {
	tb.Helper()
	s, err := f.svc.Join(context.Background(), sess.OrgID, sess.ChatbotID, sess.SessionID, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// sameContact compares everything but the update time.
func sameContact(a, b store.Contact) bool {
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	a.CreatedAt, b.CreatedAt = a.CreatedAt.UTC(), b.CreatedAt.UTC()
	return a == b
}

// TestContactVerifiedEmailMerges: a signed identity's email is verified and
// merges two rows; a typed email, even the same, does not.
func TestContactVerifiedEmailMerges(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f, _ := mustContactsFixture(t, db)
		first, err := f.svc.Join(ctx, f.org.ID, f.bot.ID, porthole.NewID(), &chat.VerifiedIdentity{UserID: "u1", Email: "ann@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if c := mustContact(t, f, first.Visitor.ID); !c.EmailVerified || c.MergedInto != "" {
			t.Fatalf("identified visitor = %+v; want a verified email", c)
		}
		typed := mustJoin(t, f)
		mustSubmitContact(t, f, typed, map[string]string{"name": "Not Ann", "email": "ann@example.com"})
		if c := mustContact(t, f, typed.Visitor.ID); c.EmailVerified || c.MergedInto != "" {
			t.Fatalf("typed email = %+v; want unverified and not merged", c)
		}
		second, err := f.svc.Join(ctx, f.org.ID, f.bot.ID, porthole.NewID(), &chat.VerifiedIdentity{UserID: "u1", Email: "Ann@Example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if c := mustContact(t, f, second.Visitor.ID); c.MergedInto != first.Visitor.ID {
			t.Fatalf("second identified visitor = %+v; want merged into %s", c, first.Visitor.ID)
		}
		if second.Conversation.ID == first.Conversation.ID {
			t.Fatal("the second session joined the first one's conversation")
		}
		// The identified visitor confirming the same email in the form keeps it verified.
		mustSubmitContact(t, f, first, map[string]string{"name": "Ann", "email": "ann@example.com"})
		if c := mustContact(t, f, first.Visitor.ID); !c.EmailVerified {
			t.Fatalf("retyping the verified email unverified it: %+v", c)
		}
	})
}

// TestContactMergeAdminActions: listing, manual merge and its refusals.
func TestContactMergeAdminActions(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f, sec := mustContactsFixture(t, db)
		admin := mustMember(t, f, porthole.RoleAdmin, "")
		agent := mustMember(t, f, porthole.RoleAgent, "write")
		a, b := mustJoin(t, f), mustJoin(t, f)
		mustSubmitContact(t, f, a, map[string]string{"name": "Ann", "email": "ann@example.com"})
		mustSubmitContact(t, f, b, map[string]string{"name": "Ann B.", "phone": "+44 20 7946 0958", "email": "ann.b@example.com"})

		list, err := f.svc.Contacts(ctx, agent, store.ContactFilter{})
		if err != nil || len(list) != 2 {
			t.Fatalf("agent's contacts = %+v, %v", list, err)
		}
		if list, err := f.svc.Contacts(ctx, agent, store.ContactFilter{Query: "ann.b@"}); err != nil || len(list) != 1 || list[0].ID != b.Visitor.ID {
			t.Fatalf("search = %+v, %v", list, err)
		}
		ungranted := mustMember(t, f, porthole.RoleAgent, "")
		if list, err := f.svc.Contacts(ctx, ungranted, store.ContactFilter{}); err != nil || len(list) != 0 {
			t.Fatalf("an agent without a grant lists %+v, %v", list, err)
		}
		if _, err := f.svc.Contact(ctx, ungranted, a.Visitor.ID); !porthole.IsCode(err, porthole.ENOTFOUND) {
			t.Fatalf("an agent without a grant reads a contact: %v", err)
		}

		if _, err := f.svc.MergeContacts(ctx, agent, a.Visitor.ID, b.Visitor.ID, ""); !porthole.IsCode(err, porthole.EFORBIDDEN) {
			t.Fatalf("an agent's merge = %v; want forbidden", err)
		}

		// Another organization's contact: refused as not found, recorded.
		other, err := db.CreateOrganization(ctx, "Other Clinic")
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := db.Tenant(other.ID).EnsureVisitor(ctx, porthole.NewID())
		if err != nil {
			t.Fatal(err)
		}
		before := sec.count(porthole.SecAuthorizationFailed)
		for _, pair := range [][2]string{{a.Visitor.ID, foreign.ID}, {foreign.ID, a.Visitor.ID}} {
			if _, err := f.svc.MergeContacts(ctx, admin, pair[0], pair[1], ""); !porthole.IsCode(err, porthole.ENOTFOUND) {
				t.Fatalf("merge %v = %v; want not found", pair, err)
			}
		}
		if sec.count(porthole.SecAuthorizationFailed) != before+2 {
			t.Fatalf("security events = %+v; want two refusals recorded", sec.events)
		}
		if c, err := db.Tenant(other.ID).Contact(ctx, foreign.ID); err != nil || c.MergedInto != "" {
			t.Fatalf("the other organization's contact = %+v, %v", c, err)
		}
		if _, err := f.svc.Contact(ctx, admin, foreign.ID); !porthole.IsCode(err, porthole.ENOTFOUND) {
			t.Fatalf("reading another organization's contact = %v", err)
		}
		if _, err := f.svc.MergeContacts(ctx, admin, a.Visitor.ID, a.Visitor.ID, ""); !porthole.IsCode(err, porthole.EINVALID) {
			t.Fatalf("merge into itself = %v", err)
		}

		m, err := f.svc.MergeContacts(ctx, admin, a.Visitor.ID, b.Visitor.ID, "same person, two emails")
		if err != nil || m.Match != store.MatchManual || len(m.Conversations) != 1 || m.Conversations[0] != b.Conversation.ID {
			t.Fatalf("merge = %+v, %v", m, err)
		}
		if c := mustContact(t, f, a.Visitor.ID); c.Phone != "+442079460958" || c.Email != "ann@example.com" {
			t.Fatalf("survivor = %+v; want its email kept and the phone filled in", c)
		}
		if _, err := f.svc.MergeContacts(ctx, admin, a.Visitor.ID, b.Visitor.ID, ""); !porthole.IsCode(err, porthole.ECONFLICT) {
			t.Fatalf("merging a merged row again = %v; want conflict", err)
		}
		if list, _ := f.svc.Contacts(ctx, admin, store.ContactFilter{}); len(list) != 1 || list[0].ID != a.Visitor.ID {
			t.Fatalf("contacts after the merge = %+v", list)
		}
		if _, err := f.svc.UndoContactMerge(ctx, admin, m.ID, ""); err != nil {
			t.Fatal(err)
		}
		if c := mustContact(t, f, a.Visitor.ID); c.Phone != "" {
			t.Fatalf("survivor after undo = %+v; want the filled phone removed", c)
		}
		entries := auditActions(t, f)
		if len(entries[store.ActionContactMerge]) != 1 || len(entries[store.ActionContactMergeUndo]) != 1 {
			t.Fatalf("audit: %d merges, %d undos", len(entries[store.ActionContactMerge]), len(entries[store.ActionContactMergeUndo]))
		}
	})
}
