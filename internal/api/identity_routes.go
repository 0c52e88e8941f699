package api

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// rotateIdentitySecret makes a new identity secret for a chatbot and shows
// it once. The business's backend signs its users with it (hex
// HMAC-SHA256 of the user id, keyed with the secret as text) so the widget
// can pass a verified identity. The secret is stored sealed; the previous
// one stops working at once.
func (s *Server) rotateIdentitySecret(w http.ResponseWriter, r *http.Request, p Principal) error {
	if s.chat == nil {
		return porthole.Errorf(porthole.EUNAVAILABLE, "conversations are not configured")
	}
	id := r.PathValue("id")
	if err := s.checkChatbot(r.Context(), p, id, auth.WriteAccess); err != nil {
		return err
	}
	if _, err := s.tenant(p).Chatbot(r.Context(), id); err != nil {
		return err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return err
	}
	secret := hex.EncodeToString(raw[:])
	if err := s.chat.SetIdentitySecret(r.Context(), p.OrgID(), id, []byte(secret)); err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]string{
		"identity_secret": secret,
		"note":            "shown once; sign each user as hex(HMAC-SHA256(key=identity_secret, message=user_id)) and pass data-user-id and data-user-hash on the install snippet",
	})
}

// removeIdentitySecret turns verified identities off for a chatbot.
func (s *Server) removeIdentitySecret(w http.ResponseWriter, r *http.Request, p Principal) error {
	if s.chat == nil {
		return porthole.Errorf(porthole.EUNAVAILABLE, "conversations are not configured")
	}
	id := r.PathValue("id")
	if err := s.checkChatbot(r.Context(), p, id, auth.WriteAccess); err != nil {
		return err
	}
	tn := s.tenant(p)
	settings, err := tn.WidgetSettings(r.Context(), id)
	if err != nil {
		return err
	}
	settings.IdentitySecret = nil
	if _, err := tn.PutWidgetSettings(r.Context(), settings); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
