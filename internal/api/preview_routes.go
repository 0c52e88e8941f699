package api

import (
	"context"
	"net/http"

	"github.com/porthole-chat/porthole/internal/assistant"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// Previewer answers what the assistant would reply, storing nothing;
// *assistant.Engine is one.
type Previewer interface {
	Preview(ctx context.Context, orgID, chatbotID, message string, emit func(text string)) (assistant.PreviewResult, error)
}

// WithPreview gives the server the assistant's preview; without it the
// preview route answers 503. It is set apart from WithAssistant because
// the engine is built with the chat service, after the API.
func (s *Server) WithPreview(p Previewer) *Server {
	s.preview = p
	return s
}

type previewBody struct {
	Message string `json:"message"`
}

// previewAssistant answers {"message"} with the reply the chatbot's
// assistant would give, its citations, the passages it was given and the
// tool calls it made (those that change data are reported, not run).
func (s *Server) previewAssistant(w http.ResponseWriter, r *http.Request, p Principal) error {
	id := r.PathValue("id")
	if err := s.checkChatbotArea(r.Context(), p, id, "chatbots", auth.ReadAccess); err != nil {
		return err
	}
	if s.preview == nil {
		return porthole.Errorf(porthole.EUNAVAILABLE, "the assistant preview is not available")
	}
	var body previewBody
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	res, err := s.preview.Preview(r.Context(), p.OrgID(), id, body.Message, nil)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, res)
}
