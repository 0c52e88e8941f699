package assistant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/porthole-chat/porthole/internal/assistant/llm"
	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/knowledge"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/store"
)

// Actions this package records beside audit's shared ones.
const (
	// ActionBudgetExhausted is a turn refused because a budget was spent.
	ActionBudgetExhausted = "usage.budget_exhausted"
	// ActionReply is the end of a reply: its citations and token usage.
	ActionReply = "assistant.reply"
)

// OfferHuman is added to every failure the visitor sees. The conversation
// service hands off when the visitor answers with words such as "a person".
const OfferHuman = "Would you like to talk to a person instead? Just say so and I'll ask someone from the team to join."

// Searcher searches one chatbot's knowledge base; *knowledge.Service is one.
type Searcher interface {
	Search(ctx context.Context, ns knowledge.Namespace, query string, k int) ([]knowledge.Passage, error)
}

// Handoffer hands a conversation to a human; *chat.Service implements it.
type Handoffer interface {
	Handoff(ctx context.Context, orgID, conversationID, reason string) error
}

// Opener opens values sealed for an organization; *secrets.Vault is one.
type Opener interface {
	Open(ctx context.Context, orgID string, ciphertext []byte) ([]byte, error)
}

// ProviderFunc builds a chatbot's provider; llm.NewProvider is the default.
type ProviderFunc func(ctx context.Context, cfg llm.Config, openKey llm.KeyOpener) (llm.Provider, error)

// Config is what an Engine needs. DB is required; every other field may be
// left zero and the feature that needs it is off.
type Config struct {
	DB *store.DB
	// Knowledge answers retrieval and the knowledge_search tool.
	Knowledge Searcher
	// Vault opens provider keys and HTTP tool secrets.
	Vault Opener
	// Fetcher is the SSRF-safe client business HTTP tools are called
	// through; nil refuses every HTTP tool.
	Fetcher *fetch.Client
	// Bus publishes the contact form to the visitor's sockets.
	Bus pubsub.PubSub
	// Limiter enforces the budgets; nil means no budgets.
	Limiter porthole.Limiter
	// Handoff hands conversations to humans; nil records the request only.
	Handoff Handoffer
	// Security records budget exhaustion by a visitor or an IP.
	Security porthole.SecurityRecorder
	Logger   *slog.Logger
	// ProviderNetwork is how the model providers reach a chatbot's base
	// URL, which a business typed in: through fetch's dial guard, public
	// addresses on ports 80 and 443 only. The operator's AllowPrivate
	// (--llm-allow-private-base-urls) opens loopback and private ranges for
	// a local model server; metadata services stay refused.
	ProviderNetwork fetch.StreamingOptions
	// NewProvider builds providers; nil means llm.NewProvider.
	NewProvider ProviderFunc
	// Policy is the providers' retry and timeout policy.
	Policy llm.Policy
	// WordDelay paces the built-in provider.
	WordDelay time.Duration
	// TopK is how many passages retrieval passes to the model (default 4).
	TopK int
	// MaxToolRounds caps model requests per turn that follow tool calls
	// (default 4).
	MaxToolRounds int
}

// Engine is the assistant's turn engine. It is safe for concurrent use.
type Engine struct {
	cfg Config
	// providerBase holds what every chatbot's provider shares: the
	// guarded HTTP client, the policy, the built-in provider's pace.
	providerBase llm.Config
	handoff      atomic.Pointer[Handoffer]
}

var _ chat.TurnEngine = (*Engine)(nil)

// New returns an Engine.
func New(cfg Config) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NewProvider == nil {
		cfg.NewProvider = llm.NewProvider
	}
	if cfg.TopK <= 0 {
		cfg.TopK = 4
	}
	if cfg.MaxToolRounds <= 0 {
		cfg.MaxToolRounds = 4
	}
	e := &Engine{cfg: cfg, providerBase: llm.Config{Policy: cfg.Policy, WordDelay: cfg.WordDelay,
		HTTPClient: fetch.NewStreamingHTTPClient(cfg.ProviderNetwork)}}
	if cfg.Handoff != nil {
		e.SetHandoff(cfg.Handoff)
	}
	return e
}

// SetHandoff sets the hand-off target after construction: the chat service
// that implements it is built with the engine.
func (e *Engine) SetHandoff(h Handoffer) { e.handoff.Store(&h) }

// turnState is one turn in progress.
type turnState struct {
	in       chat.TurnInput
	cfg      store.AssistantConfig
	tools    *toolSet
	passages []llm.Passage
	reply    strings.Builder
	emit     func(string) error
	// preview marks a dashboard preview: tools that change data are not
	// run, and calls and lookups are collected for the preview's own
	// audit entry instead of recorded one by one.
	preview      bool
	previewCalls []PreviewToolCall
	// usage and decisions are kept for the turn's end (see
	// chat.TurnRecord): what the model spent, the knowledge lookups and
	// then the reply's entry.
	usage     *store.TokenUsage
	decisions []audit.Entry
}

