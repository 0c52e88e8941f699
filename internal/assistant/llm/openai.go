package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
)

// openAIDefaultBaseURL is OpenAI's own API, used when BaseURL is empty.
const openAIDefaultBaseURL = "https://api.openai.com/v1/"

// newOpenAIAdapter returns a factory of adapters for one chatbot; the key is
// bound per Stream.
//
// The chat completion service is built directly rather than through
// openai.NewClient, whose defaults read OPENAI_API_KEY and OPENAI_BASE_URL
// from the environment: a tenant without a key must never borrow the
// operator's.
func newOpenAIAdapter(cfg Config) func(key string) adapter {
	base := cfg.BaseURL
	if base == "" {
		base = openAIDefaultBaseURL
	}
	opts := []option.RequestOption{
		option.WithBaseURL(base),
		option.WithHTTPClient(cfg.HTTPClient),
		option.WithMaxRetries(0), // retries are ours: before the first token only
		option.WithHeaderDel("authorization"),
	}
	if cfg.Kind == KindAzureOpenAI && cfg.APIVersion != "" {
		opts = append(opts, option.WithQuery("api-version", cfg.APIVersion))
	}
	// Clip so the SDK's append on every request never writes into a
	// backing array shared by concurrent streams.
	client := &openai.Client{Options: slices.Clip(opts)}
	// OpenAI's newer models take max_completion_tokens and refuse max_tokens;
	// the compatible servers (and older Azure API versions) know max_tokens.
	useMaxCompletion := cfg.BaseURL == ""
	return func(key string) adapter {
		a := &openAIAdapter{client: client, useMaxCompletion: useMaxCompletion}
		if key != "" {
			if cfg.Kind == KindAzureOpenAI {
				a.keyOpt = option.WithHeader("api-key", key)
			} else {
				a.keyOpt = option.WithAPIKey(key)
			}
		}
		return a
	}
}

type openAIAdapter struct {
	client           *openai.Client
	keyOpt           option.RequestOption
	useMaxCompletion bool
}

func (a *openAIAdapter) open(ctx context.Context, req Request) (attempt, error) {
	body, err := openAIRequestBody(req, a.useMaxCompletion)
	if err != nil {
		return nil, err
	}
	// What ChatCompletionService.NewStreaming does, with the body ours
	// (openAIRequestBody says why) and the events read by sseReader and
	// decoded by chunkParser into a struct of the fields the adapter
	// reads, reused from chunk to chunk:
	// openai-go's ChatCompletionChunk decodes every field of every chunk
	// through its reflective decoder (about 6 KB allocated per token), and
	// its event decoder allocates each event's data afresh
	// (docs/benchmarks.md, "Assistant: overhead per streamed token").
	// Transport, authentication and API errors stay the SDK's.
	var opts []option.RequestOption
	if a.keyOpt != nil {
		opts = []option.RequestOption{a.keyOpt}
	}
	var raw *http.Response
	if err := a.client.Post(ctx, "chat/completions", body, &raw, opts...); err != nil {
		return nil, err
	}
	events, err := openSSE(raw)
	if err != nil {
		return nil, err
	}
	return &openAIAttempt{events: events, calls: make(map[int64]*toolCallBuilder)}, nil
}

func (a *openAIAdapter) classify(err error) failure {
	var cfgErr *Error
	if errors.As(err, &cfgErr) {
		return failure{kind: cfgErr.Kind, err: cfgErr.Err}
	}
	var apiErr *openai.Error
	if errors.As(err, &apiErr) && apiErr.StatusCode != 0 {
		kind, retryable := classifyStatus(apiErr.StatusCode)
		f := failure{kind: kind, status: apiErr.StatusCode, retryable: retryable, err: upstreamError(apiErr.StatusCode, apiErr.Message)}
		if apiErr.Response != nil {
			f.retryAfter = retryAfter(apiErr.Response.Header)
		}
		return f
	}
	var streamErr *openAIStreamError
	if errors.As(err, &streamErr) {
		// An {"error":…} object inside a 200 stream: the server gave up.
		return failure{kind: ErrUpstream, err: err}
	}
	return classifyTransportError(err)
}

// upstreamError keeps the upstream's own message for the logs; it never
// includes request headers, so never the key.
func upstreamError(status int, message string) error {
	if status < 400 {
		return fmt.Errorf("upstream sent an error event: %s", message)
	}
	if message == "" {
		return fmt.Errorf("upstream answered %d %s", status, http.StatusText(status))
	}
	return fmt.Errorf("upstream answered %d %s: %s", status, http.StatusText(status), message)
}

// retryAfter reads retry-after-ms or Retry-After (seconds or an HTTP date).
func retryAfter(h http.Header) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

type toolCallBuilder struct {
	id, name string
	args     strings.Builder
}

// openAIStreamError is an error object inside a streamed reply.
type openAIStreamError struct{ raw string }

func (e *openAIStreamError) Error() string { return "received error while streaming: " + e.raw }

