// Package llmtest provides stand-ins for LLM providers that speak their real
// streaming wire formats: an SSE writer, builders for OpenAI chat completion
// chunks and Anthropic Messages stream events, and a fake OpenAI-compatible
// server that streams N tokens at a given rate, for tests of the assistant
// and for the load tool's "platform overhead per streamed token" measurement.
//
// It is test support: nothing in the product may import it.
package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// SSE writes server-sent events to a response and flushes each one, as a
// streaming API does.
type SSE struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// NewSSE starts a 200 text/event-stream response on w.
func NewSSE(w http.ResponseWriter) *SSE {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return &SSE{w: w, rc: http.NewResponseController(w)}
}

// Data writes one "data: payload" event (OpenAI style).
func (s *SSE) Data(payload string) error {
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", payload); err != nil {
		return err
	}
	return s.rc.Flush()
}

// Event writes one named event (Anthropic style).
func (s *SSE) Event(name, payload string) error {
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, payload); err != nil {
		return err
	}
	return s.rc.Flush()
}

// Done writes OpenAI's end-of-stream marker, "data: [DONE]".
func (s *SSE) Done() error { return s.Data("[DONE]") }

// Abort drops the connection without ending the response properly, as a
// crashing upstream or a cut network does: the client sees an unexpected
// EOF, not a clean end.
func (s *SSE) Abort() {
	conn, _, err := s.rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// openAIChunk is a chat.completion.chunk with one choice.
func openAIChunk(delta map[string]any, finish any) string {
	return mustJSON(map[string]any{
		"id":      "chatcmpl-test",
		"object":  "chat.completion.chunk",
		"created": 1700000000,
		"model":   "test-model",
		"choices": []any{map[string]any{
			"index":         0,
			"delta":         delta,
			"logprobs":      nil,
			"finish_reason": finish,
		}},
	})
}

// OpenAIRole is the first chunk of a reply: the assistant role, no content.
func OpenAIRole() string {
	return openAIChunk(map[string]any{"role": "assistant", "content": ""}, nil)
}

// OpenAIText is a chunk carrying one piece of text in choices[0].delta.content.
func OpenAIText(text string) string {
	return openAIChunk(map[string]any{"content": text}, nil)
}

// OpenAIToolCall is a chunk carrying one tool-call fragment. The first
// fragment of a call has its id and function name; later ones only the
// index and a piece of the arguments.
func OpenAIToolCall(index int, id, name, arguments string) string {
	call := map[string]any{"index": index, "function": map[string]any{"arguments": arguments}}
	if id != "" {
		call["id"] = id
		call["type"] = "function"
		call["function"].(map[string]any)["name"] = name
	}
	return openAIChunk(map[string]any{"tool_calls": []any{call}}, nil)
}

// OpenAIFinish is the chunk that ends the choice ("stop", "length",
// "tool_calls", "content_filter") with an empty delta.
func OpenAIFinish(reason string) string {
	return openAIChunk(map[string]any{}, reason)
}

// OpenAIUsage is the extra last chunk sent when the request had
// stream_options.include_usage: no choices, the request's usage.
func OpenAIUsage(promptTokens, completionTokens int) string {
	return mustJSON(map[string]any{
		"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1700000000, "model": "test-model",
		"choices": []any{},
		"usage": map[string]any{
			"prompt_tokens": promptTokens, "completion_tokens": completionTokens,
			"total_tokens": promptTokens + completionTokens,
		},
	})
}

// OpenAIError is an error body as OpenAI sends it with a 4xx/5xx status.
func OpenAIError(typ, message string) string {
	return mustJSON(map[string]any{"error": map[string]any{"message": message, "type": typ, "param": nil, "code": nil}})
}

// AnthropicMessageStart is the message_start event with the input usage.
func AnthropicMessageStart(inputTokens int) string {
	return mustJSON(map[string]any{"type": "message_start", "message": map[string]any{
		"id": "msg_test", "type": "message", "role": "assistant", "content": []any{},
		"model": "claude-test", "stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": inputTokens, "output_tokens": 1},
	}})
}

// AnthropicTextStart opens a text content block.
func AnthropicTextStart(index int) string {
	return mustJSON(map[string]any{"type": "content_block_start", "index": index,
		"content_block": map[string]any{"type": "text", "text": ""}})
}

// AnthropicTextDelta is a text_delta for the block at index.
func AnthropicTextDelta(index int, text string) string {
	return mustJSON(map[string]any{"type": "content_block_delta", "index": index,
		"delta": map[string]any{"type": "text_delta", "text": text}})
}

// AnthropicToolUseStart opens a tool_use content block.
func AnthropicToolUseStart(index int, id, name string) string {
	return mustJSON(map[string]any{"type": "content_block_start", "index": index,
		"content_block": map[string]any{"type": "tool_use", "id": id, "name": name, "input": map[string]any{}}})
}

// AnthropicInputJSONDelta is an input_json_delta: a piece of a tool's input.
func AnthropicInputJSONDelta(index int, partialJSON string) string {
	return mustJSON(map[string]any{"type": "content_block_delta", "index": index,
		"delta": map[string]any{"type": "input_json_delta", "partial_json": partialJSON}})
}

// AnthropicBlockStop closes the content block at index.
func AnthropicBlockStop(index int) string {
	return mustJSON(map[string]any{"type": "content_block_stop", "index": index})
}

// AnthropicMessageDelta carries the stop reason and the cumulative output
// usage.
func AnthropicMessageDelta(stopReason string, outputTokens int) string {
	return mustJSON(map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stopReason, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": outputTokens}})
}

// AnthropicMessageStop is the last event of a complete message.
func AnthropicMessageStop() string { return `{"type":"message_stop"}` }

// AnthropicPing is the keep-alive event.
func AnthropicPing() string { return `{"type":"ping"}` }

// AnthropicError is an error, as the body of an "error" event in a stream or
// of a 4xx/5xx response ("overloaded_error", "rate_limit_error", ...).
func AnthropicError(typ, message string) string {
	return mustJSON(map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": message}})
}
