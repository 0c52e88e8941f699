package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// The agent inbox (issue 5): conversations by state, one conversation's
// transcript with the agent's actions, and transcript exports. Every read
// and change goes through the chat service, which applies the chatbot
// grants and sharing policy on the server and records each action with the
// member as actor; this file only decodes forms and renders.

// inboxListLimit is how many conversations the inbox lists.
const inboxListLimit = 200

// maxReasonRunes caps the optional reason of an action.
const maxReasonRunes = 500

// stateLabels name the conversation states in the inbox.
var stateLabels = map[string]string{
	store.StateOpen:    "With the assistant",
	store.StateWaiting: "Waiting for a person",
	store.StateAgent:   "With an agent",
	store.StateClosed:  "Closed",
}

// inboxTabOrder is the order of the state tabs; "" is every state.
var inboxTabOrder = []string{store.StateWaiting, store.StateAgent, store.StateOpen, store.StateClosed, ""}

type inboxTab struct {
	State, Label, Path string
	Current            bool
}

// inboxRow is one conversation in the list (also the JSON the page's
// script refreshes the list from).
type inboxRow struct {
	ID         string `json:"id"`
	Chatbot    string `json:"chatbot"`
	Visitor    string `json:"visitor"`
	State      string `json:"state"`
	StateLabel string `json:"state_label"`
	Holder     string `json:"holder"`
	Updated    string `json:"updated"`
	Path       string `json:"path"`
}

type chatbotChoice struct {
	ID, Name string
	Selected bool
}

// inboxPage is the Data of the inbox.
type inboxPage struct {
	Tabs      []inboxTab
	State     string
	ChatbotID string
	Chatbots  []chatbotChoice
	Rows      []inboxRow
	ListURL   string // the JSON of the same list, for the live refresh
	EventsURL string
	// Range export form defaults (UTC dates).
	Since, Until string
}

// requireChat answers 503 when the chat service is not wired in.
func (d *Dashboard) requireChat() error {
	if d.chat == nil {
		return porthole.Errorf(porthole.EUNAVAILABLE, "conversations are not available")
	}
	return nil
}

// inboxFilter reads the state and chatbot filters of the list.
func inboxFilter(r *http.Request) (store.InboxFilter, error) {
	q := r.URL.Query()
	f := store.InboxFilter{State: q.Get("state"), ChatbotID: q.Get("chatbot_id"), Limit: inboxListLimit}
	if f.State != "" && !store.ValidState(f.State) {
		return f, porthole.Errorf(porthole.EINVALID, "unknown conversation state")
	}
	if f.ChatbotID != "" && !porthole.ValidID(f.ChatbotID) {
		return f, porthole.Errorf(porthole.EINVALID, "unknown chatbot")
	}
	return f, nil
}

// visibleChatbots lists the chatbots p may see, by id.
func (d *Dashboard) visibleChatbots(ctx context.Context, p auth.Principal) ([]porthole.Chatbot, map[string]string, error) {
	list, err := d.db.Tenant(p.Org).Chatbots(ctx)
	if err != nil {
		return nil, nil, err
	}
	if list, err = d.auth.VisibleChatbots(ctx, p, list); err != nil {
		return nil, nil, err
	}
	names := make(map[string]string, len(list))
	for _, c := range list {
		names[c.ID] = c.Name
	}
	return list, names, nil
}

// memberNames maps the organization's user ids to a display name.
func (d *Dashboard) memberNames(ctx context.Context, p auth.Principal) (map[string]string, []store.MemberProfile) {
	members, err := d.db.Tenant(p.Org).MemberProfiles(ctx)
	if err != nil {
		return map[string]string{}, nil
	}
	names := make(map[string]string, len(members))
	for _, m := range members {
		names[m.UserID] = memberName(m)
	}
	return names, members
}

func memberName(m store.MemberProfile) string {
	if m.Name != "" {
		return m.Name
	}
	return m.Email
}

