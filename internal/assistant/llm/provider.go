package llm

import (
	"context"
	"encoding/json"
)

// Provider is one configured language model. It is safe for concurrent use;
// each Stream call is an independent request.
type Provider interface {
	// Stream starts a reply to req. An error here means the request could
	// not even be formed (for example the key could not be opened); every
	// failure after that arrives as an EventError on the returned Stream.
	// Canceling ctx stops the upstream request and closes its connection.
	Stream(ctx context.Context, req Request) (Stream, error)
}

// Stream is one reply in progress. It is used by one goroutine at a time.
type Stream interface {
	// Next blocks until the next event and returns it with true. The last
	// event is always of kind EventDone or EventError; after it, and after
	// Close, Next returns false.
	Next() (Event, bool)
	// Close stops the stream and releases its upstream connection. It is
	// safe to call more than once and after the last event.
	Close() error
}

// Role is who wrote a message of the conversation.
type Role string

// The roles of a conversation. The system prompt is not a message: it is
// Request.System.
const (
	RoleUser      Role = "user"      // the visitor
	RoleAssistant Role = "assistant" // the model's earlier replies, with their tool calls
	RoleTool      Role = "tool"      // the result of a tool call, answering ToolCallID
)

// Message is one turn of the conversation sent to the model.
type Message struct {
	Role Role
	Text string
	// ToolCalls are the calls the assistant made in this message
	// (RoleAssistant only).
	ToolCalls []ToolCall
	// ToolCallID names the call this message answers (RoleTool only).
	ToolCallID string
	// ToolError marks a RoleTool message whose Text reports a failure.
	ToolError bool
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is the JSON schema of the arguments, an object schema
	// ({"type":"object","properties":{...},"required":[...]}). Empty means
	// no arguments.
	Parameters json.RawMessage
}

// ToolCall is a call the model made, assembled from its streamed fragments.
type ToolCall struct {
	ID   string
	Name string
	// Arguments is the JSON the model produced. It is whatever the model
	// sent: validate it against the tool's schema before acting on it.
	Arguments json.RawMessage
}

// Passage is a piece of the knowledge base retrieved for this request. The
// model providers show passages to the model as delimited, untrusted data
// (see KnowledgePrompt); the built-in provider answers from them. Citations
// refer to a passage by its 1-based position in Request.Passages.
type Passage struct {
	ID          string
	SourceTitle string
	URL         string
	Text        string
}

// Request is what a provider is asked to answer. Zero fields take the
// chatbot's settings from Config.
type Request struct {
	// Model overrides Config.Model when set.
	Model string
	// System overrides Config.SystemPrompt when set. Passages are added
	// after it by the provider; do not put them here as well.
	System      string
	Messages    []Message
	Tools       []Tool
	Passages    []Passage
	Temperature *float64
	MaxTokens   int
}

// LastUserText returns the text of the last visitor message, or "".
func (r Request) LastUserText() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == RoleUser {
			return r.Messages[i].Text
		}
	}
	return ""
}

// EventKind says what an Event carries.
type EventKind int

// The kinds of events a Stream yields.
const (
	// EventText carries Text, the next piece of the reply.
	EventText EventKind = iota + 1
	// EventToolCall carries ToolCall, complete with its arguments.
	EventToolCall
	// EventUsage carries Usage, once, just before EventDone.
	EventUsage
	// EventDone ends a successful stream and carries StopReason, and
	// OfferHuman and Citations when the provider sets them.
	EventDone
	// EventError ends a failed stream and carries Err, an *Error.
	EventError
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventText:
		return "text"
	case EventToolCall:
		return "tool_call"
	case EventUsage:
		return "usage"
	case EventDone:
		return "done"
	case EventError:
		return "error"
	}
	return "unknown"
}

// StopReason says why the model stopped.
type StopReason string

// The normalized stop reasons.
const (
	StopEnd       StopReason = "end"        // the reply is complete
	StopMaxTokens StopReason = "max_tokens" // cut at the token limit
	StopToolUse   StopReason = "tool_use"   // the model wants its tool calls run
	StopRefusal   StopReason = "refusal"    // content filter or refusal
	StopOther     StopReason = "other"      // anything else the upstream said
)

// Usage is the token count of one request, as the upstream reported it (an
// estimate by word count for the built-in provider).
type Usage struct {
	InputTokens  int64
	OutputTokens int64
}

// Citation is a passage the reply cites as [Number].
type Citation struct {
	Number  int // 1-based position in Request.Passages
	Passage Passage
}

// Event is one step of a Stream. Which fields are set depends on Kind.
type Event struct {
	Kind       EventKind
	Text       string
	ToolCall   ToolCall
	Usage      Usage
	StopReason StopReason
	// OfferHuman is set on EventDone when the provider could not answer
	// and the caller should offer the visitor a human.
	OfferHuman bool
	// Citations is set on EventDone by the built-in provider; for the model
	// providers use CitationsIn on the reply text.
	Citations []Citation
	Err       *Error
}

// Reply is a whole stream gathered by Collect.
type Reply struct {
	Text       string
	ToolCalls  []ToolCall
	Usage      Usage
	StopReason StopReason
	OfferHuman bool
	Citations  []Citation
}

// Collect reads s to its end and closes it. It returns the reply so far and
// the stream's *Error if it ended with one.
func Collect(s Stream) (Reply, error) {
	defer s.Close()
	var r Reply
	var text []byte
	for {
		ev, ok := s.Next()
		if !ok {
			r.Text = string(text)
			return r, nil
		}
		switch ev.Kind {
		case EventText:
			text = append(text, ev.Text...)
		case EventToolCall:
			r.ToolCalls = append(r.ToolCalls, ev.ToolCall)
		case EventUsage:
			r.Usage = ev.Usage
		case EventDone:
			r.StopReason, r.OfferHuman, r.Citations = ev.StopReason, ev.OfferHuman, ev.Citations
		case EventError:
			r.Text = string(text)
			return r, ev.Err
		}
	}
}
