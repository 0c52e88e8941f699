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

func anthropicConfig(u *upstream) llm.Config {
	return llm.Config{
		Kind:         llm.KindAnthropic,
		BaseURL:      u.URL,
		Model:        "claude-test",
		APIKeySealed: seal(testKey),
		SystemPrompt: "You are the shop's assistant.",
		MaxTokens:    400,
	}
}

// anthropicText streams a complete text message in Anthropic's event format.
func anthropicText(chunks ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sse := llmtest.NewSSE(w)
		_ = sse.Event("message_start", llmtest.AnthropicMessageStart(25))
		_ = sse.Event("content_block_start", llmtest.AnthropicTextStart(0))
		_ = sse.Event("ping", llmtest.AnthropicPing())
		for _, c := range chunks {
			_ = sse.Event("content_block_delta", llmtest.AnthropicTextDelta(0, c))
		}
		_ = sse.Event("content_block_stop", llmtest.AnthropicBlockStop(0))
		_ = sse.Event("message_delta", llmtest.AnthropicMessageDelta("end_turn", 15))
		_ = sse.Event("message_stop", llmtest.AnthropicMessageStop())
	}
}

func anthropicStatus(code int, typ string, header map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(llmtest.AnthropicError(typ, "scripted failure")))
	}
}

func TestAnthropicStreamsTextWithUsage(t *testing.T) {
	u := mustUpstream(t, anthropicText("Yes, ", "we ship ", "to Spain."))
	p, _ := mustProvider(t, anthropicConfig(u))
	req := baseRequest
	req.Temperature = ptr(0.5)
	req.Passages = []llm.Passage{{SourceTitle: "Shipping", Text: "We ship to all EU countries."}}
	evs := collectEvents(t, mustStream(t, context.Background(), p, req))
	if got := textOf(evs); got != "Yes, we ship to Spain." {
		t.Errorf("text %q", got)
	}
	n := len(evs)
	if n < 2 || evs[n-2].Kind != llm.EventUsage || evs[n-2].Usage != (llm.Usage{InputTokens: 25, OutputTokens: 15}) {
		t.Errorf("usage event %+v", evs)
	}
	if done := lastEvent(t, evs); done.Kind != llm.EventDone || done.StopReason != llm.StopEnd {
		t.Errorf("done %+v", done)
	}

	got := u.recorded()[0]
	if got.Path != "/v1/messages" || got.Header.Get("X-Api-Key") != testKey || got.Header.Get("Anthropic-Version") == "" {
		t.Errorf("request %s headers %v", got.Path, got.Header)
	}
	body := got.Body
	if body["model"] != "claude-test" || body["stream"] != true || body["max_tokens"] != 400.0 || body["temperature"] != 0.5 {
		t.Errorf("body %v", body)
	}
	system := body["system"].([]any)
	if len(system) != 2 || system[0].(map[string]any)["text"] != "You are the shop's assistant." ||
		!strings.Contains(system[1].(map[string]any)["text"].(string), "We ship to all EU countries.") {
		t.Errorf("system %v", system)
	}
}

