package assistant

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/porthole-chat/porthole/internal/assistant/llm"
	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// ActionPreview is a member's preview of the assistant's reply.
const ActionPreview = "assistant.preview"

// PreviewResult is what the assistant would answer a message, as a preview
// shows it.
type PreviewResult struct {
	// Reply is the reply text, with its Sources list and any failure
	// message, as a visitor would read it.
	Reply string `json:"reply"`
	// Citations are the passages the reply cites.
	Citations []PreviewCitation `json:"citations"`
	// Passages are the passages the model was given, numbered as it saw
	// them: retrieval's, then any the knowledge_search tool added.
	Passages []PreviewPassage `json:"passages"`
	// ToolCalls are the model's tool calls. Only knowledge_search runs in
	// a preview; the others are reported with status "not_executed".
	ToolCalls []PreviewToolCall `json:"tool_calls"`
	// ProviderError is the kind of the provider's failure (llm.ErrorKind:
	// "timeout", "auth", "config", ...), "" when it answered.
	ProviderError string `json:"provider_error,omitempty"`
}

// PreviewCitation is one passage a preview reply cites as [N].
type PreviewCitation struct {
	Number    int    `json:"n"`
	PassageID string `json:"passage_id"`
	Title     string `json:"title"`
	URL       string `json:"url"`
}

// PreviewPassage is one passage given to the model, numbered [N].
type PreviewPassage struct {
	Number int    `json:"n"`
	ID     string `json:"id"`
	Title  string `json:"title"`
	URL    string `json:"url"`
	Text   string `json:"text"`
}

// PreviewToolCall is one tool call of a preview: executed (knowledge
// search), not_executed (a tool that would change data; Detail says what
// would have been called), refused (not given to the chatbot) or invalid.
type PreviewToolCall struct {
	Name      string `json:"name"`
	Arguments any    `json:"arguments"`
	Status    string `json:"status"`
	Detail    string `json:"detail,omitempty"`
}

// Preview answers message as the chatbot's assistant would answer a
// visitor: the same retrieval, prompt, provider and tools, streaming the
// text to emit (nil: not streamed). Nothing is stored or charged: there is
// no conversation, no budget counts it, no usage is recorded, and tools
// that would change data (contact form, hand-off, business HTTP tools) are
// not run but reported. The preview itself is recorded as
// assistant.preview, attributed to the actor in ctx (the member). A
// provider failure is not an error: the result carries the visitor's
// message and ProviderError.
func (e *Engine) Preview(ctx context.Context, orgID, chatbotID, message string, emit func(text string)) (PreviewResult, error) {
	message = strings.TrimSpace(message)
	if message == "" {
		return PreviewResult{}, porthole.Errorf(porthole.EINVALID, "message: required")
	}
	if !utf8.ValidString(message) || utf8.RuneCountInString(message) > chat.MaxMessageRunes {
		return PreviewResult{}, porthole.Errorf(porthole.EINVALID, "message: at most %d characters of UTF-8 text", chat.MaxMessageRunes)
	}
	cfg, err := e.cfg.DB.Tenant(orgID).AssistantConfig(ctx, chatbotID)
	if err != nil {
		return PreviewResult{}, err
	}
	in := chat.TurnInput{OrgID: orgID, ChatbotID: chatbotID, TurnID: porthole.NewID(),
		History: []store.Message{{Role: store.RoleVisitor, Text: message}}}
	ts := &turnState{in: in, cfg: cfg, preview: true}
	ts.emit = func(text string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if ts.reply.Len() > store.MaxEventText {
			return porthole.Errorf(porthole.ETOOLARGE, "reply is too long")
		}
		if emit != nil {
			emit(text)
		}
		return nil
	}
	ts.passages = e.retrieve(ctx, ts, message, "")
	ts.tools = e.toolsFor(cfg)
	var usage llm.Usage
	var done llm.Event
	provider, err := e.provider(ctx, orgID, cfg)
	if err != nil {
		err = e.fail(ctx, ts, err)
	} else {
		usage, done, err = e.converse(ctx, ts, provider, historyMessages(in.History, cfg.HistoryTokens))
	}
	if ctx.Err() != nil {
		return PreviewResult{}, ctx.Err()
	}
	res := PreviewResult{Reply: ts.reply.String(), Citations: []PreviewCitation{}, Passages: []PreviewPassage{},
		ToolCalls: append([]PreviewToolCall{}, ts.previewCalls...)}
	var lerr *llm.Error
	switch {
	case err == nil:
	case errors.As(err, &lerr):
		res.ProviderError = string(lerr.Kind)
	default:
		return PreviewResult{}, err
	}
	for _, c := range done.Citations {
		res.Citations = append(res.Citations, PreviewCitation{Number: c.Number, PassageID: c.Passage.ID, Title: c.Passage.SourceTitle, URL: c.Passage.URL})
	}
	for i, p := range ts.passages {
		res.Passages = append(res.Passages, PreviewPassage{Number: i + 1, ID: p.ID, Title: p.SourceTitle, URL: p.URL, Text: p.Text})
	}
	e.recordPreview(ctx, ts, res, usage)
	return res, nil
}

// recordPreview appends assistant.preview, attributed to the actor in ctx.
// Its payload (purged by retention) holds the message, what was retrieved,
// cited and called, and the tokens the provider reported, which no budget
// or usage row counts.
func (e *Engine) recordPreview(ctx context.Context, ts *turnState, res PreviewResult, usage llm.Usage) {
	ids := make([]string, 0, len(res.Passages))
	for _, p := range res.Passages {
		ids = append(ids, p.ID)
	}
	cited := make([]string, 0, len(res.Citations))
	for _, c := range res.Citations {
		cited = append(cited, c.PassageID)
	}
	calls := make([]map[string]any, 0, len(res.ToolCalls))
	for _, c := range res.ToolCalls {
		calls = append(calls, map[string]any{"name": c.Name, "status": c.Status, "arguments": c.Arguments})
	}
	_, reason := audit.ActorFrom(ctx)
	if reason == "" {
		reason = "preview"
	}
	entry := audit.Entry{Action: ActionPreview, Target: "chatbot:" + ts.in.ChatbotID,
		Reason: "previewed the assistant's reply (" + reason + "); nothing was stored, charged or sent to a visitor",
		Payload: audit.Payload(map[string]any{"message": truncateRunes(ts.in.History[0].Text, 2000),
			"provider": ts.cfg.Provider, "model": ts.cfg.Model, "passage_ids": ids, "cited_passage_ids": cited,
			"tool_calls": calls, "provider_error": res.ProviderError, "reply_bytes": len(res.Reply),
			"input_tokens": usage.InputTokens, "output_tokens": usage.OutputTokens})}
	if err := e.cfg.DB.Tenant(ts.in.OrgID).RecordDecision(context.WithoutCancel(ctx), entry); err != nil {
		e.cfg.Logger.Error("assistant: unable to record a preview", "chatbot", ts.in.ChatbotID, "err", err)
	}
}