func (ts *turnState) write(text string) error {
	if text == "" {
		return nil
	}
	ts.reply.WriteString(text)
	return ts.emit(text)
}

// Stream implements chat.TurnEngine.
func (e *Engine) Stream(ctx context.Context, in chat.TurnInput, emit func(string) error) (chat.TurnRecord, error) {
	tn := e.cfg.DB.Tenant(in.OrgID)
	cfg, err := tn.AssistantConfig(ctx, in.ChatbotID)
	if err != nil {
		return chat.TurnRecord{}, err
	}
	question := in.LastVisitorText()
	if question == "" {
		return chat.TurnRecord{}, nil
	}
	ts := &turnState{in: in, cfg: cfg, emit: emit}
	err = e.stream(ctx, ts, question)
	return chat.TurnRecord{Usage: ts.usage, Decisions: ts.decisions}, err
}

// stream runs the turn: budgets, retrieval, the model and its tools.
func (e *Engine) stream(ctx context.Context, ts *turnState, question string) error {
	in, cfg := ts.in, ts.cfg

	var scopes []budgetScope
	if e.cfg.Limiter != nil {
		ip := ""
		if in.ClientIP.IsValid() {
			ip = in.ClientIP.String()
		}
		scopes = scopesOf(cfg, in)
		if scope, dim := e.admit(ctx, scopes); scope != "" {
			e.budgetExhausted(ctx, in, scope, dim, ip)
			return ts.write(BudgetMessage)
		}
	}

	ts.passages = e.retrieve(ctx, ts, question, "retrieval for the visitor's message")
	ts.tools = e.toolsFor(cfg)
	provider, err := e.provider(ctx, in.OrgID, cfg)
	if err != nil {
		return e.fail(ctx, ts, err)
	}
	messages := historyMessages(in.History, cfg.HistoryTokens)
	// The stored events are not read past here, and a turn streams for
	// seconds: at a thousand streams they were a third of the live heap.
	// (The local copy in is not used past here either, so it holds none.)
	ts.in.History = nil
	usage, done, err := e.converse(ctx, ts, provider, messages)
	e.finish(ctx, ts, scopes, usage, done)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err // the provider failed, or emit did (the visitor is gone, the reply is too long)
}

// converse asks the model, runs the tools it calls and asks again, at most
// MaxToolRounds times, passing text to ts as it arrives; then adds the
// sources it cited and, when the provider asks for it, the offer of a
// human. It returns the tokens spent and the last end event, with the
// reply's citations when it completed. A provider failure has been told to
// the visitor (fail) when it returns.
func (e *Engine) converse(ctx context.Context, ts *turnState, provider llm.Provider, messages []llm.Message) (llm.Usage, llm.Event, error) {
	req := llm.Request{Messages: messages, Tools: ts.tools.defs}
	var usage llm.Usage
	var done llm.Event
	for round := 0; ; round++ {
		req.Passages = ts.passages
		res, err := e.streamOnce(ctx, provider, req, ts)
		usage.InputTokens += res.usage.InputTokens
		usage.OutputTokens += res.usage.OutputTokens
		if err != nil {
			var lerr *llm.Error
			if ctx.Err() == nil && errors.As(err, &lerr) {
				err = e.fail(ctx, ts, lerr)
			}
			return usage, done, err
		}
		done = res.done
		if len(res.calls) == 0 {
			break
		}
		if round >= e.cfg.MaxToolRounds {
			e.cfg.Logger.Warn("assistant: tool rounds exhausted", "conversation", ts.in.ConversationID)
			break
		}
		req.Messages = append(req.Messages, llm.Message{Role: llm.RoleAssistant, Text: res.text, ToolCalls: res.calls})
		for _, call := range res.calls {
			result, isErr := e.runTool(ctx, ts, call)
			if ctx.Err() != nil {
				return usage, done, ctx.Err()
			}
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleTool, ToolCallID: call.ID, Text: result, ToolError: isErr})
		}
	}
	citations := done.Citations
	if citations == nil {
		citations = llm.CitationsIn(ts.reply.String(), ts.passages)
	}
	if len(citations) > 0 && !strings.Contains(ts.reply.String(), "\nSources:") {
		if err := ts.write(sourcesFooter(citations)); err != nil {
			return usage, done, err
		}
	}
	if done.OfferHuman && !strings.Contains(ts.reply.String(), "person") {
		if err := ts.write("\n\n" + OfferHuman); err != nil {
			return usage, done, err
		}
	}
	done.Citations = citations
	return usage, done, nil
}

