package assistant_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/assistant"
	"github.com/porthole-chat/porthole/internal/assistant/llm"
	"github.com/porthole-chat/porthole/internal/assistant/llm/llmtest"
	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/knowledge"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/ratelimit"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// fakeModel is an OpenAI-compatible server whose replies are scripted per
// request; it keeps every request body it received.
type fakeModel struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []string
	script func(n int, body string, w http.ResponseWriter)
}

func mustFakeModel(tb testing.TB, script func(n int, body string, w http.ResponseWriter)) *fakeModel {
	tb.Helper()
	fm := &fakeModel{t: tb, script: script}
	fm.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fm.mu.Lock()
		fm.bodies = append(fm.bodies, string(b))
		n := len(fm.bodies)
		fm.mu.Unlock()
		fm.script(n, string(b), w)
	}))
	tb.Cleanup(fm.srv.Close)
	allowModel(tb, fm.srv)
	return fm
}

// modelAddrs are the loopback addresses of the fake models tests started
// with allowModel; engines built by env.engine may reach them, and nothing
// else the guard refuses.
var modelAddrs sync.Map

// allowModel lets engines built by env.engine reach a fake model on
// loopback, which the SSRF guard refuses to every other engine.
func allowModel(tb testing.TB, srv *httptest.Server) {
	tb.Helper()
	addr := srv.Listener.Addr().String()
	modelAddrs.Store(addr, true)
	tb.Cleanup(func() { modelAddrs.Delete(addr) })
}

// testProviderNetwork is the SSRF guard with the fake models allowed.
func testProviderNetwork(tb testing.TB) fetch.StreamingOptions {
	tb.Helper()
	var addrs []string
	modelAddrs.Range(func(k, _ any) bool {
		addrs = append(addrs, k.(string))
		return true
	})
	return fetch.StreamingOptionsForTest(tb, fetch.StreamingOptions{}, addrs...)
}

func (fm *fakeModel) requests() []string {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	return append([]string(nil), fm.bodies...)
}

// replyText streams text in pieces, then usage and [DONE].
func replyText(w http.ResponseWriter, in, out int, pieces ...string) {
	sse := llmtest.NewSSE(w)
	_ = sse.Data(llmtest.OpenAIRole())
	for _, p := range pieces {
		_ = sse.Data(llmtest.OpenAIText(p))
	}
	_ = sse.Data(llmtest.OpenAIFinish("stop"))
	_ = sse.Data(llmtest.OpenAIUsage(in, out))
	_ = sse.Done()
}

// replyToolCall streams one tool call.
func replyToolCall(w http.ResponseWriter, id, name, args string) {
	sse := llmtest.NewSSE(w)
	_ = sse.Data(llmtest.OpenAIRole())
	_ = sse.Data(llmtest.OpenAIToolCall(0, id, name, args))
	_ = sse.Data(llmtest.OpenAIFinish("tool_calls"))
	_ = sse.Data(llmtest.OpenAIUsage(30, 5))
	_ = sse.Done()
}

type securityLog struct {
	mu     sync.Mutex
	events []porthole.SecurityEvent
}

func (s *securityLog) RecordSecurityEvent(_ context.Context, ev porthole.SecurityEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

func (s *securityLog) kinds() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ev := range s.events {
		out = append(out, ev.Kind)
	}
	return out
}

// env is one organization with a chatbot, its knowledge and a conversation.
type env struct {
	tb       testing.TB
	db       *store.DB
	org      porthole.Organization
	bot      porthole.Chatbot
	tn       *store.Tenant
	ks       *knowledge.Service
	security *securityLog
	visitor  store.Visitor
	conv     store.Conversation
}

func mustEnv(tb testing.TB) *env {
	tb.Helper()
	ctx := context.Background()
	db := storetest.MustOpenSQLite(tb)
	org, err := db.CreateOrganization(ctx, "Clinic")
	if err != nil {
		tb.Fatal(err)
	}
	tn := db.Tenant(org.ID)
	bot, err := tn.CreateChatbot(ctx, "Front desk")
	if err != nil {
		tb.Fatal(err)
	}
	sec := &securityLog{}
	ks := knowledge.New(knowledge.Config{DB: db, Fetcher: fetch.New(fetch.Options{}), Security: sec})
	e := &env{tb: tb, db: db, org: org, bot: bot, tn: tn, ks: ks, security: sec}
	e.visitor, e.conv = mustConversation(tb, tn, bot.ID)
	return e
}