// visitorLabel names a conversation's visitor for the list.
func visitorLabel(c store.InboxConversation) string {
	for _, s := range []string{c.VisitorName, c.VisitorEmail, c.VisitorPhone} {
		if s != "" {
			return visible(s)
		}
	}
	return "Visitor " + truncate(c.VisitorID, 8)
}

// inboxRows lists the conversations of f for p.
func (d *Dashboard) inboxRows(ctx context.Context, p auth.Principal, f store.InboxFilter, bots map[string]string) ([]inboxRow, error) {
	list, err := d.chat.Conversations(ctx, p, f)
	if err != nil {
		return nil, err
	}
	people, _ := d.memberNames(ctx, p)
	rows := make([]inboxRow, 0, len(list))
	for _, c := range list {
		row := inboxRow{ID: c.ID, Chatbot: visible(bots[c.ChatbotID]), Visitor: visitorLabel(c), State: c.State,
			StateLabel: stateLabels[c.State], Updated: formatTime(c.UpdatedAt), Path: BasePath + "inbox/" + c.ID}
		if c.Holder != "" {
			row.Holder = visible(people[c.Holder])
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (d *Dashboard) inboxPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	f, err := inboxFilter(r)
	if err != nil {
		return err
	}
	bots, names, err := d.visibleChatbots(r.Context(), p)
	if err != nil {
		return err
	}
	if f.ChatbotID != "" && names[f.ChatbotID] == "" {
		return porthole.Errorf(porthole.ENOTFOUND, "chatbot not found")
	}
	page := inboxPage{State: f.State, ChatbotID: f.ChatbotID, EventsURL: BasePath + "inbox/events"}
	for _, state := range inboxTabOrder {
		label := stateLabels[state]
		if state == "" {
			label = "All"
		}
		page.Tabs = append(page.Tabs, inboxTab{State: state, Label: label, Path: inboxPath("inbox", state, f.ChatbotID),
			Current: state == f.State})
	}
	page.ListURL = inboxPath("inbox.json", f.State, f.ChatbotID)
	for _, c := range bots {
		page.Chatbots = append(page.Chatbots, chatbotChoice{ID: c.ID, Name: c.Name, Selected: c.ID == f.ChatbotID})
	}
	if page.Rows, err = d.inboxRows(r.Context(), p, f, names); err != nil {
		return err
	}
	now := time.Now().UTC()
	page.Since, page.Until = now.AddDate(0, 0, -7).Format(time.DateOnly), now.Format(time.DateOnly)
	v := d.frame(r, p, "inbox", "Inbox")
	v.Notice, v.Data = doneNotice(r), page
	d.render(w, r, "inbox", v)
	return nil
}

// inboxPath builds a list URL with its filters.
func inboxPath(name, state, chatbotID string) string {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	if chatbotID != "" {
		q.Set("chatbot_id", chatbotID)
	}
	if len(q) == 0 {
		return BasePath + name
	}
	return BasePath + name + "?" + q.Encode()
}

// inboxJSON is the list as JSON, for the page's live refresh. It is a GET
// with the session cookie, same origin only (the CSP's connect-src and the
// absence of CORS headers).
func (d *Dashboard) inboxJSON(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	f, err := inboxFilter(r)
	if err != nil {
		return err
	}
	_, names, err := d.visibleChatbots(r.Context(), p)
	if err != nil {
		return err
	}
	rows, err := d.inboxRows(r.Context(), p, f, names)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	return json.NewEncoder(w).Encode(map[string]any{"conversations": rows})
}

// transcriptRow is one stored event of a conversation as the agent sees it.
type transcriptRow struct {
	Seq       int64
	Role      string // visitor, assistant, agent, system; "event" for forms
	RoleLabel string
	Text      string
	Time      string
}

// noteRow is one internal note.
type noteRow struct {
	Author, Text, Time string
}

type memberChoice struct {
	ID, Name string
}

// conversationPage is the Data of one conversation.
type conversationPage struct {
	ID          string
	ChatbotName string
	Visitor     string
	State       string
	StateLabel  string
	Holder      string
	Version     int64
	LastSeq     int64
	LegalHold   bool
	Messages    []transcriptRow
	Notes       []noteRow
	EventsURL   string

	CanWrite     bool
	IsHolder     bool
	CanTakeOver  bool
	CanRelease   bool
	CanClose     bool
	CanReopen    bool
	Supervisor   bool
	Members      []memberChoice // reassign targets
	Reply, Note  string         // kept after a refused form
	ReloadNeeded bool           // a stale version was refused
}

var roleLabels = map[string]string{
	store.RoleVisitor:   "Visitor",
	store.RoleAssistant: "Assistant",
	store.RoleAgent:     "Agent",
	store.RoleSystem:    "System",
}

// transcriptRows turns stored events into rows: messages, and the forms
// the visitor was shown or sent. Turn ends are bookkeeping and left out.
func transcriptRows(events []store.Event, people map[string]string) []transcriptRow {
	rows := make([]transcriptRow, 0, len(events))
	for _, e := range events {
		row := transcriptRow{Seq: e.Seq, Role: e.Role, RoleLabel: roleLabels[e.Role], Text: e.Text, Time: formatTime(e.CreatedAt)}
		switch e.Kind {
		case store.EventMessage:
			if e.Role == store.RoleAgent {
				var data chat.AgentReplyData
				if json.Unmarshal(e.Data, &data) == nil && people[data.AgentID] != "" {
					row.RoleLabel = "Agent · " + people[data.AgentID]
				}
			}
		case store.EventForm:
			row.Role, row.RoleLabel, row.Text = "event", "Form shown", formTitle(e)
		case store.EventFormResult:
			row.Role, row.RoleLabel, row.Text = "event", "Form sent", formStatus(e)
		default:
			continue
		}
		rows = append(rows, row)
	}
	return rows
}

func formTitle(e store.Event) string {
	f := chat.FrameOf(e)
	return f.Title
}

func formStatus(e store.Event) string {
	f := chat.FrameOf(e)
	return f.Status
}

func (d *Dashboard) conversationPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return d.showConversation(w, r, p, http.StatusOK, doneNotice(r), conversationPage{})
}

// showConversation renders one conversation; form carries what a refused
// form held.
func (d *Dashboard) showConversation(w http.ResponseWriter, r *http.Request, p auth.Principal, status int, n notice, form conversationPage) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	if !porthole.ValidID(id) {
		return porthole.Errorf(porthole.ENOTFOUND, "conversation not found")
	}
	c, err := d.chat.Conversation(ctx, p, id, 0)
	if err != nil {
		return err
	}
	people, members := d.memberNames(ctx, p)
	page := form
	page.ID, page.State, page.StateLabel, page.Version = c.ID, c.State, stateLabels[c.State], c.LeaseVersion
	page.LastSeq, page.LegalHold, page.Visitor = c.LastSeq, c.LegalHold, visitorLabel(c.InboxConversation)
	page.EventsURL = BasePath + "inbox/" + c.ID + "/events"
	if bot, err := d.db.Tenant(p.Org).Chatbot(ctx, c.ChatbotID); err == nil {
		page.ChatbotName = bot.Name
	}
	if c.Holder != "" {
		page.Holder = people[c.Holder]
	}
	page.Messages = transcriptRows(c.Events, people)
	for _, note := range c.Notes {
		author := people[note.AuthorID]
		if author == "" {
			author = note.AuthorID
		}
		page.Notes = append(page.Notes, noteRow{Author: author, Text: note.Text, Time: formatTime(note.CreatedAt)})
	}
	grant, err := d.auth.ChatbotGrant(ctx, p, c.ChatbotID)
	if err != nil {
		return err
	}
	page.CanWrite = p.ChatbotAccess("conversations", grant) >= auth.WriteAccess
	page.Supervisor = page.CanWrite && p.Can("supervision:write")
	page.IsHolder = c.State == store.StateAgent && c.Holder == p.UserID
	if page.CanWrite {
		page.CanTakeOver = c.State == store.StateOpen || c.State == store.StateWaiting
		page.CanRelease = page.IsHolder || (page.Supervisor && c.State == store.StateAgent) || c.State == store.StateWaiting
		page.CanClose = c.State != store.StateClosed && (c.State != store.StateAgent || page.IsHolder || page.Supervisor)
		page.CanReopen = c.State == store.StateClosed
	}
	if page.Supervisor {
		for _, m := range members {
			page.Members = append(page.Members, memberChoice{ID: m.UserID, Name: memberName(m) + " (" + string(m.Role) + ")"})
		}
	}
	title := "Conversation"
	if page.ChatbotName != "" {
		title += " · " + page.ChatbotName
	}
	v := d.frame(r, p, "inbox", title)
	v.Notice, v.Data = n, page
	d.renderStatus(w, r, status, "conversation", v)
	return nil
}