// sourcesFooter lists cited passages as the built-in provider does, so the
// stored reply carries its citations.
func sourcesFooter(citations []llm.Citation) string {
	var b strings.Builder
	b.WriteString("\n\nSources:")
	for _, c := range citations {
		title := strings.TrimSpace(c.Passage.SourceTitle)
		if title == "" {
			title = "Source"
		}
		b.WriteString("\n[" + strconv.Itoa(c.Number) + "] " + title)
		if c.Passage.URL != "" {
			b.WriteString(" " + c.Passage.URL)
		}
	}
	return b.String()
}

// finish charges the turn's usage against the budgets and keeps it, with
// the reply's audit entry (its citations), for the turn's end. It runs even
// when the turn was canceled: tokens spent are spent.
func (e *Engine) finish(ctx context.Context, ts *turnState, scopes []budgetScope, usage llm.Usage, done llm.Event) {
	in := ts.in
	if len(scopes) > 0 {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		e.charge(sctx, scopes, usage.InputTokens+usage.OutputTokens)
		cancel()
	}
	cited := make([]map[string]any, 0, len(done.Citations))
	for _, c := range done.Citations {
		cited = append(cited, map[string]any{"n": c.Number, "passage_id": c.Passage.ID, "title": c.Passage.SourceTitle, "url": c.Passage.URL})
	}
	ts.usage = &store.TokenUsage{InputTokens: usage.InputTokens, OutputTokens: usage.OutputTokens}
	ts.decisions = append(ts.decisions, audit.Entry{Actor: audit.Actor{Kind: audit.ActorAssistant, ID: in.ChatbotID}, Action: ActionReply, Target: "turn:" + in.TurnID,
		Reason: "the assistant's reply: its citations and token usage",
		Payload: audit.Payload(map[string]any{"turn_id": in.TurnID, "provider": ts.cfg.Provider, "model": ts.cfg.Model,
			"input_tokens": usage.InputTokens, "output_tokens": usage.OutputTokens, "citations": cited,
			"reply_bytes": ts.reply.Len(), "stop_reason": string(done.StopReason)})})
}

// fail tells the visitor the assistant cannot answer, offers a human and
// returns err, so the turn ends as an error. Details go to the log only.
func (e *Engine) fail(ctx context.Context, ts *turnState, err error) error {
	e.cfg.Logger.Error("assistant: provider failed", "conversation", ts.in.ConversationID, "turn", ts.in.TurnID, "err", err)
	if fetch.IsRefused(err) {
		e.baseURLRefused(ctx, ts, err)
	}
	msg := "Sorry, the assistant can't answer right now."
	var lerr *llm.Error
	if errors.As(err, &lerr) {
		msg = lerr.VisitorMessage()
	}
	if ts.reply.Len() > 0 {
		msg = "\n\n" + msg
	}
	if werr := ts.write(msg + " " + OfferHuman); werr != nil && ctx.Err() == nil {
		return werr
	}
	return fmt.Errorf("assistant: %w", err)
}

// provider builds the chatbot's provider; its key is opened per request
// with the organization's data key.
func (e *Engine) provider(ctx context.Context, orgID string, cfg store.AssistantConfig) (llm.Provider, error) {
	lc := e.providerBase
	lc.Kind, lc.BaseURL, lc.APIVersion, lc.Model = llm.Kind(cfg.Provider), cfg.BaseURL, cfg.APIVersion, cfg.Model
	lc.APIKeySealed, lc.SystemPrompt, lc.Temperature, lc.MaxTokens = cfg.APIKeySealed, cfg.SystemPrompt, cfg.Temperature, cfg.MaxTokens
	var open llm.KeyOpener
	if e.cfg.Vault != nil {
		open = func(ctx context.Context, sealed []byte) ([]byte, error) { return e.cfg.Vault.Open(ctx, orgID, sealed) }
	}
	return e.cfg.NewProvider(ctx, lc, open)
}

// roundResult is one model request's outcome.
type roundResult struct {
	text  string
	calls []llm.ToolCall
	usage llm.Usage
	done  llm.Event
}

// streamOnce runs one model request, passing text to the visitor as it
// arrives. Canceling ctx closes the stream, which closes the upstream.
func (e *Engine) streamOnce(ctx context.Context, provider llm.Provider, req llm.Request, ts *turnState) (roundResult, error) {
	var res roundResult
	stream, err := provider.Stream(ctx, req)
	if err != nil {
		return res, err
	}
	defer stream.Close()
	// This round's text is the end of the turn's reply (ts.write keeps it).
	start := ts.reply.Len()
	for {
		ev, ok := stream.Next()
		if !ok {
			res.text = ts.reply.String()[start:]
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			return res, nil
		}
		switch ev.Kind {
		case llm.EventText:
			if err := ts.write(ev.Text); err != nil {
				res.text = ts.reply.String()[start:]
				return res, err
			}
		case llm.EventToolCall:
			res.calls = append(res.calls, ev.ToolCall)
		case llm.EventUsage:
			res.usage = ev.Usage
		case llm.EventDone:
			res.done = ev
		case llm.EventError:
			res.text = ts.reply.String()[start:]
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			return res, ev.Err
		}
	}
}

