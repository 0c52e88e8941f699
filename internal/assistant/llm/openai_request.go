package llm

import (
	"encoding/json"
	"fmt"
)

// openAIRequest is a streaming chat completions request.
type openAIRequest struct {
	Model               string              `json:"model,omitempty"`
	Messages            []openAIMessage     `json:"messages,omitempty"`
	Tools               []openAITool        `json:"tools,omitempty"`
	Temperature         *float64            `json:"temperature,omitempty"`
	MaxTokens           *int64              `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int64              `json:"max_completion_tokens,omitempty"`
	Stream              bool                `json:"stream"`
	StreamOptions       openAIStreamOptions `json:"stream_options"`
}

type openAIStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// openAIMessage is a message of any role. Content and ToolCallID are
// pointers because the SDK sends an empty content or tool_call_id for the
// roles that require them, and omits content from an assistant message that
// has none.
type openAIMessage struct {
	Role       Role             `json:"role"`
	Content    *string          `json:"content,omitempty"`
	ToolCalls  []openAIToolCall `json:"tool_calls,omitempty"`
	ToolCallID *string          `json:"tool_call_id,omitempty"`
}

type openAIToolCall struct {
	ID       string             `json:"id"`
	Type     string             `json:"type"`
	Function openAIFunctionCall `json:"function"`
}

type openAIFunctionCall struct {
	Name string `json:"name"`
	// Arguments is the JSON of the arguments as a string, as the API wants.
	Arguments string `json:"arguments"`
}

type openAITool struct {
	Type     string             `json:"type"`
	Function openAIFunctionSpec `json:"function"`
}

type openAIFunctionSpec struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is omitted only when nil, like the SDK: a schema of {}
	// is sent as {}.
	Parameters map[string]any `json:"parameters,omitzero"`
}

// openAIRequestBody returns the JSON body of a streaming chat completions
// request for req. useMaxCompletion picks max_completion_tokens over
// max_tokens (see newOpenAIAdapter). An unknown role or a tool schema that is
// not a JSON object is an ErrConfig *Error.
//
// The body is ours rather than openai-go's ChatCompletionNewParams because
// the SDK's encoder compacts the output of every nested union again, and
// option.WithJSONSet("stream", true) parses the whole body once more to add
// one field. For a turn with 20 history messages and four passages that
// was about 0.5 ms per request, 6-7% of the server's CPU while streaming
// 1,000 replies; with one encoding/json pass over the structs above the
// request costs about a seventh of what it did (BenchmarkOpenAIRequestBody).
// Their field names and omission rules follow the SDK's param types, and
// TestOpenAIRequestBodyMatchesTheSDK holds them to it.
func openAIRequestBody(req Request, useMaxCompletion bool) ([]byte, error) {
	body := openAIRequest{
		Model:         req.Model,
		Stream:        true,
		StreamOptions: openAIStreamOptions{IncludeUsage: true},
		Temperature:   req.Temperature,
	}
	system := systemWithKnowledge(req.System, req.Passages)
	if n := len(req.Messages); n > 0 || system != "" {
		body.Messages = make([]openAIMessage, 0, n+1)
	}
	if system != "" {
		body.Messages = append(body.Messages, openAIMessage{Role: "system", Content: &system})
	}
	for i := range req.Messages {
		// Point into req.Messages rather than at a copy, so a message's
		// content costs no allocation.
		m := &req.Messages[i]
		switch m.Role {
		case RoleUser:
			body.Messages = append(body.Messages, openAIMessage{Role: RoleUser, Content: &m.Text})
		case RoleAssistant:
			msg := openAIMessage{Role: RoleAssistant}
			if m.Text != "" {
				msg.Content = &m.Text
			}
			if len(m.ToolCalls) > 0 {
				msg.ToolCalls = make([]openAIToolCall, len(m.ToolCalls))
				for j, c := range m.ToolCalls {
					msg.ToolCalls[j] = openAIToolCall{ID: c.ID, Type: "function", Function: openAIFunctionCall{
						Name: c.Name, Arguments: string(argumentsOrEmpty(c.Arguments)),
					}}
				}
			}
			body.Messages = append(body.Messages, msg)
		case RoleTool:
			body.Messages = append(body.Messages, openAIMessage{Role: RoleTool, Content: &m.Text, ToolCallID: &m.ToolCallID})
		default:
			return nil, &Error{Kind: ErrConfig, Err: fmt.Errorf("unknown message role %q", m.Role)}
		}
	}
	if len(req.Tools) > 0 {
		body.Tools = make([]openAITool, len(req.Tools))
		for i, t := range req.Tools {
			schema, err := schemaObject(t.Parameters)
			if err != nil {
				return nil, &Error{Kind: ErrConfig, Err: fmt.Errorf("tool %q: %w", t.Name, err)}
			}
			body.Tools[i] = openAITool{Type: "function", Function: openAIFunctionSpec{
				Name: t.Name, Description: t.Description, Parameters: schema,
			}}
		}
	}
	maxTokens := int64(req.MaxTokens)
	if useMaxCompletion {
		body.MaxCompletionTokens = &maxTokens
	} else {
		body.MaxTokens = &maxTokens
	}
	b, err := json.Marshal(body)
	if err != nil {
		// A NaN or infinite temperature is all that JSON cannot encode
		// here (the schemas were decoded from JSON).
		return nil, &Error{Kind: ErrConfig, Err: fmt.Errorf("encode request: %w", err)}
	}
	return b, nil
}
