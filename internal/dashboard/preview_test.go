package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/assistant"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// TestPreviewPageShowsTheReply: "Preview the reply" shows the assistant's
// reply (escaped), its citations and the passages it was given, beside the
// retrieval preview; nothing is stored but the preview's audit entry; an
// agent without a grant gets 404.
func TestPreviewPageShowsTheReply(t *testing.T) {
	forEachDialect(t, func(t *testing.T, a *app.App) {
		ctx := context.Background()
		org := mustOrg(t, a, "Alpha")
		admin := mustMember(t, a, org.ID, "admin@a.example", porthole.RoleAdmin)
		mustMember(t, a, org.ID, "agent@a.example", porthole.RoleAgent)
		bot := mustChatbot(t, a, org.ID, "Front desk") // the built-in provider
		as, agent := mustSignIn(t, a, "admin@a.example"), mustSignIn(t, a, "agent@a.example")
		wantStatus(t, as.upload(t, bot.ID, "parking.txt", []byte("Park in the quixotical courtyard <b>behind</b> the clinic.")), http.StatusSeeOther)
		mustIngestAll(t, a)
		base := "/app/chatbots/" + bot.ID

		form := url.Values{"message": {"where is the quixotical courtyard?"}, "run": {"reply"}}
		rec := as.post(t, base+"/preview", form)
		wantStatus(t, rec, http.StatusOK)
		body := rec.Body.String()
		for _, want := range []string{"Reply preview", "Passages the model was given", "Retrieval preview", "[1] parking.txt",
			"courtyard &lt;b&gt;behind&lt;/b&gt;"} {
			if !strings.Contains(body, want) {
				t.Fatalf("preview page lacks %q: %s", want, body)
			}
		}
		if strings.Contains(body, "<b>behind</b>") {
			t.Fatalf("knowledge text reached the page unescaped: %s", body)
		}
		checkStrictPage(t, base+"/preview", rec.Header(), body)

		tn := a.DB.Tenant(org.ID)
		convs, err := tn.InboxConversations(ctx, store.Visibility{All: true}, store.InboxFilter{})
		if err != nil || len(convs) != 0 {
			t.Fatalf("conversations after a preview: %d, %v", len(convs), err)
		}
		entries, err := tn.AuditEntries(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		previews := 0
		for _, en := range entries {
			if en.Action == assistant.ActionPreview {
				previews++
				if en.Actor.ID != admin.ID {
					t.Fatalf("preview attributed to %+v, want the member", en.Actor)
				}
			}
		}
		if previews != 1 {
			t.Fatalf("%d assistant.preview entries, want 1", previews)
		}

		// Retrieval only calls no model and records no preview.
		rec = as.post(t, base+"/preview", url.Values{"message": {"where is the quixotical courtyard?"}, "run": {"retrieval"}})
		wantStatus(t, rec, http.StatusOK)
		if strings.Contains(rec.Body.String(), "Reply preview") || !strings.Contains(rec.Body.String(), "quixotical courtyard") {
			t.Fatalf("retrieval-only preview: %s", rec.Body)
		}
		wantStatus(t, agent.post(t, base+"/preview", form), http.StatusNotFound)
	})
}