// actionInput reads the optional reason and the version the member saw.
func actionInput(r *http.Request) (chat.ActionInput, error) {
	in := chat.ActionInput{Reason: strings.TrimSpace(r.PostFormValue("reason"))}
	if len([]rune(in.Reason)) > maxReasonRunes {
		return in, porthole.Errorf(porthole.EINVALID, "the reason is over %d characters", maxReasonRunes)
	}
	if v := strings.TrimSpace(r.PostFormValue("version")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return in, porthole.Errorf(porthole.EINVALID, "bad version")
		}
		in.Version = n
	}
	return in, nil
}

// conversationFormError shows a refused action on the conversation page
// (a stale version asks for a reload); other errors go to fail.
func (d *Dashboard) conversationFormError(w http.ResponseWriter, r *http.Request, p auth.Principal, err error, form conversationPage) error {
	if !formError(err) {
		return err
	}
	msg := porthole.ErrorMessage(err)
	if porthole.IsCode(err, porthole.ECONFLICT) {
		msg = "Someone else changed this conversation; reload. (" + msg + ")"
		form.ReloadNeeded = true
	}
	return d.showConversation(w, r, p, httpStatus(err), notice{Error: msg}, form)
}

// handlingAction is one of the lease actions of the conversation page.
type handlingAction func(ctx context.Context, p auth.Principal, id string, in chat.ActionInput) (store.InboxConversation, error)

