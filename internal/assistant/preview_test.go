package assistant_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/porthole-chat/porthole/internal/assistant"
	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/store"
)

// memberCtx is a request context acting as a member, as the dashboard and
// the API set it.
func memberCtx(userID string) context.Context {
	return audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorUser, ID: userID}, "POST /api/v1/chatbots/{id}/assistant/preview")
}

// mustNoTraces fails unless nothing but the preview's own entry was
// recorded: no conversation, no usage, no per-turn entries.
func (e *env) mustNoTraces(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	convs, err := e.tn.InboxConversations(ctx, store.Visibility{All: true}, store.InboxFilter{})
	if err != nil {
		tb.Fatal(err)
	}
	if len(convs) != 1 || convs[0].ID != e.conv.ID {
		tb.Errorf("conversations after a preview: %d, want only the fixture's", len(convs))
	}
	if u, err := e.tn.Usage(ctx, e.conv.ID); err == nil && (u.Turns != 0 || u.InputTokens != 0 || u.OutputTokens != 0) {
		tb.Errorf("usage recorded: %+v", u)
	}
	for _, action := range []string{assistant.ActionReply, audit.ActionKnowledgeLookup, audit.ActionToolCall, audit.ActionHandoff, assistant.ActionBudgetExhausted} {
		if got := e.audit(tb, action); len(got) != 0 {
			tb.Errorf("%s recorded by a preview: %+v", action, got)
		}
	}
}

func TestPreviewWithTheBuiltinProviderCitesTheKnowledgeAndStoresNothing(t *testing.T) {
	e := mustEnv(t)
	e.mustKnowledge(t, e.bot.ID, map[string]string{"Opening hours": clinicHours})
	// Budgets are set and spent by nothing: a preview must not count.
	e.mustConfig(t, store.AssistantConfig{Provider: store.AssistantBuiltin,
		Budgets: store.AssistantBudgets{Org: store.Budget{Messages: 1, Tokens: 1, WindowSeconds: 600}}})
	eng := e.engine(func(c *assistant.Config) { c.Limiter = newLimiter() })
	var streamed strings.Builder
	res, err := eng.Preview(memberCtx("user-1"), e.org.ID, e.bot.ID, "When is the clinic open on Saturday?", func(s string) { streamed.WriteString(s) })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Reply, "[1]") || !strings.Contains(res.Reply, "9:00") || streamed.String() != res.Reply {
		t.Fatalf("reply %q (streamed %q); want a cited answer", res.Reply, streamed.String())
	}
	if len(res.Citations) == 0 || res.Citations[0].Number != 1 || res.Citations[0].PassageID == "" {
		t.Fatalf("citations %+v", res.Citations)
	}
	if len(res.Passages) == 0 || !strings.Contains(res.Passages[0].Text, "Saturday") || res.ProviderError != "" {
		t.Fatalf("passages %+v, provider error %q", res.Passages, res.ProviderError)
	}
	e.mustNoTraces(t)
	entries := e.audit(t, assistant.ActionPreview)
	if len(entries) != 1 || entries[0].Actor != (audit.Actor{Kind: audit.ActorUser, ID: "user-1"}) ||
		entries[0].Target != "chatbot:"+e.bot.ID || entries[0].ConversationID != "" {
		t.Fatalf("preview entries %+v", entries)
	}
	// The budgets were not charged: a visitor's turn still runs.
	reply, _, err := run(context.Background(), eng, e.mustVisitorSays(t, "When is the clinic open on Saturday?"))
	if err != nil || reply == assistant.BudgetMessage {
		t.Fatalf("the turn after a preview read %q, %v", reply, err)
	}
}

func TestPreviewReportsToolsThatWouldChangeDataWithoutRunningThem(t *testing.T) {
	e := mustEnv(t)
	e.mustKnowledge(t, e.bot.ID, map[string]string{"Opening hours": clinicHours})
	var businessHits atomic.Int64
	business := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		businessHits.Add(1)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(business.Close)
	calls := []struct{ name, args string }{
		{assistant.ToolHandoff, `{"reason":"the visitor asked for a person"}`},
		{assistant.ToolContactForm, `{"name":"Ada","email":"ada@example.com"}`},
		{"book_slot", `{"day":"mon"}`},
		{assistant.ToolKnowledgeSearch, `{"query":"Saturday"}`},
	}
	fm := mustFakeModel(t, func(n int, body string, w http.ResponseWriter) {
		if n <= len(calls) {
			replyToolCall(w, "call_"+calls[n-1].name, calls[n-1].name, calls[n-1].args)
			return
		}
		replyText(w, 10, 2, "Done [1].")
	})
	cfg := openAIConfig(fm)
	cfg.Tools = store.AssistantTools{ContactForm: true, Handoff: true, KnowledgeSearch: true,
		HTTP: []store.AssistantHTTPTool{{Name: "book_slot", Description: "Book", Schema: json.RawMessage(`{"type":"object","properties":{"day":{"type":"string"}}}`),
			URL: business.URL + "/book", SecretSealed: seal("s3cret")}}}
	e.mustConfig(t, cfg)
	var handoffs atomic.Int64
	eng := e.engine(func(c *assistant.Config) {
		c.Vault = vault{}
		c.Fetcher = fetch.NewForTest(t, fetch.Options{}, business.Listener.Addr().String())
		c.Handoff = handoffFunc(func() { handoffs.Add(1) })
		c.MaxToolRounds = 8
	})
	res, err := eng.Preview(memberCtx("user-1"), e.org.ID, e.bot.ID, "Book me for Monday", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ToolCalls) != len(calls) {
		t.Fatalf("tool calls %+v", res.ToolCalls)
	}
	for i, c := range calls {
		got := res.ToolCalls[i]
		wantStatus := "not_executed"
		if c.name == assistant.ToolKnowledgeSearch {
			wantStatus = "executed"
		}
		if got.Name != c.name || got.Status != wantStatus {
			t.Errorf("call %d = %+v, want %s %s", i, got, c.name, wantStatus)
		}
		if wantStatus == "not_executed" && !strings.HasPrefix(got.Detail, "would call tool "+c.name+" with {") {
			t.Errorf("call %d detail %q", i, got.Detail)
		}
	}
	if businessHits.Load() != 0 || handoffs.Load() != 0 {
		t.Fatalf("a preview ran tools: %d business calls, %d hand-offs", businessHits.Load(), handoffs.Load())
	}
	if res.Reply == "" || len(res.Citations) != 1 {
		t.Fatalf("reply %q, citations %+v", res.Reply, res.Citations)
	}
	if v, err := e.tn.Visitor(context.Background(), e.visitor.ID); err == nil && (v.Name != "" || v.Email != "") {
		t.Fatalf("a preview saved contact details: %+v", v)
	}
	e.mustNoTraces(t)
	if got := e.audit(t, assistant.ActionPreview); len(got) != 1 {
		t.Fatalf("preview entries %d", len(got))
	}
}

func TestPreviewOfAnotherOrganizationsChatbotIsNotFound(t *testing.T) {
	e := mustEnv(t)
	other := mustEnv(t)
	_, err := e.engine(nil).Preview(memberCtx("user-1"), e.org.ID, other.bot.ID, "hello", nil)
	if err == nil {
		t.Fatal("previewed another organization's chatbot")
	}
}
