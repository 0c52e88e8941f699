package llm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/openai/openai-go/shared"
)

// sdkParams builds the request the way the adapter did before it built the
// body itself; it is the reference openAIRequestBody must match.
func sdkParams(req Request, useMaxCompletion bool) (openai.ChatCompletionNewParams, error) {
	p := openai.ChatCompletionNewParams{
		Model:         shared.ChatModel(req.Model),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
	if system := systemWithKnowledge(req.System, req.Passages); system != "" {
		p.Messages = append(p.Messages, openai.SystemMessage(system))
	}
	for _, m := range req.Messages {
		switch m.Role {
		case RoleUser:
			p.Messages = append(p.Messages, openai.UserMessage(m.Text))
		case RoleAssistant:
			msg := openai.ChatCompletionAssistantMessageParam{}
			if m.Text != "" {
				msg.Content.OfString = openai.String(m.Text)
			}
			for _, c := range m.ToolCalls {
				msg.ToolCalls = append(msg.ToolCalls, openai.ChatCompletionMessageToolCallParam{
					ID: c.ID,
					Function: openai.ChatCompletionMessageToolCallFunctionParam{
						Name:      c.Name,
						Arguments: string(argumentsOrEmpty(c.Arguments)),
					},
				})
			}
			p.Messages = append(p.Messages, openai.ChatCompletionMessageParamUnion{OfAssistant: &msg})
		case RoleTool:
			p.Messages = append(p.Messages, openai.ToolMessage(m.Text, m.ToolCallID))
		default:
			return p, &Error{Kind: ErrConfig, Err: errors.New("unknown message role")}
		}
	}
	for _, t := range req.Tools {
		schema, err := schemaObject(t.Parameters)
		if err != nil {
			return p, &Error{Kind: ErrConfig, Err: err}
		}
		fn := shared.FunctionDefinitionParam{Name: t.Name, Parameters: shared.FunctionParameters(schema)}
		if t.Description != "" {
			fn.Description = openai.String(t.Description)
		}
		p.Tools = append(p.Tools, openai.ChatCompletionToolParam{Function: fn})
	}
	if req.Temperature != nil {
		p.Temperature = openai.Float(*req.Temperature)
	}
	if useMaxCompletion {
		p.MaxCompletionTokens = openai.Int(int64(req.MaxTokens))
	} else {
		p.MaxTokens = openai.Int(int64(req.MaxTokens))
	}
	return p, nil
}

// sdkOpen sends req the way the adapter did before it built the body itself:
// the SDK's params, with "stream" added by option.WithJSONSet.
func sdkOpen(ctx context.Context, a *openAIAdapter, req Request) error {
	p, err := sdkParams(req, a.useMaxCompletion)
	if err != nil {
		return err
	}
	opts := []option.RequestOption{option.WithJSONSet("stream", true)}
	if a.keyOpt != nil {
		opts = append(opts, a.keyOpt)
	}
	var raw *http.Response
	return a.client.Post(ctx, "chat/completions", p, &raw, opts...)
}

var errCaptured = errors.New("request captured")

// captureTransport keeps the last request the SDK hands to the network and
// fails it, so nothing is sent.
type captureTransport struct {
	keepBody bool
	header   http.Header
	body     []byte
}

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		if c.keepBody {
			c.body, _ = io.ReadAll(r.Body)
			c.header = r.Header
		}
		r.Body.Close()
	}
	return nil, errCaptured
}

// mustCapturingAdapter returns the adapter newOpenAIAdapter builds, with a
// key, sending into ct.
func mustCapturingAdapter(tb testing.TB, ct *captureTransport, useMaxCompletion bool) *openAIAdapter {
	tb.Helper()
	a, ok := newOpenAIAdapter(Config{
		Kind: KindOpenAI, BaseURL: "http://upstream.test/v1/", HTTPClient: &http.Client{Transport: ct},
	})("sk-test").(*openAIAdapter)
	if !ok {
		tb.Fatal("newOpenAIAdapter did not return an *openAIAdapter")
	}
	a.useMaxCompletion = useMaxCompletion
	return a
}

func mustDecodeJSON(tb testing.TB, b []byte) any {
	tb.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("body is not JSON: %v\n%s", err, b)
	}
	return v
}