// The lease actions, by the service method they call.
func takeOver(s *chat.Service) handlingAction           { return s.TakeOver }
func release(s *chat.Service) handlingAction            { return s.Release }
func closeConversation(s *chat.Service) handlingAction  { return s.Close }
func reopen(s *chat.Service) handlingAction             { return s.Reopen }
func supervisorTakeOver(s *chat.Service) handlingAction { return s.SupervisorTakeOver }

// conversationAction wraps a lease action as a form post: read the reason
// and version, call the service, redirect back with done.
func (d *Dashboard) conversationAction(action func(*chat.Service) handlingAction, done string) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		if err := d.requireChat(); err != nil {
			return err
		}
		id := r.PathValue("id")
		if !porthole.ValidID(id) {
			return porthole.Errorf(porthole.ENOTFOUND, "conversation not found")
		}
		in, err := actionInput(r)
		if err != nil {
			return d.conversationFormError(w, r, p, err, conversationPage{})
		}
		if _, err := action(d.chat)(r.Context(), p, id, in); err != nil {
			return d.conversationFormError(w, r, p, err, conversationPage{})
		}
		redirect(w, r, BasePath+"inbox/"+id, done)
		return nil
	}
}

func (d *Dashboard) reassignConversation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	id := r.PathValue("id")
	in, err := actionInput(r)
	if err != nil {
		return d.conversationFormError(w, r, p, err, conversationPage{})
	}
	target := r.PostFormValue("user_id")
	if !porthole.ValidID(target) {
		return d.conversationFormError(w, r, p, porthole.Errorf(porthole.EINVALID, "choose a member"), conversationPage{})
	}
	if _, err := d.chat.Reassign(r.Context(), p, id, target, in); err != nil {
		return d.conversationFormError(w, r, p, err, conversationPage{})
	}
	redirect(w, r, BasePath+"inbox/"+id, "reassigned")
	return nil
}