// retrieve searches the chatbot's own namespace and records the lookup.
func (e *Engine) retrieve(ctx context.Context, ts *turnState, query, reason string) []llm.Passage {
	in := ts.in
	if e.cfg.Knowledge == nil {
		return nil
	}
	found, err := e.cfg.Knowledge.Search(ctx, knowledge.Namespace{OrgID: in.OrgID, ChatbotID: in.ChatbotID}, query, e.cfg.TopK)
	if err != nil {
		e.cfg.Logger.Warn("assistant: knowledge search failed; answering without", "conversation", in.ConversationID, "err", err)
		return nil
	}
	passages := make([]llm.Passage, 0, len(found))
	ids := make([]string, 0, len(found))
	for _, p := range found {
		passages = append(passages, llm.Passage{ID: p.ChunkID, SourceTitle: p.Title, URL: p.URL, Text: p.Text})
		ids = append(ids, p.ChunkID)
	}
	if ts.preview {
		return passages // the preview's own entry lists them
	}
	// Kept for the turn's end: a lookup changes nothing, and recording it
	// there saves a write per turn.
	ts.decisions = append(ts.decisions, audit.Entry{Actor: audit.Actor{Kind: audit.ActorAssistant, ID: in.ChatbotID},
		Action: audit.ActionKnowledgeLookup, Target: "chatbot:" + in.ChatbotID, Reason: reason,
		Payload: audit.Payload(map[string]any{"turn_id": in.TurnID, "passage_ids": ids, "k": e.cfg.TopK})})
	return passages
}

// record appends a decision of the assistant to the Wake. A failure is
// logged: the turn goes on.
func (e *Engine) record(ctx context.Context, in chat.TurnInput, entry audit.Entry) {
	if entry.Actor.Kind == "" {
		entry.Actor = audit.Actor{Kind: audit.ActorAssistant, ID: in.ChatbotID}
	}
	entry.ConversationID = in.ConversationID
	if err := e.cfg.DB.Tenant(in.OrgID).RecordDecision(context.WithoutCancel(ctx), entry); err != nil {
		e.cfg.Logger.Error("assistant: unable to record decision", "action", entry.Action, "conversation", in.ConversationID, "err", err)
	}
}

// budgetExhausted records a refused turn for the organization, and a
// security event when one visitor or one address spent its budget.
func (e *Engine) budgetExhausted(ctx context.Context, in chat.TurnInput, scope, dimension, ip string) {
	e.record(ctx, in, audit.Entry{Actor: audit.Actor{Kind: audit.ActorSystem}, Action: ActionBudgetExhausted,
		Target:  "budget:" + scope + ":" + dimension,
		Reason:  "the " + scope + " " + dimension + " budget of the assistant is spent for this window: the visitor got the limit message, no model was called",
		Payload: audit.Payload(map[string]any{"chatbot_id": in.ChatbotID, "visitor_id": in.VisitorID, "scope": scope, "dimension": dimension})})
	if e.cfg.Security != nil && scope != "org" {
		e.cfg.Security.RecordSecurityEvent(context.WithoutCancel(ctx), porthole.SecurityEvent{
			OrgID: in.OrgID, Kind: porthole.SecRateLimited, Actor: "visitor:" + in.VisitorID, IP: ip,
			Detail: "assistant " + scope + " " + dimension + " budget exhausted",
			Data:   map[string]any{"chatbot_id": in.ChatbotID, "conversation_id": in.ConversationID, "scope": scope, "dimension": dimension},
		})
	}
}

// baseURLRefused records a security event: the chatbot's base URL led to
// an address the SSRF guard refuses (loopback, private, metadata, ...).
func (e *Engine) baseURLRefused(ctx context.Context, ts *turnState, err error) {
	if e.cfg.Security == nil {
		return
	}
	host := ""
	if u, perr := url.Parse(ts.cfg.BaseURL); perr == nil {
		host = u.Host
	}
	e.cfg.Security.RecordSecurityEvent(context.WithoutCancel(ctx), porthole.SecurityEvent{
		OrgID: ts.in.OrgID, Kind: porthole.SecSSRFRefused, Actor: "chatbot:" + ts.in.ChatbotID,
		Detail: "refused to reach the assistant's provider base URL (host " + host + ")",
		Data:   map[string]any{"chatbot_id": ts.in.ChatbotID, "conversation_id": ts.in.ConversationID, "host": host, "reason": err.Error()},
	})
}
