package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// auditEntriesShown is how many of the newest entries the audit log page lists.
const auditEntriesShown = 200

// auditRow is one audit entry as the dashboard shows it. Every string is
// passed through visible, so a value with newlines or control characters
// shows them as symbols and cannot make one entry look like two.
type auditRow struct {
	Seq            int64
	Time           string
	Actor          string
	Action         string
	Label          string // what kind of decision, in words (replay)
	Target         string
	Reason         string
	ConversationID string // a valid id, linked to its replay; "" otherwise
	Payload        string // indented JSON; "" when none or purged
	Purged         bool
}

// auditPage is the Data of the audit log page.
type auditPage struct {
	Entries     []auditRow
	CanExport   bool
	ExportReady bool   // the audit writer and checkpointer are wired in
	VerifierKey string // the checkpoint key buyers pin
}

// timelinePage is the Data of a conversation's replay.
type timelinePage struct {
	ConversationID string
	Entries        []auditRow
}

// actionLabels name the decisions a replay shows; other actions show their
// action name.
var actionLabels = map[string]string{
	audit.ActionRoutingDecision: "Routing decision",
	audit.ActionKnowledgeLookup: "Passages retrieved",
	audit.ActionToolCall:        "Tool call",
	audit.ActionHandoff:         "Taken over",
	audit.ActionAgentReply:      "Agent reply",
	audit.ActionSupervisor:      "Supervisor action",
	"assistant.turn":            "Assistant turn",
	"conversation.contact_form": "Contact form",
}

// auditRows turns entries into rows for a page.
func auditRows(list []audit.Entry) []auditRow {
	out := make([]auditRow, 0, len(list))
	for _, e := range list {
		row := auditRow{
			Seq: e.Seq, Time: e.Time.UTC().Format("2006-01-02 15:04:05.000 UTC"),
			Actor: visible(string(e.Actor.Kind)), Action: visible(e.Action), Label: actionLabels[e.Action],
			Target: visible(e.Target), Reason: visible(e.Reason), Purged: e.Purged,
		}
		if e.Actor.ID != "" {
			row.Actor += ":" + visible(e.Actor.ID)
		}
		if row.Label == "" {
			row.Label = row.Action
		}
		if porthole.ValidID(e.ConversationID) {
			row.ConversationID = e.ConversationID
		}
		if !e.Purged && len(e.Payload) > 0 && string(e.Payload) != "null" {
			row.Payload = indentPayload(e.Payload)
		}
		out = append(out, row)
	}
	return out
}

// indentPayload pretty-prints a payload. JSON keeps every control
// character of a string escaped (\n, \u001b), so the text is inert; the
// template escapes it for HTML.
func indentPayload(p json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, p, "", "  "); err != nil {
		return visible(string(p))
	}
	return buf.String()
}

// visible returns s with every control character replaced by a visible
// symbol: newline by ⏎, tab by ⇥, other C0 controls by their Control
// Pictures (U+2400 block), DEL by ␡, C1 controls and the line and paragraph
// separators by \u escapes. Shown inside a table cell, a value can then
// neither break a line nor pass for more than one field.
func visible(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString("⏎")
		case r == '\t':
			b.WriteString("⇥")
		case r < 0x20:
			b.WriteRune(0x2400 + r)
		case r == 0x7f:
			b.WriteString("␡")
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// auditLogPage lists the organization's newest entries, with the export
// form for owners.
func (d *Dashboard) auditLogPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	list, err := d.db.Tenant(p.Org).AuditEntries(r.Context(), auditEntriesShown)
	if err != nil {
		return err
	}
	page := auditPage{Entries: auditRows(list), CanExport: p.Can("audit_export:read"), ExportReady: d.auditReady()}
	if d.checkpointer != nil {
		page.VerifierKey = d.checkpointer.VerifierKey()
	}
	v := d.frame(r, p, "audit", "Audit log")
	v.Data = page
	d.render(w, r, "audit", v)
	return nil
}

// auditReady reports whether the dashboard can record and export.
func (d *Dashboard) auditReady() bool {
	return d.auditLog != nil && d.auditStore != nil && d.checkpointer != nil
}

// exportAudit downloads the organization's bundle, as the API's export
// does: the export is recorded in the log first (so the bundle holds its
// own record), then the bundle is streamed under a fresh checkpoint. It is a
// POST because it writes an entry, which also puts it behind the
// cross-origin protection.
func (d *Dashboard) exportAudit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !d.auditReady() {
		return porthole.Errorf(porthole.EUNAVAILABLE, "the audit log is not available")
	}
	sinceText, untilText := strings.TrimSpace(r.PostFormValue("since")), strings.TrimSpace(r.PostFormValue("until"))
	req := audit.ExportRequest{OrgID: p.Org}
	var err error
	if req.Since, err = audit.ParseTimeFlag(sinceText); err != nil {
		return porthole.Errorf(porthole.EINVALID, "From must be a date (YYYY-MM-DD) or an RFC 3339 time.")
	}
	if req.Until, err = audit.ParseTimeFlag(untilText); err != nil {
		return porthole.Errorf(porthole.EINVALID, "Until must be a date (YYYY-MM-DD) or an RFC 3339 time.")
	}
	if _, err := d.auditLog.Append(r.Context(), audit.Entry{
		OrgID: p.Org, Actor: auditActor(p), Action: audit.ActionExport, Target: "audit:" + p.Org,
		Reason: r.Method + " " + r.URL.Path, Payload: audit.Payload(map[string]string{"since": truncate(sinceText, 64), "until": truncate(untilText, 64)}),
	}); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="porthole-audit-%s.jsonl"`, p.Org))
	if _, err := audit.Export(r.Context(), d.auditStore, d.checkpointer, req, w); err != nil {
		// The body has started: a truncated bundle fails verification.
		httpx.Logger(r.Context()).Error("dashboard: audit export failed mid-stream", "err", err)
	}
	return nil
}

// conversationTimeline replays one conversation's decisions in order.
// Another organization's conversation is 404, like one that never existed.
func (d *Dashboard) conversationTimeline(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id := r.PathValue("id")
	t := d.db.Tenant(p.Org)
	if _, err := t.Conversation(r.Context(), id); err != nil {
		return err
	}
	list, err := t.ConversationTimeline(r.Context(), id)
	if err != nil {
		return err
	}
	v := d.frame(r, p, "audit", "Conversation replay")
	v.Data = timelinePage{ConversationID: id, Entries: auditRows(list)}
	d.render(w, r, "timeline", v)
	return nil
}

// auditActor is who a dashboard request acts as in the Wake.
func auditActor(p auth.Principal) audit.Actor {
	if p.IsUser() {
		return audit.Actor{Kind: audit.ActorUser, ID: p.UserID}
	}
	return audit.Actor{Kind: audit.ActorSystem}
}
