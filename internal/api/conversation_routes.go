package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Conversation handlers (issue 5): the agent inbox, transcripts and
// analytics. Their rows are in routes.go ("conversations (issue 5)"); the
// logic, including grants and sharing policy, is in internal/chat
// (inbox.go, transcripts.go). Supervisor routes need supervision:write.

// WithConversations gives the server the conversation service; without it
// the conversation routes answer 503.
func (s *Server) WithConversations(svc *chat.Service) *Server {
	s.chat = svc
	return s
}

func (s *Server) conversations() (*chat.Service, error) {
	if s.chat == nil {
		return nil, porthole.Errorf(porthole.EUNAVAILABLE, "conversations are not configured")
	}
	return s.chat, nil
}

// actionBody is the body of the agent actions.
type actionBody struct {
	Reason  string `json:"reason"`
	Version int64  `json:"version"`
}

// decodeAction reads an optional action body (an empty body is fine).
func decodeAction(r *http.Request) (chat.ActionInput, error) {
	var body actionBody
	if r.ContentLength != 0 {
		if err := httpx.DecodeJSON(r, &body); err != nil {
			return chat.ActionInput{}, err
		}
	}
	if len(body.Reason) > 1000 {
		return chat.ActionInput{}, porthole.Errorf(porthole.EINVALID, "reason is at most 1000 bytes")
	}
	return chat.ActionInput{Reason: body.Reason, Version: body.Version}, nil
}

func (s *Server) listConversations(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.conversations()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.InboxFilter{State: q.Get("state"), ChatbotID: q.Get("chatbot_id"), ContactID: q.Get("contact_id")}
	if f.Limit, f.Before, err = pageParams(q); err != nil {
		return err
	}
	list, err := svc.Conversations(r.Context(), authPrincipal(p), f)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"conversations": nonNil(list)})
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.conversations()
	if err != nil {
		return err
	}
	var after int64
	if v := r.URL.Query().Get("after_seq"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return porthole.Errorf(porthole.EINVALID, "after_seq must be a whole number")
		}
	}
	d, err := svc.Conversation(r.Context(), authPrincipal(p), r.PathValue("id"), after)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, d)
}

// handlingAction adapts a handling change of the service to a route.
func (s *Server) handlingAction(act func(svc *chat.Service, r *http.Request, p Principal, in chat.ActionInput) (store.InboxConversation, error)) Handler {
	return func(w http.ResponseWriter, r *http.Request, p Principal) error {
		svc, err := s.conversations()
		if err != nil {
			return err
		}
		in, err := decodeAction(r)
		if err != nil {
			return err
		}
		c, err := act(svc, r, p, in)
		if err != nil {
			return err
		}
		return httpx.WriteJSON(w, http.StatusOK, c)
	}
}

func (s *Server) takeOverConversation() Handler {
	return s.handlingAction(func(svc *chat.Service, r *http.Request, p Principal, in chat.ActionInput) (store.InboxConversation, error) {
		return svc.TakeOver(r.Context(), authPrincipal(p), r.PathValue("id"), in)
	})
}

func (s *Server) supervisorTakeOver() Handler {
	return s.handlingAction(func(svc *chat.Service, r *http.Request, p Principal, in chat.ActionInput) (store.InboxConversation, error) {
		return svc.SupervisorTakeOver(r.Context(), authPrincipal(p), r.PathValue("id"), in)
	})
}

func (s *Server) releaseConversation() Handler {
	return s.handlingAction(func(svc *chat.Service, r *http.Request, p Principal, in chat.ActionInput) (store.InboxConversation, error) {
		return svc.Release(r.Context(), authPrincipal(p), r.PathValue("id"), in)
	})
}

func (s *Server) closeConversation() Handler {
	return s.handlingAction(func(svc *chat.Service, r *http.Request, p Principal, in chat.ActionInput) (store.InboxConversation, error) {
		return svc.Close(r.Context(), authPrincipal(p), r.PathValue("id"), in)
	})
}

func (s *Server) reopenConversation() Handler {
	return s.handlingAction(func(svc *chat.Service, r *http.Request, p Principal, in chat.ActionInput) (store.InboxConversation, error) {
		return svc.Reopen(r.Context(), authPrincipal(p), r.PathValue("id"), in)
	})
}

