package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
)

// anthropicDefaultBaseURL is Anthropic's public API.
const anthropicDefaultBaseURL = "https://api.anthropic.com/"

// newAnthropicAdapter returns a factory of adapters for one chatbot.
//
// The message service is built directly rather than through
// anthropic.NewClient, whose defaults read ANTHROPIC_API_KEY, auth tokens,
// profiles and ANTHROPIC_BASE_URL from the environment and the home
// directory: tenant requests must use the tenant's settings only.
func newAnthropicAdapter(cfg Config) func(key string) adapter {
	base := cfg.BaseURL
	if base == "" {
		base = anthropicDefaultBaseURL
	}
	opts := []option.RequestOption{
		option.WithBaseURL(base),
		option.WithHTTPClient(cfg.HTTPClient),
		option.WithMaxRetries(0),
		option.WithoutOpenTelemetry(), // spans could carry visitor text
	}
	// Clip so the SDK's append on every request never writes into a
	// backing array shared by concurrent streams.
	client := &anthropic.Client{Options: slices.Clip(opts)}
	return func(key string) adapter {
		a := &anthropicAdapter{client: client}
		if key != "" {
			a.keyOpt = option.WithAPIKey(key)
		}
		return a
	}
}

type anthropicAdapter struct {
	client *anthropic.Client
	keyOpt option.RequestOption
}

func (a *anthropicAdapter) open(ctx context.Context, req Request) (attempt, error) {
	params, err := anthropicParams(req)
	if err != nil {
		return nil, err
	}
	var opts []option.RequestOption
	if a.keyOpt != nil {
		opts = append(opts, a.keyOpt)
	}
	// What MessageService.NewStreaming does (its tracing is off), with the
	// events read as the OpenAI adapter reads them (openai.go says why):
	// the SDK's union of stream events decodes every field of every event
	// reflectively. Transport, authentication and API errors stay the SDK's.
	opts = append(opts, option.WithJSONSet("stream", true))
	var raw *http.Response
	if err := a.client.Post(ctx, "v1/messages", params, &raw, opts...); err != nil {
		return nil, err
	}
	events, err := openEventStream(raw)
	if err != nil {
		return nil, err
	}
	return &anthropicAttempt{events: events, tools: make(map[int64]*toolCallBuilder)}, nil
}

func anthropicParams(req Request) (anthropic.MessageNewParams, error) {
	p := anthropic.MessageNewParams{
		Model:     anthropic.Model(req.Model),
		MaxTokens: int64(req.MaxTokens),
	}
	if req.System != "" {
		p.System = append(p.System, anthropic.TextBlockParam{Text: req.System})
	}
	if k := KnowledgePrompt(req.Passages); k != "" {
		p.System = append(p.System, anthropic.TextBlockParam{Text: k})
	}
	for _, m := range req.Messages {
		switch m.Role {
		case RoleUser:
			p.Messages = append(p.Messages, anthropic.NewUserMessage(anthropic.NewTextBlock(m.Text)))
		case RoleAssistant:
			var blocks []anthropic.ContentBlockParamUnion
			if m.Text != "" {
				blocks = append(blocks, anthropic.NewTextBlock(m.Text))
			}
			for _, c := range m.ToolCalls {
				blocks = append(blocks, anthropic.NewToolUseBlock(c.ID, argumentsOrEmpty(c.Arguments), c.Name))
			}
			p.Messages = append(p.Messages, anthropic.NewAssistantMessage(blocks...))
		case RoleTool:
			block := anthropic.NewToolResultBlock(m.ToolCallID, m.Text, m.ToolError)
			// Consecutive tool results answer one assistant turn: they go
			// in one user message.
			if n := len(p.Messages); n > 0 && p.Messages[n-1].Role == anthropic.MessageParamRoleUser &&
				isToolResults(p.Messages[n-1].Content) {
				p.Messages[n-1].Content = append(p.Messages[n-1].Content, block)
			} else {
				p.Messages = append(p.Messages, anthropic.NewUserMessage(block))
			}
		default:
			return p, &Error{Kind: ErrConfig, Err: fmt.Errorf("unknown message role %q", m.Role)}
		}
	}
	for _, t := range req.Tools {
		schema, err := schemaObject(t.Parameters)
		if err != nil {
			return p, &Error{Kind: ErrConfig, Err: fmt.Errorf("tool %q: %w", t.Name, err)}
		}
		in := anthropic.ToolInputSchemaParam{Properties: schema["properties"], ExtraFields: map[string]any{}}
		if req, ok := schema["required"].([]any); ok {
			for _, r := range req {
				if s, ok := r.(string); ok {
					in.Required = append(in.Required, s)
				}
			}
		}
		for k, v := range schema {
			if k != "properties" && k != "required" && k != "type" {
				in.ExtraFields[k] = v
			}
		}
		tool := anthropic.ToolParam{Name: t.Name, InputSchema: in}
		if t.Description != "" {
			tool.Description = anthropic.String(t.Description)
		}
		p.Tools = append(p.Tools, anthropic.ToolUnionParam{OfTool: &tool})
	}
	if req.Temperature != nil {
		p.Temperature = anthropic.Float(*req.Temperature)
	}
	return p, nil
}

func isToolResults(blocks []anthropic.ContentBlockParamUnion) bool {
	for _, b := range blocks {
		if b.OfToolResult == nil {
			return false
		}
	}
	return len(blocks) > 0
}