func (d *Dashboard) replyToConversation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	id := r.PathValue("id")
	text := r.PostFormValue("text")
	// client_id makes a double-submitted form one reply.
	if _, err := d.chat.Reply(r.Context(), p, id, text, r.PostFormValue("client_id")); err != nil {
		return d.conversationFormError(w, r, p, err, conversationPage{Reply: truncate(text, 4*chat.MaxMessageRunes)})
	}
	redirect(w, r, BasePath+"inbox/"+id, "reply-sent")
	return nil
}

func (d *Dashboard) addConversationNote(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	id := r.PathValue("id")
	text := r.PostFormValue("text")
	if _, err := d.chat.AddNote(r.Context(), p, id, text); err != nil {
		return d.conversationFormError(w, r, p, err, conversationPage{Note: truncate(text, 4*store.MaxNoteRunes)})
	}
	redirect(w, r, BasePath+"inbox/"+id, "note-added")
	return nil
}

// Exports. Each is a form post: the service records the export in the Wake
// before writing the body, so like the audit export it is a change and sits
// behind the cross-origin protection.

// exportFormat reads the format field.
func exportFormat(r *http.Request) (string, error) {
	switch f := r.PostFormValue("format"); f {
	case chat.FormatJSON, chat.FormatCSV:
		return f, nil
	}
	return "", porthole.Errorf(porthole.EINVALID, "format must be json or csv")
}

// writeExport streams an export as a download. The service checks
// permissions and records the export before it writes a byte, so a refusal
// still becomes a normal error page.
func (d *Dashboard) writeExport(w http.ResponseWriter, r *http.Request, p auth.Principal, q chat.ExportQuery, filename string) error {
	var buf bytes.Buffer
	if _, err := d.chat.ExportTranscripts(r.Context(), p, q, &buf); err != nil {
		return err
	}
	ct := "application/json; charset=utf-8"
	if q.Format == chat.FormatCSV {
		ct = "text/csv; charset=utf-8"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", `attachment; filename="`+filename+"."+q.Format+`"`)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
	return nil
}

func (d *Dashboard) exportConversation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	id := r.PathValue("id")
	if !porthole.ValidID(id) {
		return porthole.Errorf(porthole.ENOTFOUND, "conversation not found")
	}
	format, err := exportFormat(r)
	if err != nil {
		return err
	}
	q := chat.ExportQuery{ConversationID: id, Format: format, IncludeNotes: r.PostFormValue("include_notes") == "on"}
	return d.writeExport(w, r, p, q, "porthole-conversation-"+id)
}

func (d *Dashboard) exportConversations(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	format, err := exportFormat(r)
	if err != nil {
		return err
	}
	since, err := time.Parse(time.DateOnly, strings.TrimSpace(r.PostFormValue("since")))
	if err != nil {
		return porthole.Errorf(porthole.EINVALID, "From must be a date (YYYY-MM-DD)")
	}
	until, err := time.Parse(time.DateOnly, strings.TrimSpace(r.PostFormValue("until")))
	if err != nil {
		return porthole.Errorf(porthole.EINVALID, "Until must be a date (YYYY-MM-DD)")
	}
	until = until.AddDate(0, 0, 1) // the whole "until" day
	chatbotID := r.PostFormValue("chatbot_id")
	if chatbotID != "" && !porthole.ValidID(chatbotID) {
		return porthole.Errorf(porthole.EINVALID, "unknown chatbot")
	}
	q := chat.ExportQuery{ChatbotID: chatbotID, Since: since, Until: until, Format: format,
		IncludeNotes: r.PostFormValue("include_notes") == "on"}
	return d.writeExport(w, r, p, q, "porthole-conversations-"+since.Format(time.DateOnly)+"-"+until.AddDate(0, 0, -1).Format(time.DateOnly))
}