func TestAnthropicAssemblesToolUseFromInputJSONDeltas(t *testing.T) {
	u := mustUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		sse := llmtest.NewSSE(w)
		_ = sse.Event("message_start", llmtest.AnthropicMessageStart(30))
		_ = sse.Event("content_block_start", llmtest.AnthropicTextStart(0))
		_ = sse.Event("content_block_delta", llmtest.AnthropicTextDelta(0, "Let me look that up."))
		_ = sse.Event("content_block_stop", llmtest.AnthropicBlockStop(0))
		_ = sse.Event("content_block_start", llmtest.AnthropicToolUseStart(1, "toolu_01", "search_knowledge"))
		_ = sse.Event("content_block_delta", llmtest.AnthropicInputJSONDelta(1, ""))
		_ = sse.Event("content_block_delta", llmtest.AnthropicInputJSONDelta(1, `{"query": "ref`))
		_ = sse.Event("content_block_delta", llmtest.AnthropicInputJSONDelta(1, `und policy"}`))
		_ = sse.Event("content_block_stop", llmtest.AnthropicBlockStop(1))
		_ = sse.Event("message_delta", llmtest.AnthropicMessageDelta("tool_use", 44))
		_ = sse.Event("message_stop", llmtest.AnthropicMessageStop())
	})
	p, _ := mustProvider(t, anthropicConfig(u))
	req := baseRequest
	req.Tools = []llm.Tool{{
		Name: "search_knowledge", Description: "Search the knowledge base",
		Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"}},"required":["query"],"additionalProperties":false}`),
	}}
	reply, err := llm.Collect(mustStream(t, context.Background(), p, req))
	if err != nil {
		t.Fatal(err)
	}
	if reply.Text != "Let me look that up." || reply.StopReason != llm.StopToolUse || len(reply.ToolCalls) != 1 {
		t.Fatalf("reply %+v", reply)
	}
	c := reply.ToolCalls[0]
	if c.ID != "toolu_01" || c.Name != "search_knowledge" || string(c.Arguments) != `{"query": "refund policy"}` {
		t.Errorf("tool call %+v (%s)", c, c.Arguments)
	}
	if reply.Usage != (llm.Usage{InputTokens: 30, OutputTokens: 44}) {
		t.Errorf("usage %+v", reply.Usage)
	}
	tool := u.recorded()[0].Body["tools"].([]any)[0].(map[string]any)
	schema := tool["input_schema"].(map[string]any)
	if tool["name"] != "search_knowledge" || schema["type"] != "object" || schema["required"].([]any)[0] != "query" ||
		schema["additionalProperties"] != false || schema["properties"].(map[string]any)["query"] == nil {
		t.Errorf("tool sent %v", tool)
	}
}

func TestAnthropicSendsToolResultsInOneUserMessage(t *testing.T) {
	u := mustUpstream(t, anthropicText("Done."))
	p, _ := mustProvider(t, anthropicConfig(u))
	req := llm.Request{Messages: []llm.Message{
		{Role: llm.RoleUser, Text: "Refunds and shipping?"},
		{Role: llm.RoleAssistant, Text: "Looking.", ToolCalls: []llm.ToolCall{
			{ID: "t1", Name: "search_knowledge", Arguments: json.RawMessage(`{"query":"refund"}`)},
			{ID: "t2", Name: "search_knowledge", Arguments: json.RawMessage(`{"query":"shipping"}`)},
		}},
		{Role: llm.RoleTool, ToolCallID: "t1", Text: "30 days"},
		{Role: llm.RoleTool, ToolCallID: "t2", Text: "not found", ToolError: true},
	}}
	if _, err := llm.Collect(mustStream(t, context.Background(), p, req)); err != nil {
		t.Fatal(err)
	}
	msgs := u.recorded()[0].Body["messages"].([]any)
	if len(msgs) != 3 {
		t.Fatalf("messages %v", msgs)
	}
	results := msgs[2].(map[string]any)["content"].([]any)
	if msgs[2].(map[string]any)["role"] != "user" || len(results) != 2 ||
		results[0].(map[string]any)["tool_use_id"] != "t1" || results[1].(map[string]any)["is_error"] != true {
		t.Errorf("tool results %v", msgs[2])
	}
	uses := msgs[1].(map[string]any)["content"].([]any)
	if len(uses) != 3 || uses[1].(map[string]any)["type"] != "tool_use" || uses[1].(map[string]any)["input"].(map[string]any)["query"] != "refund" {
		t.Errorf("assistant content %v", uses)
	}
}