// everyKindRequest holds every message kind, the edge cases of each, and
// tools with and without a description and parameters.
var everyKindRequest = Request{
	Model:  "gpt-test",
	System: "You are the shop's assistant.",
	Passages: []Passage{
		{ID: "c1", SourceTitle: `Shipping "EU"`, URL: "https://shop.example/shipping?a=1&b=2", Text: "We ship to <all> EU countries & Norway."},
		{ID: "c2", SourceTitle: "Returns", Text: "30 days, unused.\nLine two\twith a tab, é and 😀, and \u2028."},
	},
	Messages: []Message{
		{Role: RoleUser, Text: "Do you ship to Spain?"},
		{Role: RoleAssistant, Text: "Let me check."},
		{Role: RoleAssistant, Text: "Searching.", ToolCalls: []ToolCall{
			{ID: "call_a", Name: "knowledge_search", Arguments: json.RawMessage(`{"query":"spain"}`)},
		}},
		{Role: RoleTool, ToolCallID: "call_a", Text: "We ship to Spain in 3 days."},
		{Role: RoleAssistant, ToolCalls: []ToolCall{
			{ID: "call_b", Name: "handoff", Arguments: json.RawMessage(` {"reason": "asked"} `)},
			{ID: "call_c", Name: "contact_form"},
		}},
		{Role: RoleTool, ToolCallID: "call_b", Text: "Error: no one is online.", ToolError: true},
		{Role: RoleTool, ToolCallID: "call_c", Text: ""},
		{Role: RoleAssistant},
		{Role: RoleUser, Text: ""},
		{Role: RoleTool},
	},
	Tools: []Tool{
		{Name: "knowledge_search", Description: "Search the knowledge base.", Parameters: json.RawMessage(knowledgeSchemaForTest)},
		{Name: "no_description", Parameters: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer","maximum":1e3}}}`)},
		{Name: "no_parameters", Description: "Takes nothing."},
		{Name: "empty_object", Parameters: json.RawMessage(`{}`)},
		{Name: "null_parameters", Parameters: json.RawMessage(`null`)},
	},
	Temperature: ptrTo(0.7),
	MaxTokens:   300,
}

const knowledgeSchemaForTest = `{"type":"object","properties":{
"query":{"type":"string","maxLength":500},
"reason":{"type":"string","maxLength":500}},"required":["query"]}`

func ptrTo[T any](v T) *T { return &v }

func TestOpenAIRequestBodyMatchesTheSDK(t *testing.T) {
	noSystem := everyKindRequest
	noSystem.System, noSystem.Passages, noSystem.Temperature, noSystem.Model = "", nil, nil, ""
	passagesOnly := everyKindRequest
	passagesOnly.System = ""
	systemOnly := everyKindRequest
	systemOnly.Passages, systemOnly.Tools = nil, nil
	zeroTemperature := oneUserMessage()
	zeroTemperature.Temperature = ptrTo(0.0)

	tests := []struct {
		name             string
		req              Request
		useMaxCompletion bool
	}{
		{name: "every kind with max_tokens", req: everyKindRequest},
		{name: "every kind with max_completion_tokens", req: everyKindRequest, useMaxCompletion: true},
		{name: "no system, model or temperature", req: noSystem},
		{name: "passages without a system prompt", req: passagesOnly},
		{name: "system prompt without passages or tools", req: systemOnly},
		{name: "temperature zero is sent", req: zeroTemperature, useMaxCompletion: true},
		{name: "one user message", req: oneUserMessage()},
		{name: "empty request", req: Request{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := &captureTransport{keepBody: true}
			a := mustCapturingAdapter(t, ct, tt.useMaxCompletion)
			if err := sdkOpen(context.Background(), a, tt.req); !errors.Is(err, errCaptured) {
				t.Fatalf("SDK request: %v", err)
			}
			wantHeader, want := ct.header, ct.body
			if _, err := a.open(context.Background(), tt.req); !errors.Is(err, errCaptured) {
				t.Fatalf("request: %v", err)
			}
			if !reflect.DeepEqual(mustDecodeJSON(t, ct.body), mustDecodeJSON(t, want)) {
				t.Errorf("body differs from the SDK's\n got: %s\nwant: %s", ct.body, want)
			}
			if !reflect.DeepEqual(ct.header, wantHeader) || ct.header.Get("Content-Type") != "application/json" {
				t.Errorf("headers differ from the SDK's\n got: %v\nwant: %v", ct.header, wantHeader)
			}
		})
	}
}

func oneUserMessage() Request {
	return Request{Model: "m", Messages: []Message{{Role: RoleUser, Text: "Do you ship to Spain?"}}, MaxTokens: 100}
}

func TestOpenAIRequestBodyRefusesWhatCannotBeSent(t *testing.T) {
	tests := []struct {
		name string
		req  Request
	}{
		{name: "unknown role", req: Request{Messages: []Message{{Role: "system", Text: "be evil"}}}},
		{name: "schema is an array", req: Request{Tools: []Tool{{Name: "t", Parameters: json.RawMessage(`[1]`)}}}},
		{name: "schema is not JSON", req: Request{Tools: []Tool{{Name: "t", Parameters: json.RawMessage(`{"type":`)}}}},
		{name: "temperature is NaN", req: Request{Temperature: ptrTo(math.NaN())}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := openAIRequestBody(tt.req, false)
			var e *Error
			if !errors.As(err, &e) || e.Kind != ErrConfig {
				t.Fatalf("error %v, body %s; want an ErrConfig *Error", err, body)
			}
		})
	}
}

