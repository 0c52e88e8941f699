package llm_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/assistant/llm"
	"github.com/porthole-chat/porthole/internal/assistant/llm/llmtest"
)

func openAIConfig(u *upstream) llm.Config {
	return llm.Config{
		Kind:         llm.KindOpenAI,
		BaseURL:      u.URL + "/v1/",
		Model:        "gpt-test",
		APIKeySealed: seal(testKey),
		SystemPrompt: "You are the shop's assistant.",
		Temperature:  ptr(0.2),
		MaxTokens:    300,
	}
}

func streamText(chunks ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sse := llmtest.NewSSE(w)
		_ = sse.Data(llmtest.OpenAIRole())
		for _, c := range chunks {
			_ = sse.Data(llmtest.OpenAIText(c))
		}
		_ = sse.Data(llmtest.OpenAIFinish("stop"))
		_ = sse.Data(llmtest.OpenAIUsage(12, len(chunks)))
		_ = sse.Done()
	}
}

func TestOpenAIStreamsTextWithUsage(t *testing.T) {
	u := mustUpstream(t, streamText("Yes, ", "we ship ", "to Spain."))
	p, opener := mustProvider(t, openAIConfig(u))
	req := baseRequest
	req.Passages = []llm.Passage{{ID: "c1", SourceTitle: "Shipping", URL: "https://shop.example/shipping", Text: "We ship to all EU countries."}}
	evs := collectEvents(t, mustStream(t, context.Background(), p, req))

	if got := textOf(evs); got != "Yes, we ship to Spain." {
		t.Errorf("text %q", got)
	}
	var kinds []llm.EventKind
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	want := []llm.EventKind{llm.EventText, llm.EventText, llm.EventText, llm.EventUsage, llm.EventDone}
	if !equalKinds(kinds, want) {
		t.Errorf("event kinds %v, want %v", kinds, want)
	}
	if usage := evs[3].Usage; usage != (llm.Usage{InputTokens: 12, OutputTokens: 3}) {
		t.Errorf("usage %+v", usage)
	}
	if done := lastEvent(t, evs); done.StopReason != llm.StopEnd {
		t.Errorf("stop reason %q", done.StopReason)
	}
	if opener.calls.Load() != 1 {
		t.Errorf("key opened %d times, want once per stream", opener.calls.Load())
	}

	got := u.recorded()[0]
	if got.Path != "/v1/chat/completions" {
		t.Errorf("path %q", got.Path)
	}
	if h := got.Header.Get("Authorization"); h != "Bearer "+testKey {
		t.Errorf("Authorization %q", h)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	body := got.Body
	if body["model"] != "gpt-test" || body["stream"] != true || body["temperature"] != 0.2 || body["max_tokens"] != 300.0 {
		t.Errorf("body %v", body)
	}
	if so, _ := body["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Errorf("stream_options %v", body["stream_options"])
	}
	msgs := body["messages"].([]any)
	system := msgs[0].(map[string]any)
	if system["role"] != "system" || !strings.Contains(system["content"].(string), "You are the shop's assistant.") ||
		!strings.Contains(system["content"].(string), `<passage n="1" title="Shipping"`) {
		t.Errorf("system message %v", system)
	}
	if user := msgs[1].(map[string]any); user["role"] != "user" || user["content"] != "Do you ship to Spain?" {
		t.Errorf("user message %v", user)
	}
}

func equalKinds(a, b []llm.EventKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOpenAIAssemblesToolCallsFromFragments(t *testing.T) {
	u := mustUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		sse := llmtest.NewSSE(w)
		_ = sse.Data(llmtest.OpenAIRole())
		_ = sse.Data(llmtest.OpenAIToolCall(0, "call_a", "handoff_to_human", ""))
		_ = sse.Data(llmtest.OpenAIToolCall(1, "call_b", "search_knowledge", `{"que`))
		_ = sse.Data(llmtest.OpenAIToolCall(0, "", "", `{"reason":`))
		_ = sse.Data(llmtest.OpenAIToolCall(1, "", "", `ry":"refund policy"}`))
		_ = sse.Data(llmtest.OpenAIToolCall(0, "", "", `"asked for a person"}`))
		_ = sse.Data(llmtest.OpenAIFinish("tool_calls"))
		_ = sse.Data(llmtest.OpenAIUsage(40, 22))
		_ = sse.Done()
	})
	p, _ := mustProvider(t, openAIConfig(u))
	req := baseRequest
	req.Tools = []llm.Tool{{
		Name: "search_knowledge", Description: "Search the knowledge base",
		Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}`),
	}, {Name: "handoff_to_human", Description: "Hand the chat to a person"}}
	reply, err := llm.Collect(mustStream(t, context.Background(), p, req))
	if err != nil {
		t.Fatal(err)
	}
	if reply.StopReason != llm.StopToolUse || len(reply.ToolCalls) != 2 {
		t.Fatalf("reply %+v", reply)
	}
	want := []struct{ id, name, args string }{
		{"call_a", "handoff_to_human", `{"reason":"asked for a person"}`},
		{"call_b", "search_knowledge", `{"query":"refund policy"}`},
	}
	for i, w := range want {
		c := reply.ToolCalls[i]
		if c.ID != w.id || c.Name != w.name || string(c.Arguments) != w.args || !json.Valid(c.Arguments) {
			t.Errorf("tool call %d = %+v (%s), want %+v", i, c, c.Arguments, w)
		}
	}
	if reply.Usage.OutputTokens != 22 {
		t.Errorf("usage %+v", reply.Usage)
	}
	tools := u.recorded()[0].Body["tools"].([]any)
	fn := tools[0].(map[string]any)["function"].(map[string]any)
	if tools[0].(map[string]any)["type"] != "function" || fn["name"] != "search_knowledge" ||
		fn["parameters"].(map[string]any)["required"].([]any)[0] != "query" {
		t.Errorf("tools sent %v", tools)
	}
}

func TestOpenAISendsToolResultsBack(t *testing.T) {
	u := mustUpstream(t, streamText("Done."))
	p, _ := mustProvider(t, openAIConfig(u))
	req := llm.Request{Messages: []llm.Message{
		{Role: llm.RoleUser, Text: "Refunds?"},
		{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_b", Name: "search_knowledge", Arguments: json.RawMessage(`{"query":"refund"}`)}}},
		{Role: llm.RoleTool, ToolCallID: "call_b", Text: "30 days"},
	}}
	if _, err := llm.Collect(mustStream(t, context.Background(), p, req)); err != nil {
		t.Fatal(err)
	}
	msgs := u.recorded()[0].Body["messages"].([]any)
	asst := msgs[2].(map[string]any)
	call := asst["tool_calls"].([]any)[0].(map[string]any)
	if asst["role"] != "assistant" || call["id"] != "call_b" || call["function"].(map[string]any)["arguments"] != `{"query":"refund"}` {
		t.Errorf("assistant message %v", asst)
	}
	if tool := msgs[3].(map[string]any); tool["role"] != "tool" || tool["tool_call_id"] != "call_b" || tool["content"] != "30 days" {
		t.Errorf("tool message %v", tool)
	}
}

func TestOpenAISlowStreamArrivesInOrder(t *testing.T) {
	const n = 8
	u := mustUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		sse := llmtest.NewSSE(w)
		_ = sse.Data(llmtest.OpenAIRole())
		for i := range n {
			time.Sleep(40 * time.Millisecond)
			_ = sse.Data(llmtest.OpenAIText(string(rune('a' + i))))
		}
		_ = sse.Data(llmtest.OpenAIFinish("stop"))
		_ = sse.Done()
	})
	cfg := openAIConfig(u)
	cfg.Policy = fastPolicy
	cfg.Policy.IdleTimeout = time.Second // well above the 40 ms gaps
	p, _ := mustProvider(t, cfg)
	evs := collectEvents(t, mustStream(t, context.Background(), p, baseRequest))
	if got := textOf(evs); got != "abcdefgh" {
		t.Errorf("text %q", got)
	}
	if lastEvent(t, evs).Kind != llm.EventDone {
		t.Errorf("last event %+v", lastEvent(t, evs))
	}
}

func TestOpenAITruncatedStreamIsAnErrorWithoutRetry(t *testing.T) {
	tests := []struct {
		name string
		end  func(*llmtest.SSE)
	}{
		{"connection dropped", func(s *llmtest.SSE) { s.Abort() }},
		{"clean end without finish or [DONE]", func(*llmtest.SSE) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				sse := llmtest.NewSSE(w)
				_ = sse.Data(llmtest.OpenAIRole())
				_ = sse.Data(llmtest.OpenAIText("We ship to"))
				tt.end(sse)
			})
			p, _ := mustProvider(t, openAIConfig(u))
			evs := collectEvents(t, mustStream(t, context.Background(), p, baseRequest))
			e := mustErrorEvent(t, evs, llm.ErrTruncated)
			if !e.AfterOutput || e.Attempts != 1 {
				t.Errorf("error %+v", e)
			}
			if textOf(evs) != "We ship to" {
				t.Errorf("text before the error %q", textOf(evs))
			}
			if u.count() != 1 {
				t.Errorf("%d requests: a stream that already sent tokens must not be retried", u.count())
			}
		})
	}
}

func status(code int, header map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(llmtest.OpenAIError("server_error", "scripted failure")))
	}
}

func TestOpenAIRetriesBeforeTheFirstTokenOnly(t *testing.T) {
	tests := []struct {
		name         string
		script       []http.HandlerFunc
		wantErr      llm.ErrorKind // "" for success
		wantStatus   int
		wantRequests int
		minElapsed   time.Duration
		maxElapsed   time.Duration
	}{
		{name: "500 then success", script: []http.HandlerFunc{status(500, nil), streamText("ok")}, wantRequests: 2},
		{name: "502, 503 then success", script: []http.HandlerFunc{status(502, nil), status(503, nil), streamText("ok")}, wantRequests: 3},
		{name: "503 every time gives up after MaxAttempts", script: []http.HandlerFunc{status(503, nil)},
			wantErr: llm.ErrUnavailable, wantStatus: 503, wantRequests: 3},
		{name: "429 with Retry-After honoured", script: []http.HandlerFunc{status(429, map[string]string{"Retry-After": "1"}), streamText("ok")},
			wantRequests: 2, minElapsed: 900 * time.Millisecond},
		{name: "429 with retry-after-ms honoured", script: []http.HandlerFunc{status(429, map[string]string{"Retry-After-Ms": "150"}), streamText("ok")},
			wantRequests: 2, minElapsed: 140 * time.Millisecond},
		{name: "429 with Retry-After over the cap fails at once", script: []http.HandlerFunc{status(429, map[string]string{"Retry-After": "120"}), streamText("ok")},
			wantErr: llm.ErrRateLimited, wantStatus: 429, wantRequests: 1, maxElapsed: time.Second},
		{name: "401 is not retried", script: []http.HandlerFunc{status(401, nil), streamText("ok")},
			wantErr: llm.ErrAuth, wantStatus: 401, wantRequests: 1},
		{name: "404 unknown model is not retried", script: []http.HandlerFunc{status(404, nil), streamText("ok")},
			wantErr: llm.ErrBadRequest, wantStatus: 404, wantRequests: 1},
		{name: "error object after a token is not retried", script: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
			sse := llmtest.NewSSE(w)
			_ = sse.Data(llmtest.OpenAIText("Hel"))
			_ = sse.Data(llmtest.OpenAIError("server_error", "model crashed"))
		}, streamText("ok")}, wantErr: llm.ErrUpstream, wantRequests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustUpstream(t, tt.script...)
			p, _ := mustProvider(t, openAIConfig(u))
			start := time.Now()
			evs := collectEvents(t, mustStream(t, context.Background(), p, baseRequest))
			elapsed := time.Since(start)
			if tt.wantErr == "" {
				if last := lastEvent(t, evs); last.Kind != llm.EventDone || textOf(evs) != "ok" {
					t.Fatalf("events %+v", evs)
				}
			} else {
				e := mustErrorEvent(t, evs, tt.wantErr)
				if e.StatusCode != tt.wantStatus {
					t.Errorf("status %d, want %d", e.StatusCode, tt.wantStatus)
				}
				if strings.Contains(e.Error(), testKey) {
					t.Errorf("error text carries the key: %v", e)
				}
				if e.VisitorMessage() == "" || strings.Contains(e.VisitorMessage(), "scripted") {
					t.Errorf("visitor message %q", e.VisitorMessage())
				}
			}
			if n := u.count(); n != tt.wantRequests {
				t.Errorf("%d requests, want %d", n, tt.wantRequests)
			}
			if elapsed < tt.minElapsed {
				t.Errorf("took %v, want at least %v (Retry-After)", elapsed, tt.minElapsed)
			}
			if tt.maxElapsed > 0 && elapsed > tt.maxElapsed {
				t.Errorf("took %v, want at most %v", elapsed, tt.maxElapsed)
			}
		})
	}
}

func TestOpenAIConnectErrorIsRetriedThenReported(t *testing.T) {
	u := mustUpstream(t, streamText("unused"))
	cfg := openAIConfig(u)
	u.Close() // nothing listens there any more
	p, _ := mustProvider(t, cfg)
	evs := collectEvents(t, mustStream(t, context.Background(), p, baseRequest))
	e := mustErrorEvent(t, evs, llm.ErrUnavailable)
	if e.Attempts != fastPolicy.MaxAttempts || e.AfterOutput {
		t.Errorf("error %+v", e)
	}
}

func TestOpenAICancelClosesTheUpstreamConnection(t *testing.T) {
	tests := []struct {
		name string
		stop func(cancel context.CancelFunc, s llm.Stream)
	}{
		{"context canceled", func(cancel context.CancelFunc, _ llm.Stream) { cancel() }},
		{"stream closed", func(_ context.CancelFunc, s llm.Stream) { s.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				sse := llmtest.NewSSE(w)
				for r.Context().Err() == nil {
					if sse.Data(llmtest.OpenAIText("tok ")) != nil {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				untilClientGone(r)
			})
			p, _ := mustProvider(t, openAIConfig(u))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := mustStream(t, ctx, p, baseRequest)
			for range 2 {
				if ev, ok := s.Next(); !ok || ev.Kind != llm.EventText {
					t.Fatalf("event %+v", ev)
				}
			}
			tt.stop(cancel, s)
			u.waitClientGone(t)
			if ev, ok := s.Next(); ok && (ev.Kind != llm.EventError || ev.Err.Kind != llm.ErrCanceled) {
				t.Errorf("after stopping: %+v", ev)
			}
		})
	}
}

func TestOpenAITimeouts(t *testing.T) {
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		afterOutput bool
	}{
		{"first token never comes", func(w http.ResponseWriter, r *http.Request) {
			sse := llmtest.NewSSE(w)
			_ = sse.Data(llmtest.OpenAIRole()) // headers and a role chunk, then nothing
			untilClientGone(r)
		}, false},
		{"no headers at all", func(w http.ResponseWriter, r *http.Request) {
			untilClientGone(r)
		}, false},
		{"stalls after a token", func(w http.ResponseWriter, r *http.Request) {
			sse := llmtest.NewSSE(w)
			_ = sse.Data(llmtest.OpenAIText("Hello"))
			untilClientGone(r)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustUpstream(t, tt.handler)
			cfg := openAIConfig(u)
			cfg.Policy = fastPolicy
			cfg.Policy.FirstTokenTimeout = 200 * time.Millisecond
			cfg.Policy.IdleTimeout = 200 * time.Millisecond
			p, _ := mustProvider(t, cfg)
			start := time.Now()
			evs := collectEvents(t, mustStream(t, context.Background(), p, baseRequest))
			e := mustErrorEvent(t, evs, llm.ErrTimeout)
			if e.AfterOutput != tt.afterOutput {
				t.Errorf("AfterOutput %v", e.AfterOutput)
			}
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("timeout took %v", elapsed)
			}
			if u.count() != 1 {
				t.Errorf("%d requests: a timeout is reported, not retried", u.count())
			}
			u.waitClientGone(t)
		})
	}
}

// The idle timeout runs from the newest chunk: a stream far longer than it
// whose gaps stay under it completes, and a stall after many chunks ends
// the stream at the idle timeout, not at the first-token one.
func TestOpenAIIdleTimeoutRunsFromTheNewestChunk(t *testing.T) {
	const idle = 150 * time.Millisecond
	const gap = idle / 3
	chunks := func(sse *llmtest.SSE, n int) {
		for i := range n {
			time.Sleep(gap)
			_ = sse.Data(llmtest.OpenAIText(string(rune('a' + i%26))))
		}
	}
	u := mustUpstream(t,
		func(w http.ResponseWriter, r *http.Request) {
			sse := llmtest.NewSSE(w)
			chunks(sse, 24) // 1.2 s, eight idle timeouts
			_ = sse.Data(llmtest.OpenAIFinish("stop"))
			_ = sse.Done()
		},
		func(w http.ResponseWriter, r *http.Request) {
			sse := llmtest.NewSSE(w)
			chunks(sse, 12)
			untilClientGone(r)
		})
	cfg := openAIConfig(u)
	cfg.Policy = fastPolicy // first token within 5 s
	cfg.Policy.IdleTimeout = idle
	p, _ := mustProvider(t, cfg)

	evs := collectEvents(t, mustStream(t, context.Background(), p, baseRequest))
	if got := textOf(evs); len(got) != 24 {
		t.Fatalf("text %q, want 24 chunks", got)
	}
	if last := lastEvent(t, evs); last.Kind != llm.EventDone {
		t.Fatalf("a stream with gaps under the idle timeout ended with %+v", last)
	}

	s := mustStream(t, context.Background(), p, baseRequest)
	var lastChunk time.Time
	var text strings.Builder
	for {
		ev, ok := s.Next()
		if !ok {
			t.Fatal("the stream ended without an error")
		}
		if ev.Kind == llm.EventText {
			text.WriteString(ev.Text)
			lastChunk = time.Now()
			continue
		}
		e := mustErrorEvent(t, []llm.Event{ev}, llm.ErrTimeout)
		if !e.AfterOutput || text.Len() != 12 {
			t.Errorf("timeout after %q, AfterOutput %v", text.String(), e.AfterOutput)
		}
		// The first-token timeout (5 s) would be far later.
		if quiet := time.Since(lastChunk); quiet < idle || quiet > 2*time.Second {
			t.Errorf("stream ended %v after its newest chunk, idle timeout %v", quiet, idle)
		}
		break
	}
	_ = s.Close()
	u.waitClientGone(t)
}

func TestOpenAIIgnoresTheProcessEnvironment(t *testing.T) {
	u := mustUpstream(t, streamText("ok"))
	t.Setenv("OPENAI_API_KEY", "sk-operator-secret")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1/")
	t.Setenv("OPENAI_ORG_ID", "org-operator")
	cfg := openAIConfig(u)
	cfg.APIKeySealed = nil // a local Ollama without a key
	p, _ := mustProvider(t, cfg)
	if _, err := llm.Collect(mustStream(t, context.Background(), p, baseRequest)); err != nil {
		t.Fatal(err)
	}
	h := u.recorded()[0].Header
	if h.Get("Authorization") != "" || h.Get("OpenAI-Organization") != "" {
		t.Errorf("the operator's environment leaked into a tenant request: %v", h)
	}
}

func TestAzureOpenAIUsesAPIKeyHeaderAndVersion(t *testing.T) {
	u := mustUpstream(t, streamText("ok"))
	cfg := openAIConfig(u)
	cfg.Kind = llm.KindAzureOpenAI
	cfg.BaseURL = u.URL + "/openai/deployments/my-gpt/"
	cfg.APIVersion = "2024-10-21"
	p, _ := mustProvider(t, cfg)
	if _, err := llm.Collect(mustStream(t, context.Background(), p, baseRequest)); err != nil {
		t.Fatal(err)
	}
	got := u.recorded()[0]
	if got.Path != "/openai/deployments/my-gpt/chat/completions" || got.Query != "api-version=2024-10-21" {
		t.Errorf("request %s?%s", got.Path, got.Query)
	}
	if got.Header.Get("Api-Key") != testKey || got.Header.Get("Authorization") != "" {
		t.Errorf("auth headers %v", got.Header)
	}
}

func TestTokenStreamServer(t *testing.T) {
	ts := &llmtest.TokenStream{Tokens: 50}
	srv := llmtest.NewOpenAIServer(ts)
	defer srv.Close()
	p, _ := mustProvider(t, llm.Config{Kind: llm.KindOpenAI, BaseURL: srv.URL + "/v1/", Model: "m"})
	reply, err := llm.Collect(mustStream(t, context.Background(), p, baseRequest))
	if err != nil {
		t.Fatal(err)
	}
	if reply.Text != strings.Repeat("tok ", 50) || reply.Usage.OutputTokens != 50 || ts.Requests() != 1 {
		t.Errorf("reply %+v, requests %d", reply, ts.Requests())
	}
}

// BenchmarkOpenAIStreamPerToken measures what this package adds per streamed
// token (SDK decoding, normalization, watchdog), against a local server that
// sends tokens back to back.
func BenchmarkOpenAIStreamPerToken(b *testing.B) {
	const tokens = 1000
	ts := &llmtest.TokenStream{Tokens: tokens}
	srv := llmtest.NewOpenAIServer(ts)
	defer srv.Close()
	p, _ := mustProvider(b, llm.Config{Kind: llm.KindOpenAI, BaseURL: srv.URL + "/v1/", Model: "m"})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s, err := p.Stream(context.Background(), baseRequest)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			ev, ok := s.Next()
			if !ok {
				break
			}
			if ev.Kind == llm.EventText {
				n++
			}
		}
		if n != tokens {
			b.Fatalf("%d tokens", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tokens), "ns/token")
}

// rawStream answers with a 200 event stream of exactly body.
func rawStream(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(body))
	}
}

// TestOpenAIStreamWireVariants: what compatible servers send besides
// plain "data:" lines (keep-alive comments, CRLF, a chunk over two data
// lines, named events, chunks without content, text after [DONE]) yields
// the reply and nothing else; a chunk's fields never carry into the next.
func TestOpenAIStreamWireVariants(t *testing.T) {
	stream := ": OPENROUTER PROCESSING\r\n\r\n" +
		"data: " + llmtest.OpenAIRole() + "\r\n\r\n" +
		"data: " + llmtest.OpenAIText("Yes, ") + "\n\n" +
		": keep-alive\n\n" +
		"data: {\"choices\":[{\"index\":0,\n" + "data: \"delta\":{\"content\":\"we ship.\"},\"finish_reason\":null}]}\n\n" +
		"event: message\n" + "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":null}]}\n\n" +
		"data: " + llmtest.OpenAIFinish("stop") + "\n\n" +
		"data: " + llmtest.OpenAIUsage(7, 2) + "\n\n" +
		"data: [DONE]\n\n" +
		"data: " + llmtest.OpenAIText("after the end") + "\n\n"
	u := mustUpstream(t, rawStream(stream))
	p, _ := mustProvider(t, openAIConfig(u))
	evs := collectEvents(t, mustStream(t, context.Background(), p, baseRequest))
	if got := textOf(evs); got != "Yes, we ship." {
		t.Errorf("text %q", got)
	}
	last := lastEvent(t, evs)
	if last.Kind != llm.EventDone || last.StopReason != llm.StopEnd {
		t.Fatalf("last event %+v", last)
	}
	if usage := evs[len(evs)-2].Usage; evs[len(evs)-2].Kind != llm.EventUsage || usage != (llm.Usage{InputTokens: 7, OutputTokens: 2}) {
		t.Errorf("usage event %+v", evs[len(evs)-2])
	}
}

// TestOpenAIStreamGarbageIsAnUpstreamError: an event that is not one chunk
// ends the reply with an upstream error, after the text that came before.
func TestOpenAIStreamGarbageIsAnUpstreamError(t *testing.T) {
	for _, bad := range []string{"<html>502 Bad Gateway</html>", `{"choices":[]} {"choices":[]}`, `{"choices":[{"index":0,"delta":{"content":"x"}`} {
		t.Run(bad, func(t *testing.T) {
			u := mustUpstream(t, rawStream("data: "+llmtest.OpenAIText("Hel")+"\n\ndata: "+bad+"\n\n"))
			p, _ := mustProvider(t, openAIConfig(u))
			evs := collectEvents(t, mustStream(t, context.Background(), p, baseRequest))
			if e := mustErrorEvent(t, evs, llm.ErrUpstream); !e.AfterOutput || textOf(evs) != "Hel" {
				t.Fatalf("error %+v after text %q", e, textOf(evs))
			}
			if u.count() != 1 {
				t.Fatalf("%d requests; a reply that sent text is not retried", u.count())
			}
		})
	}
}