func TestAnthropicFailures(t *testing.T) {
	overloadedEvent := func(w http.ResponseWriter, r *http.Request) {
		sse := llmtest.NewSSE(w)
		_ = sse.Event("message_start", llmtest.AnthropicMessageStart(25))
		_ = sse.Event("error", llmtest.AnthropicError("overloaded_error", "Overloaded"))
	}
	tests := []struct {
		name         string
		script       []http.HandlerFunc
		wantErr      llm.ErrorKind
		afterOutput  bool
		wantRequests int
	}{
		{name: "overloaded event before output is retried", script: []http.HandlerFunc{overloadedEvent, anthropicText("ok")}, wantRequests: 2},
		{name: "529 then success", script: []http.HandlerFunc{anthropicStatus(529, "overloaded_error", nil), anthropicText("ok")}, wantRequests: 2},
		{name: "429 with retry-after-ms", script: []http.HandlerFunc{anthropicStatus(429, "rate_limit_error", map[string]string{"retry-after-ms": "50"}), anthropicText("ok")}, wantRequests: 2},
		{name: "401 is not retried", script: []http.HandlerFunc{anthropicStatus(401, "authentication_error", nil), anthropicText("ok")},
			wantErr: llm.ErrAuth, wantRequests: 1},
		{name: "error event after output is not retried", script: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
			sse := llmtest.NewSSE(w)
			_ = sse.Event("message_start", llmtest.AnthropicMessageStart(25))
			_ = sse.Event("content_block_start", llmtest.AnthropicTextStart(0))
			_ = sse.Event("content_block_delta", llmtest.AnthropicTextDelta(0, "We "))
			_ = sse.Event("error", llmtest.AnthropicError("overloaded_error", "Overloaded"))
		}, anthropicText("ok")}, wantErr: llm.ErrUnavailable, afterOutput: true, wantRequests: 1},
		{name: "ends without message_stop", script: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
			sse := llmtest.NewSSE(w)
			_ = sse.Event("message_start", llmtest.AnthropicMessageStart(25))
			_ = sse.Event("content_block_start", llmtest.AnthropicTextStart(0))
			_ = sse.Event("content_block_delta", llmtest.AnthropicTextDelta(0, "We "))
		}, anthropicText("ok")}, wantErr: llm.ErrTruncated, afterOutput: true, wantRequests: 1},
		{name: "connection dropped mid-stream", script: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
			sse := llmtest.NewSSE(w)
			_ = sse.Event("message_start", llmtest.AnthropicMessageStart(25))
			_ = sse.Event("content_block_start", llmtest.AnthropicTextStart(0))
			_ = sse.Event("content_block_delta", llmtest.AnthropicTextDelta(0, "We "))
			sse.Abort()
		}, anthropicText("ok")}, wantErr: llm.ErrTruncated, afterOutput: true, wantRequests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustUpstream(t, tt.script...)
			p, _ := mustProvider(t, anthropicConfig(u))
			evs := collectEvents(t, mustStream(t, context.Background(), p, baseRequest))
			if tt.wantErr == "" {
				if last := lastEvent(t, evs); last.Kind != llm.EventDone || textOf(evs) != "ok" {
					t.Fatalf("events %+v", evs)
				}
			} else {
				e := mustErrorEvent(t, evs, tt.wantErr)
				if e.AfterOutput != tt.afterOutput {
					t.Errorf("AfterOutput %v", e.AfterOutput)
				}
				if strings.Contains(e.Error(), testKey) {
					t.Errorf("error text carries the key: %v", e)
				}
			}
			if n := u.count(); n != tt.wantRequests {
				t.Errorf("%d requests, want %d", n, tt.wantRequests)
			}
		})
	}
}

func TestAnthropicCancelClosesTheUpstreamConnection(t *testing.T) {
	u := mustUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		sse := llmtest.NewSSE(w)
		_ = sse.Event("message_start", llmtest.AnthropicMessageStart(25))
		_ = sse.Event("content_block_start", llmtest.AnthropicTextStart(0))
		for r.Context().Err() == nil {
			if sse.Event("content_block_delta", llmtest.AnthropicTextDelta(0, "tok ")) != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		untilClientGone(r)
	})
	p, _ := mustProvider(t, anthropicConfig(u))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := mustStream(t, ctx, p, baseRequest)
	if ev, ok := s.Next(); !ok || ev.Kind != llm.EventText {
		t.Fatalf("event %+v", ev)
	}
	cancel()
	u.waitClientGone(t)
	ev, ok := s.Next()
	for ok && ev.Kind == llm.EventText { // chunks already buffered may still come out
		ev, ok = s.Next()
	}
	if !ok || ev.Kind != llm.EventError || ev.Err.Kind != llm.ErrCanceled {
		t.Errorf("after cancel: %+v", ev)
	}
}