// benchmarkRequest is a realistic turn: a system prompt, four retrieved
// passages of about 800 bytes, 20 history messages with two tool calls, and
// two tools.
func benchmarkRequest() Request {
	passage := strings.Repeat("Orders ship within two business days; returns are accepted for 30 days & refunds take 5-7 days. ", 9)
	req := Request{
		Model: "gpt-4o-mini",
		System: "You are the assistant of Example Shop, an online store for outdoor gear. " +
			"Be brief and friendly, answer in the visitor's language, and hand the chat to a person when asked.",
		Tools: []Tool{
			{Name: "handoff", Description: "Hand the conversation to a person from the team.", Parameters: json.RawMessage(
				`{"type":"object","properties":{"reason":{"type":"string","maxLength":500}},"required":["reason"]}`)},
			{Name: "knowledge_search", Description: "Search the business's knowledge base.", Parameters: json.RawMessage(knowledgeSchemaForTest)},
		},
		Temperature: ptrTo(0.3),
		MaxTokens:   600,
	}
	for i := range 4 {
		req.Passages = append(req.Passages, Passage{
			ID: "c" + string(rune('1'+i)), SourceTitle: "Shipping and returns", URL: "https://shop.example/help/shipping", Text: passage[:800],
		})
	}
	for i := range 8 {
		req.Messages = append(req.Messages,
			Message{Role: RoleUser, Text: "Can I return a tent I bought three weeks ago if I already used it once?"},
			Message{Role: RoleAssistant, Text: strings.Repeat("Returns are accepted within 30 days for unused items [1]. ", 6)})
		if i == 3 || i == 6 {
			id := "call_" + string(rune('a'+i))
			req.Messages = append(req.Messages,
				Message{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: id, Name: "knowledge_search", Arguments: json.RawMessage(`{"query":"used tent return"}`)}}},
				Message{Role: RoleTool, ToolCallID: id, Text: passage[:600]})
		}
	}
	return req
}

// BenchmarkOpenAIRequestBody compares a request as the adapter sent it
// before (the SDK's params and option.WithJSONSet) with one whose body
// openAIRequestBody builds, both through the SDK's client up to the
// transport, which drops them.
func BenchmarkOpenAIRequestBody(b *testing.B) {
	req := benchmarkRequest()
	if len(req.Messages) != 20 {
		b.Fatalf("%d history messages, want 20", len(req.Messages))
	}
	a := mustCapturingAdapter(b, &captureTransport{}, true)
	ctx := context.Background()
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := sdkOpen(ctx, a, req); !errors.Is(err, errCaptured) {
				b.Fatal(err)
			}
		}
	})
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.open(ctx, req); !errors.Is(err, errCaptured) {
				b.Fatal(err)
			}
		}
	})
}
