package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// AuditDeps are the Wake's parts the API serves from.
type AuditDeps struct {
	Log          *audit.Log
	Store        audit.Store
	Checkpointer *audit.Checkpointer
}

// WithAudit gives the server the audit log; without it the audit routes
// answer 503.
func (s *Server) WithAudit(d AuditDeps) *Server {
	s.audit = &d
	return s
}

// auditActor turns a principal into the actor its changes are recorded as.
func auditActor(p Principal) audit.Actor {
	kind, id, _ := strings.Cut(p.Actor(), ":")
	switch kind {
	case "user":
		return audit.Actor{Kind: audit.ActorUser, ID: id}
	case "api_key":
		return audit.Actor{Kind: audit.ActorAPIKey, ID: id}
	}
	return audit.Actor{Kind: audit.ActorSystem}
}

// exportAudit streams the caller's organization's bundle as JSON lines,
// after recording the export itself in the log.
func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request, p Principal) error {
	if s.audit == nil {
		return porthole.Errorf(porthole.EUNAVAILABLE, "the audit log is not available")
	}
	q := r.URL.Query()
	req := audit.ExportRequest{OrgID: p.OrgID()}
	var err error
	if req.Since, err = audit.ParseTimeFlag(q.Get("since")); err != nil {
		return porthole.Errorf(porthole.EINVALID, "since must be RFC 3339 or YYYY-MM-DD")
	}
	if req.Until, err = audit.ParseTimeFlag(q.Get("until")); err != nil {
		return porthole.Errorf(porthole.EINVALID, "until must be RFC 3339 or YYYY-MM-DD")
	}
	if _, err := s.audit.Log.Append(r.Context(), audit.Entry{
		OrgID: p.OrgID(), Actor: auditActor(p), Action: audit.ActionExport, Target: "audit:" + p.OrgID(),
		Reason: r.Method + " " + r.URL.Path, Payload: audit.Payload(map[string]string{"since": q.Get("since"), "until": q.Get("until")}),
	}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="porthole-audit-%s.jsonl"`, p.OrgID()))
	// A large log takes a while: lift the server's write deadline for this response.
	_ = http.NewResponseController(w).SetWriteDeadline(noDeadline)
	if _, err := audit.Export(r.Context(), s.audit.Store, s.audit.Checkpointer, req, w); err != nil {
		httpx.Logger(r.Context()).Error("audit export failed mid-stream", "err", err)
		return nil // the body has started; the truncated bundle fails verification
	}
	return nil
}

// auditEntryView is an audit entry as the API shows it.
type auditEntryView struct {
	Seq            int64  `json:"seq"`
	Time           string `json:"time"`
	ActorKind      string `json:"actor_kind"`
	ActorID        string `json:"actor_id,omitempty"`
	ConversationID string `json:"conversation_id,omitempty"`
	Action         string `json:"action"`
	Target         string `json:"target"`
	Reason         string `json:"reason"`
	Payload        any    `json:"payload,omitempty"`
	Purged         bool   `json:"purged"`
}

func viewEntries(list []audit.Entry) []auditEntryView {
	out := make([]auditEntryView, 0, len(list))
	for _, e := range list {
		v := auditEntryView{Seq: e.Seq, Time: e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), ActorKind: string(e.Actor.Kind),
			ActorID: e.Actor.ID, ConversationID: e.ConversationID, Action: e.Action, Target: e.Target, Reason: e.Reason, Purged: e.Purged}
		if len(e.Payload) > 0 && string(e.Payload) != "null" {
			v.Payload = rawJSON(e.Payload)
		}
		out = append(out, v)
	}
	return out
}

func (s *Server) listAuditEntries(w http.ResponseWriter, r *http.Request, p Principal) error {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return porthole.Errorf(porthole.EINVALID, "limit must be a whole number from 1 to 1000")
		}
		limit = n
	}
	list, err := s.tenant(p).AuditEntries(r.Context(), limit)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"entries": viewEntries(list)})
}

// conversationTimeline is the replay of one conversation: every recorded
// decision about it, in order.
func (s *Server) conversationTimeline(w http.ResponseWriter, r *http.Request, p Principal) error {
	// Another tenant's conversation, or none, is 404 before anything else.
	if _, err := s.tenant(p).Conversation(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	list, err := s.tenant(p).ConversationTimeline(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"conversation_id": r.PathValue("id"), "timeline": viewEntries(list)})
}