type openAIAttempt struct {
	events *sseReader
	chunk  openAIChunk // decoded into again for each event
	parser chunkParser
	done   bool // [DONE] was read; the rest is read and ignored
	calls  map[int64]*toolCallBuilder
	queue  []Event // events to return, from queue[head]
	head   int
	finish string
	usage  Usage
}

func (a *openAIAttempt) close() { a.events.Close() }

// nextChunk decodes the stream's next chunk into a.chunk; ok is false at
// the stream's end, with the error that ended it.
func (a *openAIAttempt) nextChunk() (ok bool, err error) {
	for {
		data, ok := a.events.next()
		if !ok {
			return false, a.events.Err()
		}
		if a.done {
			continue // read on to the end, so the connection can be reused
		}
		if bytes.HasPrefix(data, []byte("[DONE]")) {
			a.done = true
			continue
		}
		resetChunk(&a.chunk)
		if err := a.parser.decode(data, &a.chunk); err != nil {
			return false, err
		}
		if e := a.chunk.Error; len(e) > 0 && string(e) != "null" {
			return false, &openAIStreamError{raw: string(e)}
		}
		return true, nil
	}
}

// resetChunk empties c for the next chunk, keeping its choices' array.
// The decoder reuses a slice's elements without zeroing them: what the
// last chunk left is cleared.
func resetChunk(c *openAIChunk) {
	clear(c.Choices[:cap(c.Choices)])
	*c = openAIChunk{Choices: c.Choices[:0]}
}

func (a *openAIAttempt) next() (Event, bool, error) {
	if a.head < len(a.queue) {
		ev := a.queue[a.head]
		a.queue[a.head] = Event{}
		if a.head++; a.head == len(a.queue) {
			a.queue, a.head = a.queue[:0], 0 // drained: the array is reused
		}
		return ev, false, nil
	}
	ok, err := a.nextChunk()
	if err != nil {
		return Event{}, false, err
	}
	if !ok {
		if a.finish == "" {
			return Event{}, false, errTruncated
		}
		a.queue = append(a.queue,
			Event{Kind: EventUsage, Usage: a.usage},
			Event{Kind: EventDone, StopReason: openAIStopReason(a.finish)})
		return Event{}, false, nil
	}
	chunk := &a.chunk
	if u := chunk.Usage; u.PromptTokens != 0 || u.CompletionTokens != 0 {
		a.usage = Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	}
	output := false
	for _, choice := range chunk.Choices {
		if choice.Index != 0 {
			continue // n is always 1; ignore anything else
		}
		d := choice.Delta
		if d.Content != "" {
			output = true
			a.queue = append(a.queue, Event{Kind: EventText, Text: d.Content})
		}
		if d.Refusal != "" {
			output = true
			a.queue = append(a.queue, Event{Kind: EventText, Text: d.Refusal})
		}
		for _, tc := range d.ToolCalls {
			output = true
			b := a.calls[tc.Index]
			if b == nil {
				b = &toolCallBuilder{}
				a.calls[tc.Index] = b
			}
			if tc.ID != "" {
				b.id = tc.ID
			}
			if tc.Function.Name != "" && b.name == "" {
				b.name = tc.Function.Name
			}
			b.args.WriteString(tc.Function.Arguments)
		}
		if choice.FinishReason != "" && a.finish == "" {
			a.finish = choice.FinishReason
			a.queue = append(a.queue, a.toolCallEvents()...)
		}
	}
	return Event{}, output, nil
}

// toolCallEvents returns the assembled tool calls in index order.
func (a *openAIAttempt) toolCallEvents() []Event {
	indexes := make([]int64, 0, len(a.calls))
	for i := range a.calls {
		indexes = append(indexes, i)
	}
	sort.Slice(indexes, func(i, j int) bool { return indexes[i] < indexes[j] })
	events := make([]Event, 0, len(indexes))
	for _, i := range indexes {
		b := a.calls[i]
		events = append(events, Event{Kind: EventToolCall, ToolCall: ToolCall{
			ID: b.id, Name: b.name, Arguments: argumentsOrEmpty(json.RawMessage(b.args.String())),
		}})
	}
	clear(a.calls)
	return events
}

func openAIStopReason(finish string) StopReason {
	switch finish {
	case "stop":
		return StopEnd
	case "length":
		return StopMaxTokens
	case "tool_calls", "function_call":
		return StopToolUse
	case "content_filter":
		return StopRefusal
	}
	return StopOther
}

// argumentsOrEmpty turns empty tool arguments into {}, which both APIs
// accept and every JSON schema for "no arguments" allows.
func argumentsOrEmpty(args json.RawMessage) json.RawMessage {
	if len(strings.TrimSpace(string(args))) == 0 {
		return json.RawMessage("{}")
	}
	return args
}

// schemaObject decodes a tool's JSON schema; empty means an object without
// properties.
func schemaObject(raw json.RawMessage) (map[string]any, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return map[string]any{"type": "object", "properties": map[string]any{}}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("parameters are not a JSON object: %w", err)
	}
	return m, nil
}