func (a *anthropicAdapter) classify(err error) failure {
	var cfgErr *Error
	if errors.As(err, &cfgErr) {
		return failure{kind: cfgErr.Kind, err: cfgErr.Err}
	}
	var apiErr *anthropic.Error
	if errors.As(err, &apiErr) {
		f := failure{status: apiErr.StatusCode}
		f.kind, f.retryable = classifyStatus(apiErr.StatusCode)
		if apiErr.Response != nil && apiErr.StatusCode >= 400 {
			f.retryAfter = retryAfter(apiErr.Response.Header)
		}
		f.err = upstreamError(apiErr.StatusCode, anthropicErrorMessage(apiErr))
		return f
	}
	var streamErr *anthropicStreamError
	if errors.As(err, &streamErr) {
		// An error event inside a 200 stream carries its kind in the body.
		f := failure{kind: ErrUpstream, err: streamErr}
		switch anthropic.ErrorType(streamErr.Type) {
		case anthropic.ErrorTypeOverloadedError, anthropic.ErrorTypeAPIError, anthropic.ErrorTypeTimeoutError:
			f.kind, f.retryable = ErrUnavailable, true
		case anthropic.ErrorTypeRateLimitError:
			f.kind, f.retryable = ErrRateLimited, true
		case anthropic.ErrorTypeAuthenticationError, anthropic.ErrorTypePermissionError:
			f.kind = ErrAuth
		case anthropic.ErrorTypeInvalidRequestError, anthropic.ErrorTypeNotFoundError:
			f.kind = ErrBadRequest
		}
		return f
	}
	return classifyTransportError(err)
}

// anthropicStreamError is an error event inside a streamed reply.
type anthropicStreamError struct{ Type, Message string }

func (e *anthropicStreamError) Error() string {
	return fmt.Sprintf("upstream sent an error event: %s: %s", e.Type, e.Message)
}

// anthropicErrorMessage pulls error.message out of the error body.
func anthropicErrorMessage(e *anthropic.Error) string {
	var body struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(e.RawJSON()), &body) != nil {
		return ""
	}
	if body.Error.Type == "" {
		return body.Error.Message
	}
	return body.Error.Type + ": " + body.Error.Message
}

// anthropicUsage is the usage of a message_start's message or a
// message_delta.
type anthropicUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

// anthropicEvent is the part of a Messages stream event the adapter reads.
type anthropicEvent struct {
	Type    string `json:"type"`
	Index   int64  `json:"index"`
	Message struct {
		Usage anthropicUsage `json:"usage"`
	} `json:"message"`
	ContentBlock struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Name string `json:"name"`
		Text string `json:"text"`
	} `json:"content_block"`
	Delta struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage anthropicUsage `json:"usage"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

type anthropicAttempt struct {
	events     eventStream
	ev         anthropicEvent             // decoded into again for each event
	tools      map[int64]*toolCallBuilder // open tool_use blocks by index
	queue      []Event
	usage      Usage
	stopReason string
}

func (a *anthropicAttempt) close() { a.events.Close() }

func (a *anthropicAttempt) next() (Event, bool, error) {
	if len(a.queue) > 0 {
		ev := a.queue[0]
		a.queue = a.queue[1:]
		return ev, false, nil
	}
	data, ok := a.events.next()
	if !ok {
		if err := a.events.Err(); err != nil {
			return Event{}, false, err
		}
		return Event{}, false, errTruncated // no message_stop
	}
	a.ev = anthropicEvent{} // no slices: zeroing clears all the last event left
	if err := a.events.decode(data, &a.ev); err != nil {
		return Event{}, false, err
	}
	ev := &a.ev
	switch ev.Type {
	case "message_start":
		u := ev.Message.Usage
		a.usage.InputTokens = u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
		a.usage.OutputTokens = u.OutputTokens
	case "content_block_start":
		switch cb := ev.ContentBlock; cb.Type {
		case "tool_use":
			a.tools[ev.Index] = &toolCallBuilder{id: cb.ID, name: cb.Name}
			return Event{}, true, nil
		case "text":
			if cb.Text != "" {
				return Event{Kind: EventText, Text: cb.Text}, true, nil
			}
		}
	case "content_block_delta":
		switch ev.Delta.Type {
		case "text_delta":
			return Event{Kind: EventText, Text: ev.Delta.Text}, true, nil
		case "input_json_delta":
			if b := a.tools[ev.Index]; b != nil {
				b.args.WriteString(ev.Delta.PartialJSON)
			}
			return Event{}, true, nil
		}
	case "content_block_stop":
		if b := a.tools[ev.Index]; b != nil {
			delete(a.tools, ev.Index)
			return Event{Kind: EventToolCall, ToolCall: ToolCall{
				ID: b.id, Name: b.name, Arguments: argumentsOrEmpty(json.RawMessage(b.args.String())),
			}}, false, nil
		}
	case "message_delta":
		if ev.Delta.StopReason != "" {
			a.stopReason = ev.Delta.StopReason
		}
		// message_delta usage is cumulative.
		if ev.Usage.OutputTokens != 0 {
			a.usage.OutputTokens = ev.Usage.OutputTokens
		}
		if in := ev.Usage.InputTokens + ev.Usage.CacheCreationInputTokens + ev.Usage.CacheReadInputTokens; in != 0 {
			a.usage.InputTokens = in
		}
	case "message_stop":
		a.queue = append(a.queue, Event{Kind: EventDone, StopReason: anthropicStopReason(a.stopReason)})
		return Event{Kind: EventUsage, Usage: a.usage}, false, nil
	case "error":
		return Event{}, false, &anthropicStreamError{Type: ev.Error.Type, Message: ev.Error.Message}
	}
	return Event{}, false, nil
}

func anthropicStopReason(reason string) StopReason {
	switch reason {
	case "end_turn", "stop_sequence":
		return StopEnd
	case "max_tokens":
		return StopMaxTokens
	case "tool_use":
		return StopToolUse
	case "refusal":
		return StopRefusal
	}
	return StopOther
}
