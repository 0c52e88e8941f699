package assistant

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/porthole-chat/porthole/internal/assistant/llm"
	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Names of the built-in tools.
const (
	ToolContactForm     = "contact_form"
	ToolHandoff         = "handoff"
	ToolKnowledgeSearch = "knowledge_search"
)

// Statuses of a recorded tool call.
const (
	toolExecuted = "executed"
	toolFailed   = "failed"
	toolInvalid  = "invalid"
	toolRefused  = "refused"
	// toolNotExecuted is a call a preview reports instead of running.
	toolNotExecuted = "not_executed"
)

// maxRecordedArgs caps the arguments copied into an audit payload.
const maxRecordedArgs = 16 << 10

// toolHandler runs one validated call and returns the result for the model
// and whether it reports a failure.
type toolHandler func(ctx context.Context, ts *turnState, args json.RawMessage) (string, bool)

type tool struct {
	schema *schema
	run    toolHandler
}

// toolSet is the tools one chatbot was given: what the model is told
// (defs) and what may run (byName). A name not in byName never runs.
type toolSet struct {
	defs   []llm.Tool
	byName map[string]tool
}

const (
	contactSchema = `{"type":"object","properties":{
"name":{"type":"string","maxLength":200},
"phone":{"type":"string","maxLength":40},
"email":{"type":"string","maxLength":320},
"reason":{"type":"string","maxLength":500}}}`
	handoffSchema = `{"type":"object","properties":{
"reason":{"type":"string","maxLength":500}},"required":["reason"]}`
	knowledgeSchema = `{"type":"object","properties":{
"query":{"type":"string","maxLength":500},
"reason":{"type":"string","maxLength":500}},"required":["query"]}`
)

func (e *Engine) toolsFor(cfg store.AssistantConfig) *toolSet {
	ts := &toolSet{byName: map[string]tool{}}
	add := func(name, description, rawSchema string, run toolHandler) {
		s, err := parseSchema(json.RawMessage(rawSchema))
		if err != nil {
			e.cfg.Logger.Error("assistant: tool schema refused; tool not offered", "tool", name, "err", err)
			return
		}
		ts.defs = append(ts.defs, llm.Tool{Name: name, Description: description, Parameters: json.RawMessage(rawSchema)})
		ts.byName[name] = tool{schema: s, run: run}
	}
	if cfg.Tools.ContactForm {
		add(ToolContactForm, "Ask the visitor for their contact details (name, phone, email) so the team can get back to them. "+
			"Call it without details to show the visitor a form, or with the details the visitor typed in the chat to save them.",
			contactSchema, e.contactTool)
	}
	if cfg.Tools.Handoff {
		add(ToolHandoff, "Hand the conversation to a person from the team, when the visitor asks for one or you cannot help. Give the reason.",
			handoffSchema, e.handoffTool)
	}
	if cfg.Tools.KnowledgeSearch && e.cfg.Knowledge != nil {
		add(ToolKnowledgeSearch, "Search the business's knowledge base. Found passages are added to the knowledge section, citable as [n].",
			knowledgeSchema, e.knowledgeTool)
	}
	for _, h := range cfg.Tools.HTTP {
		schema := string(h.Schema)
		if strings.TrimSpace(schema) == "" {
			schema = `{"type":"object","properties":{}}`
		}
		add(h.Name, h.Description, schema, e.httpTool(h))
	}
	return ts
}

// runTool executes one call the model made, if and only if the chatbot was
// given the tool and the arguments fit its schema, and records it.
func (e *Engine) runTool(ctx context.Context, ts *turnState, call llm.ToolCall) (string, bool) {
	t, ok := ts.tools.byName[call.Name]
	if !ok {
		e.cfg.Logger.Warn("assistant: refused a tool the chatbot was not given", "tool", call.Name, "conversation", ts.in.ConversationID)
		e.recordToolCall(ctx, ts, call, toolRefused, "the model called a tool this chatbot was not given; it was not executed")
		return fmt.Sprintf("Error: there is no tool named %q. Do not call it again.", call.Name), true
	}
	if err := t.schema.validate(call.Arguments); err != nil {
		e.recordToolCall(ctx, ts, call, toolInvalid, err.Error())
		return "Error: invalid arguments: " + err.Error(), true
	}
	if ts.preview && call.Name != ToolKnowledgeSearch {
		// Every other tool changes something (a form shown, a contact
		// saved, a hand-off, a business's API called): a preview only
		// says what would have been called.
		e.recordToolCall(ctx, ts, call, toolNotExecuted, "would call tool "+call.Name+" with "+string(call.Arguments))
		return "This is a preview: the tool was not run. Answer as you would once it succeeded.", false
	}
	result, failed := t.run(ctx, ts, call.Arguments)
	status := toolExecuted
	if failed {
		status = toolFailed
	}
	e.recordToolCall(ctx, ts, call, status, "")
	return result, failed
}

