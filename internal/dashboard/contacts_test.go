package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// mustContact starts a visitor's conversation on orgID's chatbot and
// leaves contact details, as the widget's contact form does.
func (f *inboxFixture) mustContact(tb testing.TB, orgID, botID string, d chat.ContactDetails) store.Contact {
	tb.Helper()
	sess, err := f.chat.Join(context.Background(), orgID, botID, porthole.NewID(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	f.send(tb, sess, "Please call me back")
	c, _, err := f.chat.SaveContactDetails(context.Background(), sess, d)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// authorizationFailures counts org's authorization_failed events whose
// detail or path mentions part.
func authorizationFailures(tb testing.TB, f *inboxFixture, part string) int {
	tb.Helper()
	events, err := f.a.DB.Tenant(f.org.ID).SecurityEvents(context.Background(), 500)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, ev := range events {
		path, _ := ev.Data["path"].(string)
		if ev.Kind == porthole.SecAuthorizationFailed && (strings.Contains(ev.Detail, part) || strings.Contains(path, part)) {
			n++
		}
	}
	return n
}

func TestContactsPages(t *testing.T) {
	f := mustInbox(t, "Front desk")
	other := mustOrg(t, f.a, "Other clinic")
	otherBot := mustChatbot(t, f.a, other.ID, "Other desk")
	ann := f.mustContact(t, f.org.ID, f.bot.ID, chat.ContactDetails{Name: "Ann Example", Phone: "+14155550101", Email: "ann@example.com"})
	bob := f.mustContact(t, f.org.ID, f.bot.ID, chat.ContactDetails{Name: "Bob Example", Phone: "+14155550102"})
	carol := f.mustContact(t, other.ID, otherBot.ID, chat.ContactDetails{Name: "Carol Elsewhere", Phone: "+14155550103"})
	owner, _ := f.owner(t)
	admin, _ := f.member(t, "admin@example.com", porthole.RoleAdmin, "")
	viewer, _ := f.member(t, "viewer@example.com", porthole.RoleViewer, "read")
	agent, _ := f.member(t, "agent@example.com", porthole.RoleAgent, "write")
	agentNoGrant, _ := f.member(t, "nogrant@example.com", porthole.RoleAgent, "")
	merge := url.Values{"from": {bob.ID}}
	cases := []pageCase{
		{"owner lists contacts", owner, "GET", "/app/contacts", nil, 200},
		{"owner reads a contact", owner, "GET", "/app/contacts/" + ann.ID, nil, 200},
		{"another organization's contact is 404", owner, "GET", "/app/contacts/" + carol.ID, nil, 404},
		{"an unknown contact is 404", owner, "GET", "/app/contacts/" + porthole.NewID(), nil, 404},
		{"a malformed contact id is 404", owner, "GET", "/app/contacts/not-an-id", nil, 404},
		{"a granted viewer reads the contact", viewer, "GET", "/app/contacts/" + ann.ID, nil, 200},
		{"an agent without a grant: the contact does not exist", agentNoGrant, "GET", "/app/contacts/" + ann.ID, nil, 404},
		{"a viewer cannot merge", viewer, "POST", "/app/contacts/" + ann.ID + "/merge", merge, 403},
		{"an agent cannot merge", agent, "POST", "/app/contacts/" + ann.ID + "/merge", merge, 403},
		{"an agent cannot undo", agent, "POST", "/app/contacts/" + ann.ID + "/merges/" + porthole.NewID() + "/undo", url.Values{}, 403},
		{"merging a contact into itself is refused on the page", admin, "POST", "/app/contacts/" + ann.ID + "/merge", url.Values{"from": {ann.ID}}, 400},
		{"merging without an id is refused on the page", admin, "POST", "/app/contacts/" + ann.ID + "/merge", url.Values{"from": {""}}, 400},
		{"merging another organization's contact is 404", admin, "POST", "/app/contacts/" + ann.ID + "/merge", url.Values{"from": {carol.ID}}, 404},
		{"merging into another organization's contact is 404", admin, "POST", "/app/contacts/" + carol.ID + "/merge", merge, 404},
		{"undoing an unknown merge is 404", admin, "POST", "/app/contacts/" + ann.ID + "/merges/" + porthole.NewID() + "/undo", url.Values{}, 404},
		{"a bad page cursor", owner, "GET", "/app/contacts?before=yesterday", nil, 400},
	}
	runPageCases(t, cases)
	t.Run("the list shows the organization's contacts only", func(t *testing.T) {
		body := owner.get(t, "/app/contacts").Body.String()
		for _, want := range []string{"Ann Example", "&#43;14155550101", "ann@example.com", "Bob Example", `href="/app/contacts/` + ann.ID + `"`} {
			if !strings.Contains(body, want) {
				t.Errorf("the list lacks %q", want)
			}
		}
		if strings.Contains(body, "Carol Elsewhere") || strings.Contains(body, carol.ID) {
			t.Errorf("the list shows another organization's contact")
		}
		if body := agentNoGrant.get(t, "/app/contacts").Body.String(); strings.Contains(body, "Ann Example") {
			t.Errorf("an agent without a grant sees a contact of a chatbot they may not see")
		}
	})
	t.Run("the navigation links the contacts for members who read conversations", func(t *testing.T) {
		if body := viewer.get(t, "/app/").Body.String(); !strings.Contains(body, `href="/app/contacts"`) {
			t.Errorf("no Contacts link in the viewer's navigation")
		}
	})
	t.Run("the contact page links its conversations", func(t *testing.T) {
		convs, err := f.a.DB.Tenant(f.org.ID).ContactConversations(context.Background(), store.Visibility{All: true}, ann.ID)
		if err != nil || len(convs) != 1 {
			t.Fatalf("conversations of the contact = %v, %v", convs, err)
		}
		body := viewer.get(t, "/app/contacts/"+ann.ID).Body.String()
		if !strings.Contains(body, `href="/app/inbox/`+convs[0].ID+`"`) {
			t.Errorf("the contact page does not link its conversation: %s", body)
		}
	})
	t.Run("members without supervision see no merge form", func(t *testing.T) {
		for name, s := range map[string]*session{"viewer": viewer, "agent": agent} {
			body := s.get(t, "/app/contacts/"+ann.ID).Body.String()
			if strings.Contains(body, "/merge\"") || strings.Contains(body, "Undo merge") {
				t.Errorf("%s sees a merge form", name)
			}
		}
		if body := admin.get(t, "/app/contacts/"+ann.ID).Body.String(); !strings.Contains(body, `action="/app/contacts/`+ann.ID+`/merge"`) {
			t.Errorf("the admin sees no merge form")
		}
	})
	t.Run("refused merges are security events", func(t *testing.T) {
		if n := authorizationFailures(t, f, "/app/contacts/"+ann.ID+"/merge"); n < 2 {
			t.Errorf("%d authorization_failed events for the forged merges, want 2", n)
		}
		if n := authorizationFailures(t, f, carol.ID); n == 0 {
			t.Errorf("no authorization_failed event for another organization's contact")
		}
	})
	t.Run("an admin merges through the form and undoes it", func(t *testing.T) {
		rec := admin.post(t, "/app/contacts/"+ann.ID+"/merge", url.Values{"from": {bob.ID}, "reason": {"same person"}})
		wantStatus(t, rec, http.StatusSeeOther)
		if loc := rec.Header().Get("Location"); loc != "/app/contacts/"+ann.ID+"?done=contacts-merged" {
			t.Fatalf("Location = %q", loc)
		}
		if body := owner.get(t, "/app/contacts").Body.String(); strings.Contains(body, "Bob Example") {
			t.Errorf("the merged contact is still listed on its own")
		}
		merges, err := f.a.DB.Tenant(f.org.ID).ContactMerges(context.Background(), ann.ID)
		if err != nil || len(merges) != 1 || merges[0].MergedID != bob.ID {
			t.Fatalf("merges = %+v, %v", merges, err)
		}
		rec = admin.get(t, "/app/contacts/"+ann.ID+"?done=contacts-merged")
		wantStatus(t, rec, 200)
		body := rec.Body.String()
		checkStrictPage(t, "contact after merge", rec.Header(), body)
		undo := "/app/contacts/" + ann.ID + "/merges/" + merges[0].ID + "/undo"
		for _, want := range []string{"Contacts merged.", "Bob Example", `action="` + undo + `"`} {
			if !strings.Contains(body, want) {
				t.Errorf("the contact page after the merge lacks %q", want)
			}
		}
		wantStatus(t, agent.post(t, undo, url.Values{}), http.StatusForbidden)
		wantStatus(t, admin.post(t, undo, url.Values{"reason": {"two people after all"}}), http.StatusSeeOther)
		if body := owner.get(t, "/app/contacts").Body.String(); !strings.Contains(body, "Bob Example") {
			t.Errorf("the undone merge did not put the contact back in the list")
		}
		restored, err := f.a.DB.Tenant(f.org.ID).Contact(context.Background(), bob.ID)
		if err != nil || restored.MergedInto != "" {
			t.Fatalf("contact after undo = %+v, %v", restored, err)
		}
		body = admin.get(t, "/app/contacts/"+ann.ID).Body.String()
		if !strings.Contains(body, "Undone ") || strings.Contains(body, `action="`+undo+`"`) {
			t.Errorf("the history does not show the merge as undone")
		}
		wantStatus(t, admin.post(t, undo, url.Values{}), http.StatusConflict)
	})
}