func TestAnthropicIgnoresTheProcessEnvironment(t *testing.T) {
	u := mustUpstream(t, anthropicText("ok"))
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-operator-secret")
	t.Setenv("ANTHROPIC_AUTH_TOKEN", "operator-token")
	t.Setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1/")
	cfg := anthropicConfig(u)
	cfg.APIKeySealed = nil
	p, _ := mustProvider(t, cfg)
	if _, err := llm.Collect(mustStream(t, context.Background(), p, baseRequest)); err != nil {
		t.Fatal(err)
	}
	h := u.recorded()[0].Header
	if h.Get("X-Api-Key") != "" || h.Get("Authorization") != "" {
		t.Errorf("the operator's environment leaked into a tenant request: %v", h)
	}
}

// TestAnthropicStreamWireVariants: comments, pings and event types the
// adapter does not know pass without a trace, and an event that is not
// one JSON object, or an error event of a kind it does not know, ends the
// reply with an upstream error after the text before it.
func TestAnthropicStreamWireVariants(t *testing.T) {
	head := "event: message_start\ndata: " + llmtest.AnthropicMessageStart(25) + "\n\n" +
		": keep-alive\n\n" +
		"event: content_block_start\r\ndata: " + llmtest.AnthropicTextStart(0) + "\r\n\r\n" +
		"event: something_new\ndata: {\"type\":\"something_new\",\"index\":0}\n\n" +
		"event: content_block_delta\ndata: " + llmtest.AnthropicTextDelta(0, "We ") + "\n\n"
	end := "event: content_block_delta\ndata: " + llmtest.AnthropicTextDelta(0, "ship.") + "\n\n" +
		"event: content_block_stop\ndata: " + llmtest.AnthropicBlockStop(0) + "\n\n" +
		"event: message_delta\ndata: " + llmtest.AnthropicMessageDelta("end_turn", 2) + "\n\n" +
		"event: message_stop\ndata: " + llmtest.AnthropicMessageStop() + "\n\n"
	u := mustUpstream(t, rawStream(head+end))
	p, _ := mustProvider(t, anthropicConfig(u))
	evs := collectEvents(t, mustStream(t, context.Background(), p, baseRequest))
	if textOf(evs) != "We ship." || lastEvent(t, evs).Kind != llm.EventDone {
		t.Fatalf("events %+v", evs)
	}

	for _, bad := range []string{"<html>502</html>", `{"type":"error","error":{"type":"brand_new_error","message":"?"}}`} {
		u := mustUpstream(t, rawStream(head+"event: error\ndata: "+bad+"\n\n"))
		p, _ := mustProvider(t, anthropicConfig(u))
		evs := collectEvents(t, mustStream(t, context.Background(), p, baseRequest))
		if e := mustErrorEvent(t, evs, llm.ErrUpstream); !e.AfterOutput || textOf(evs) != "We " || u.count() != 1 {
			t.Fatalf("%s: error %+v after %q, %d requests", bad, e, textOf(evs), u.count())
		}
	}
}

// BenchmarkAnthropicStreamPerToken measures what this package adds per
// streamed text delta, against a local server that sends them back to back
// (its own allocations are in the figure too).
func BenchmarkAnthropicStreamPerToken(b *testing.B) {
	const tokens = 1000
	chunks := make([]string, tokens)
	for i := range chunks {
		chunks[i] = "tok "
	}
	u := mustUpstream(b, anthropicText(chunks...))
	p, _ := mustProvider(b, anthropicConfig(u))
	b.ReportAllocs()
	for b.Loop() {
		if reply, err := llm.Collect(mustStream(b, context.Background(), p, baseRequest)); err != nil || len(reply.Text) != 4*tokens {
			b.Fatalf("reply of %d bytes, %v", len(reply.Text), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tokens), "ns/token")
}