func (s *Server) reassignConversation(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.conversations()
	if err != nil {
		return err
	}
	var body struct {
		UserID  string `json:"user_id"`
		Reason  string `json:"reason"`
		Version int64  `json:"version"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	c, err := svc.Reassign(r.Context(), authPrincipal(p), r.PathValue("id"), body.UserID, chat.ActionInput{Reason: body.Reason, Version: body.Version})
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, c)
}

func (s *Server) replyConversation(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.conversations()
	if err != nil {
		return err
	}
	var body struct {
		Text     string `json:"text"`
		ClientID string `json:"client_id"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	f, err := svc.Reply(r.Context(), authPrincipal(p), r.PathValue("id"), body.Text, body.ClientID)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusCreated, f)
}

func (s *Server) addConversationNote(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.conversations()
	if err != nil {
		return err
	}
	var body struct {
		Text string `json:"text"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	n, err := svc.AddNote(r.Context(), authPrincipal(p), r.PathValue("id"), body.Text)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusCreated, n)
}

func (s *Server) putLegalHold(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.conversations()
	if err != nil {
		return err
	}
	var body struct {
		Hold   bool   `json:"hold"`
		Reason string `json:"reason"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	if err := svc.SetLegalHold(r.Context(), authPrincipal(p), r.PathValue("id"), body.Hold, body.Reason); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// exportConversation and exportConversations write transcripts; the export
// is recorded before the body starts.
func (s *Server) exportConversation(w http.ResponseWriter, r *http.Request, p Principal) error {
	return s.writeExport(w, r, p, chat.ExportQuery{ConversationID: r.PathValue("id")})
}

func (s *Server) exportConversations(w http.ResponseWriter, r *http.Request, p Principal) error {
	q := r.URL.Query()
	since, err := audit.ParseTimeFlag(q.Get("since"))
	if err != nil || since.IsZero() {
		return porthole.Errorf(porthole.EINVALID, "since must be RFC 3339 or YYYY-MM-DD")
	}
	until, err := audit.ParseTimeFlag(q.Get("until"))
	if err != nil || until.IsZero() {
		return porthole.Errorf(porthole.EINVALID, "until must be RFC 3339 or YYYY-MM-DD")
	}
	return s.writeExport(w, r, p, chat.ExportQuery{ChatbotID: q.Get("chatbot_id"), Since: since, Until: until})
}

func (s *Server) writeExport(w http.ResponseWriter, r *http.Request, p Principal, q chat.ExportQuery) error {
	svc, err := s.conversations()
	if err != nil {
		return err
	}
	q.Format = r.URL.Query().Get("format")
	if q.Format == "" {
		q.Format = chat.FormatJSON
	}
	q.IncludeNotes = r.URL.Query().Get("include_notes") == "true"
	// Buffer: an authorization failure must answer with its status, not a half body.
	var buf bufferWriter
	if _, err := svc.ExportTranscripts(r.Context(), authPrincipal(p), q, &buf); err != nil {
		return err
	}
	ct := "application/json"
	if q.Format == chat.FormatCSV {
		ct = "text/csv; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="porthole-transcripts-%s.%s"`, time.Now().UTC().Format("20060102T150405Z"), q.Format))
	_, err = w.Write(buf.b)
	return err
}

type bufferWriter struct{ b []byte }

func (b *bufferWriter) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }

func (s *Server) conversationAnalytics(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.conversations()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	until := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	since := until.Add(-30 * 24 * time.Hour)
	if v := q.Get("since"); v != "" {
		if since, err = audit.ParseTimeFlag(v); err != nil {
			return porthole.Errorf(porthole.EINVALID, "since must be RFC 3339 or YYYY-MM-DD")
		}
	}
	if v := q.Get("until"); v != "" {
		if until, err = audit.ParseTimeFlag(v); err != nil {
			return porthole.Errorf(porthole.EINVALID, "until must be RFC 3339 or YYYY-MM-DD")
		}
	}
	rows, err := svc.Analytics(r.Context(), authPrincipal(p), since, until)
	if err != nil {
		return err
	}
	if bot := q.Get("chatbot_id"); bot != "" {
		kept := rows[:0]
		for _, row := range rows {
			if row.ChatbotID == bot {
				kept = append(kept, row)
			}
		}
		rows = kept
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"since": since, "until": until, "rows": nonNil(rows)})
}
