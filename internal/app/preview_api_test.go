package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/assistant"
	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/knowledge"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// TestAssistantPreviewAPI: an agent granted a chatbot previews a cited
// reply from its knowledge with the built-in provider, which leaves no
// conversation and one assistant.preview entry; a chatbot it was not
// granted answers 404, as if it did not exist.
func TestAssistantPreviewAPI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, a *app.App) {
		ctx := context.Background()
		org, _ := a.DB.CreateOrganization(ctx, "Alpha")
		tn := a.DB.Tenant(org.ID)
		granted, _ := tn.CreateChatbot(ctx, "granted bot")
		hidden, _ := tn.CreateChatbot(ctx, "hidden bot")
		for _, bot := range []string{granted.ID, hidden.ID} {
			if _, err := a.Knowledge.AddUpload(ctx, knowledge.Namespace{OrgID: org.ID, ChatbotID: bot}, knowledge.Upload{Kind: store.KnowledgeText,
				Name: "hours.txt", Data: []byte("Smile Clinic is open Monday to Friday from 8:00 to 18:00. On Saturday the clinic opens from 9:00 to 13:00.")}); err != nil {
				t.Fatal(err)
			}
		}
		mustIngest(t, a)
		agent := mustMember(t, a, org.ID, "agent@alpha.example", porthole.RoleAgent)
		if err := tn.SetChatbotGrant(ctx, granted.ID, agent, "read"); err != nil {
			t.Fatal(err)
		}
		token := mustLogin(t, a, "agent@alpha.example")
		body := `{"message":"When is the clinic open on Saturday?"}`

		if rec := do(t, a.Handler(), "POST", "/api/v1/chatbots/"+hidden.ID+"/assistant/preview", token, body); rec.Code != 404 {
			t.Fatalf("preview of an ungranted chatbot = %d %s; want 404", rec.Code, rec.Body)
		}
		rec := do(t, a.Handler(), "POST", "/api/v1/chatbots/"+granted.ID+"/assistant/preview", token, body)
		if rec.Code != 200 {
			t.Fatalf("preview = %d %s", rec.Code, rec.Body)
		}
		var res assistant.PreviewResult
		decodeInto(t, rec, &res)
		if !strings.Contains(res.Reply, "9:00") || !strings.Contains(res.Reply, "[1]") || len(res.Citations) == 0 || len(res.Passages) == 0 ||
			res.ToolCalls == nil {
			t.Fatalf("preview = %s", rec.Body)
		}
		if rec := do(t, a.Handler(), "POST", "/api/v1/chatbots/"+granted.ID+"/assistant/preview", token, `{"message":"  "}`); rec.Code != 400 {
			t.Fatalf("empty message = %d %s; want 400", rec.Code, rec.Body)
		}

		convs, err := tn.InboxConversations(ctx, store.Visibility{All: true}, store.InboxFilter{})
		if err != nil || len(convs) != 0 {
			t.Fatalf("conversations after a preview: %d, %v", len(convs), err)
		}
		entries, err := tn.AuditEntries(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var previews []audit.Entry
		for _, en := range entries {
			switch en.Action {
			case assistant.ActionPreview:
				previews = append(previews, en)
			case assistant.ActionReply, audit.ActionKnowledgeLookup:
				t.Fatalf("a preview recorded %s", en.Action)
			}
		}
		if len(previews) != 1 || previews[0].Actor != (audit.Actor{Kind: audit.ActorUser, ID: agent}) || previews[0].Target != "chatbot:"+granted.ID {
			t.Fatalf("preview entries %+v", previews)
		}
	})
}