// recordToolCall appends assistant.tool_call: target the tool's name, the
// reason the model gave (or that it gave none), the arguments in the
// payload, which retention purges.
func (e *Engine) recordToolCall(ctx context.Context, ts *turnState, call llm.ToolCall, status, detail string) {
	reason := "the model called the tool without giving a reason"
	var withReason struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal(call.Arguments, &withReason) == nil && strings.TrimSpace(withReason.Reason) != "" {
		reason = "the model's reason: " + truncateRunes(withReason.Reason, 500)
	}
	var args any = json.RawMessage(call.Arguments)
	if len(call.Arguments) > maxRecordedArgs || !json.Valid(call.Arguments) {
		args = truncateRunes(string(call.Arguments), maxRecordedArgs)
	}
	if ts.preview {
		ts.previewCalls = append(ts.previewCalls, PreviewToolCall{Name: truncateRunes(call.Name, 200), Arguments: args,
			Status: status, Detail: truncateRunes(detail, maxRecordedArgs)})
		return
	}
	payload := map[string]any{"turn_id": ts.in.TurnID, "call_id": call.ID, "status": status, "arguments": args}
	if detail != "" {
		payload["detail"] = detail
	}
	e.record(ctx, ts.in, audit.Entry{Action: audit.ActionToolCall, Target: truncateRunes(call.Name, 200), Reason: reason,
		Payload: audit.Payload(payload)})
}