func mustConversation(tb testing.TB, tn *store.Tenant, chatbotID string) (store.Visitor, store.Conversation) {
	tb.Helper()
	ctx := context.Background()
	v, err := tn.EnsureVisitor(ctx, porthole.NewID())
	if err != nil {
		tb.Fatal(err)
	}
	c, err := tn.EnsureConversation(ctx, v.ID, chatbotID)
	if err != nil {
		tb.Fatal(err)
	}
	return v, c
}

// mustKnowledge ingests documents into a chatbot's namespace.
func (e *env) mustKnowledge(tb testing.TB, chatbotID string, docs map[string]string) {
	tb.Helper()
	ctx := context.Background()
	ns := knowledge.Namespace{OrgID: e.org.ID, ChatbotID: chatbotID}
	for name, text := range docs {
		if _, err := e.ks.AddUpload(ctx, ns, knowledge.Upload{Kind: store.KnowledgeText, Name: name, Data: []byte(text)}); err != nil {
			tb.Fatal(err)
		}
	}
	w := knowledge.NewWorker(e.ks, 0, 0)
	for {
		worked, err := w.RunOnce(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if !worked {
			return
		}
	}
}

func (e *env) mustConfig(tb testing.TB, cfg store.AssistantConfig) {
	tb.Helper()
	cfg.ChatbotID = e.bot.ID
	if _, err := e.tn.PutAssistantConfig(context.Background(), cfg); err != nil {
		tb.Fatal(err)
	}
}

func openAIConfig(fm *fakeModel) store.AssistantConfig {
	return store.AssistantConfig{Provider: store.AssistantOpenAI, BaseURL: fm.srv.URL + "/v1/", Model: "test-model",
		SystemPrompt: "You are the front desk of a dental clinic."}
}

func (e *env) engine(extra func(*assistant.Config)) *assistant.Engine {
	cfg := assistant.Config{DB: e.db, Knowledge: e.ks, Security: e.security, ProviderNetwork: testProviderNetwork(e.tb),
		Policy: llm.Policy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, FirstTokenTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second}}
	if extra != nil {
		extra(&cfg)
	}
	return assistant.New(cfg)
}

// mustVisitorSays stores a visitor message and returns the turn input.
func (e *env) mustVisitorSays(tb testing.TB, text string) chat.TurnInput {
	tb.Helper()
	ctx := context.Background()
	if _, _, err := e.tn.AppendEvent(ctx, store.NewEvent{ConversationID: e.conv.ID, Kind: store.EventMessage, Role: store.RoleVisitor,
		Text: text, ClientID: porthole.NewID()}); err != nil {
		tb.Fatal(err)
	}
	history, err := e.tn.RecentMessages(ctx, e.conv.ID, 100)
	if err != nil {
		tb.Fatal(err)
	}
	return chat.TurnInput{OrgID: e.org.ID, ChatbotID: e.bot.ID, ConversationID: e.conv.ID, VisitorID: e.visitor.ID,
		TurnID: porthole.NewID(), History: history}
}

// run runs one turn and returns the deltas joined and the engine's error.
func run(ctx context.Context, eng *assistant.Engine, in chat.TurnInput) (string, int, error) {
	var b strings.Builder
	n := 0
	_, err := eng.Stream(ctx, in, func(s string) error {
		n++
		b.WriteString(s)
		return nil
	})
	return b.String(), n, err
}

func (e *env) audit(tb testing.TB, action string) []audit.Entry {
	tb.Helper()
	entries, err := e.tn.AuditEntries(context.Background(), 1000)
	if err != nil {
		tb.Fatal(err)
	}
	var out []audit.Entry
	for _, en := range entries {
		if en.Action == action {
			out = append(out, en)
		}
	}
	return out
}

func payloadOf(tb testing.TB, en audit.Entry) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(en.Payload, &m); err != nil {
		tb.Fatalf("payload %s: %v", en.Payload, err)
	}
	return m
}

func newLimiter() porthole.Limiter { return ratelimit.NewMemory() }