func truncateRunes(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// contactFormData mirrors the chat service's stored form and form_result
// data, so the widget and agents read them the same way.
type contactFormData struct {
	FormID string            `json:"form_id"`
	Title  string            `json:"title,omitempty"`
	Fields []chat.FormField  `json:"fields,omitempty"`
	Status string            `json:"status,omitempty"`
	Values map[string]string `json:"values,omitempty"`
}

var assistantContactFields = []chat.FormField{
	{Name: "name", Label: "Name", Type: "text", Required: true},
	{Name: "phone", Label: "Phone", Type: "tel"},
	{Name: "email", Label: "Email", Type: "email", Required: true},
}

// contactTool shows the contact form (no details given) or validates and
// saves the details the visitor typed in the chat.
func (e *Engine) contactTool(ctx context.Context, ts *turnState, raw json.RawMessage) (string, bool) {
	var args struct{ Name, Phone, Email string }
	_ = json.Unmarshal(raw, &args)
	args.Name, args.Phone, args.Email = strings.TrimSpace(args.Name), strings.TrimSpace(args.Phone), strings.TrimSpace(args.Email)
	tn := e.cfg.DB.Tenant(ts.in.OrgID)
	if args.Name == "" && args.Phone == "" && args.Email == "" {
		data, _ := json.Marshal(contactFormData{FormID: chat.ContactFormID, Title: "Your contact details", Fields: assistantContactFields})
		ev, _, err := tn.AppendEvent(ctx, store.NewEvent{ConversationID: ts.in.ConversationID, Kind: store.EventForm, Data: data})
		if err != nil {
			e.cfg.Logger.Error("assistant: unable to show the contact form", "conversation", ts.in.ConversationID, "err", err)
			return "Error: the form could not be shown; ask for the details in the chat instead.", true
		}
		e.publish(ctx, ts.in, ev)
		return "A form asking for name, phone and email is shown to the visitor. Tell them briefly; do not ask again in this reply.", false
	}
	clean, problems := validateContact(args.Name, args.Phone, args.Email, ts.cfg.DefaultCountry)
	if len(problems) > 0 {
		return "Error: the details are not valid (" + strings.Join(problems, "; ") + "). Ask the visitor to correct them.", true
	}
	// The same path as the contact form: the visitor row is upgraded in
	// place (phone in E.164, a typed email unverified) and merged into an
	// existing contact with the same phone.
	if _, _, err := tn.UpgradeContact(audit.WithActor(ctx, audit.Actor{Kind: audit.ActorAssistant, ID: ts.in.ChatbotID},
		"the visitor gave contact details in the chat"),
		store.ContactUpgrade{VisitorID: ts.in.VisitorID, Name: clean["name"], Email: clean["email"], Phone: clean["phone"]}); err != nil {
		e.cfg.Logger.Error("assistant: unable to save contact details", "conversation", ts.in.ConversationID, "err", err)
		return "Error: the details could not be saved.", true
	}
	data, _ := json.Marshal(contactFormData{FormID: chat.ContactFormID, Status: "accepted", Values: clean})
	given := make([]string, 0, 3)
	for _, f := range []string{"name", "phone", "email"} {
		if clean[f] != "" {
			given = append(given, f)
		}
	}
	ev, _, err := tn.AppendEvent(ctx, store.NewEvent{ConversationID: ts.in.ConversationID, Kind: store.EventFormResult, Data: data,
		Audit: &audit.Entry{Actor: audit.Actor{Kind: audit.ActorAssistant, ID: ts.in.ChatbotID}, Action: chat.ActionContactForm,
			Target: "form:" + chat.ContactFormID, Reason: "the visitor gave contact details in the chat; the assistant saved them",
			Payload: audit.Payload(map[string]any{"form_id": chat.ContactFormID, "fields": given, "email": clean["email"], "phone": clean["phone"]})}})
	if err != nil {
		e.cfg.Logger.Error("assistant: unable to store contact details", "conversation", ts.in.ConversationID, "err", err)
		return "Error: the details could not be saved.", true
	}
	e.publish(ctx, ts.in, ev)
	return "The contact details were saved: " + strings.Join(given, ", ") + ".", false
}

// validateContact checks contact details server-side: a name of at most
// 200 characters, a phone number that normalizes to E.164 and an email
// address; at least one of phone and email.
func validateContact(name, phone, email, country string) (map[string]string, []string) {
	clean := map[string]string{"name": name}
	var problems []string
	if name == "" {
		problems = append(problems, "name: required")
	} else if utf8.RuneCountInString(name) > 200 {
		problems = append(problems, "name: too long")
	}
	if phone == "" && email == "" {
		problems = append(problems, "phone or email: at least one is required")
	}
	if phone != "" {
		p, err := porthole.NormalizePhone(phone, country)
		if err != nil {
			problems = append(problems, "phone: not a valid phone number (give it with the country code, e.g. +49 30 1234567)")
		}
		clean["phone"] = p
	}
	if email != "" {
		addr, err := mail.ParseAddress(email)
		if err != nil || addr.Address != email || len(email) > 320 {
			problems = append(problems, "email: not a valid email address")
		}
		clean["email"] = email
	}
	return clean, problems
}

// handoffTool hands the conversation to a person.
func (e *Engine) handoffTool(ctx context.Context, ts *turnState, raw json.RawMessage) (string, bool) {
	var args struct{ Reason string }
	_ = json.Unmarshal(raw, &args)
	reason := "the assistant handed off: " + truncateRunes(strings.TrimSpace(args.Reason), 500)
	h := e.handoff.Load()
	if h == nil {
		// No hand-off target is wired: keep the request in the Wake so the
		// team can see it was asked for.
		e.record(ctx, ts.in, audit.Entry{Action: audit.ActionHandoff, Target: "conversation:" + ts.in.ConversationID,
			Reason: reason + " (no hand-off target configured; recorded only)"})
		return "A person was asked to join. Tell the visitor briefly.", false
	}
	if err := (*h).Handoff(ctx, ts.in.OrgID, ts.in.ConversationID, reason); err != nil {
		e.cfg.Logger.Error("assistant: hand-off failed", "conversation", ts.in.ConversationID, "err", err)
		return "Error: the hand-off failed. Apologize and suggest contacting the business directly.", true
	}
	return "A person was asked to join. Tell the visitor briefly.", false
}

// knowledgeTool searches the chatbot's own namespace and adds what it finds
// to the passages of the next request.
func (e *Engine) knowledgeTool(ctx context.Context, ts *turnState, raw json.RawMessage) (string, bool) {
	var args struct{ Query string }
	_ = json.Unmarshal(raw, &args)
	if strings.TrimSpace(args.Query) == "" {
		return "Error: the query is empty.", true
	}
	found := e.retrieve(ctx, ts, args.Query, "the model searched the knowledge base")
	have := map[string]int{}
	for i, p := range ts.passages {
		have[p.ID] = i + 1
	}
	var numbers []string
	for _, p := range found {
		n, ok := have[p.ID]
		if !ok {
			ts.passages = append(ts.passages, p)
			n = len(ts.passages)
			have[p.ID] = n
		}
		numbers = append(numbers, "["+strconv.Itoa(n)+"]")
	}
	if len(numbers) == 0 {
		return "No passages matched.", false
	}
	return "Found passages " + strings.Join(numbers, ", ") + "; they are in the knowledge section now.", false
}

// publish sends a stored event to the conversation's sockets.
func (e *Engine) publish(ctx context.Context, in chat.TurnInput, ev store.Event) {
	if e.cfg.Bus == nil {
		return
	}
	b, err := json.Marshal(chat.FrameOf(ev))
	if err != nil {
		return
	}
	if err := e.cfg.Bus.Publish(context.WithoutCancel(ctx), chat.Topic(in.OrgID, in.ConversationID), b); err != nil {
		e.cfg.Logger.Warn("assistant: unable to publish", "conversation", in.ConversationID, "err", err)
	}
}
