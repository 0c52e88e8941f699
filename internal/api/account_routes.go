package api

import (
	"net/http"
	"time"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// Account handlers (issue 3): sign-in, sessions, passwords, invitations,
// members, grants and API keys. Their rows are in routes.go; the logic is in
// internal/auth. Routes about the caller's own account need auth.PermSelf
// (any signed-in person); GET /me needs auth.PermAny (any principal).

// accounts returns the account service, or EUNAVAILABLE when the server was
// built without one.
func (s *Server) accounts() (*auth.Service, error) {
	if svc := s.accountService(); svc != nil {
		return svc, nil
	}
	return nil, porthole.Errorf(porthole.EUNAVAILABLE, "accounts are not configured")
}

// tokenResponse is the body of sign-in and token answers.
type tokenResponse struct {
	AccessToken    string         `json:"access_token"`
	TokenType      string         `json:"token_type"`
	ExpiresIn      int            `json:"expires_in"`
	User           *porthole.User `json:"user,omitempty"`
	OrganizationID string         `json:"organization_id,omitempty"`
}

// setSessionCookie gives the client its new session cookie: HttpOnly,
// SameSite=Lax, Path=/, Secure (and __Host-) when the public URL is https.
func setSessionCookie(w http.ResponseWriter, svc *auth.Service, res auth.SessionResult) {
	http.SetCookie(w, &http.Cookie{
		Name: svc.CookieName(), Value: res.Token, Path: "/",
		MaxAge:   int(svc.Config().SessionLifetime / time.Second),
		HttpOnly: true, Secure: svc.SecureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

func clearSessionCookie(w http.ResponseWriter, svc *auth.Service) {
	http.SetCookie(w, &http.Cookie{
		Name: svc.CookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: svc.SecureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

func writeSession(w http.ResponseWriter, svc *auth.Service, res auth.SessionResult) error {
	setSessionCookie(w, svc, res)
	u := res.User
	return httpx.WriteJSON(w, http.StatusOK, tokenResponse{
		AccessToken: res.AccessToken, TokenType: "Bearer", ExpiresIn: int(res.ExpiresIn / time.Second),
		User: &u, OrganizationID: res.Session.OrgID,
	})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, _ Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	var body struct {
		Email          string `json:"email"`
		Password       string `json:"password"`
		OrganizationID string `json:"organization_id"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	res, err := svc.Login(r.Context(), auth.LoginInput{Email: body.Email, Password: body.Password, OrgID: body.OrganizationID, Client: clientOf(r)})
	if err != nil {
		return err
	}
	return writeSession(w, svc, res)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	if err := svc.Logout(r.Context(), authPrincipal(p)); err != nil {
		return err
	}
	clearSessionCookie(w, svc)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) refreshToken(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	ap := authPrincipal(p)
	tok, ttl, err := svc.IssueAccessToken(r.Context(), ap)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second), OrganizationID: ap.Org})
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	var body struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	res, err := svc.ChangePassword(r.Context(), authPrincipal(p), body.CurrentPassword, body.NewPassword, clientOf(r))
	if err != nil {
		return err
	}
	return writeSession(w, svc, res)
}

// resetRequested is the one answer to a reset request, whether or not the
// address has an account.
var resetRequested = map[string]string{"status": "If the address belongs to an account, a reset link is on its way."}

func (s *Server) requestPasswordReset(w http.ResponseWriter, r *http.Request, _ Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	var body struct {
		Email string `json:"email"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	if err := svc.RequestPasswordReset(r.Context(), body.Email, clientOf(r)); err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusAccepted, resetRequested)
}

func (s *Server) confirmPasswordReset(w http.ResponseWriter, r *http.Request, _ Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	var body struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	if err := svc.ConfirmPasswordReset(r.Context(), body.Token, body.Password, clientOf(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request, _ Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	var body struct {
		Token    string `json:"token"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	res, err := svc.AcceptInvitation(r.Context(), body.Token, body.Name, body.Password, clientOf(r))
	if err != nil {
		return err
	}
	return writeSession(w, svc, res)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	me, err := svc.Me(r.Context(), authPrincipal(p))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, me)
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	list, err := svc.Sessions(r.Context(), authPrincipal(p))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"sessions": list})
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	if err := svc.RevokeSession(r.Context(), authPrincipal(p), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listInvitations(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	list, err := svc.Invitations(r.Context(), authPrincipal(p))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"invitations": list})
}

func (s *Server) invite(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	var body struct {
		Email string        `json:"email"`
		Role  porthole.Role `json:"role"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	res, err := svc.Invite(r.Context(), authPrincipal(p), body.Email, body.Role)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusCreated, res)
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	list, err := svc.Members(r.Context(), authPrincipal(p))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"members": list})
}

func (s *Server) updateMember(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	var body struct {
		Role porthole.Role `json:"role"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	m, err := svc.SetMemberRole(r.Context(), authPrincipal(p), r.PathValue("user_id"), body.Role)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, m)
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	if err := svc.RemoveMember(r.Context(), authPrincipal(p), r.PathValue("user_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) putChatbotGrant(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	var body struct {
		Access string `json:"access"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	access, ok := auth.ParseAccess(body.Access)
	if !ok || body.Access == "" {
		return porthole.Errorf(porthole.EINVALID, "access must be read, write or none")
	}
	chatbotID, userID := r.PathValue("id"), r.PathValue("user_id")
	if err := svc.SetChatbotGrant(r.Context(), authPrincipal(p), chatbotID, userID, access); err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]string{"chatbot_id": chatbotID, "user_id": userID, "access": access.String()})
}

func (s *Server) putConversationSharing(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	var body struct {
		Policy string `json:"conversation_sharing"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	chatbotID := r.PathValue("id")
	if err := svc.SetConversationSharing(r.Context(), authPrincipal(p), chatbotID, body.Policy); err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]string{"chatbot_id": chatbotID, "conversation_sharing": body.Policy})
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	list, err := svc.APIKeys(r.Context(), authPrincipal(p))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"api_keys": list})
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	var body struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	res, err := svc.CreateAPIKey(r.Context(), authPrincipal(p), body.Name, body.Scopes)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusCreated, res)
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.accounts()
	if err != nil {
		return err
	}
	if err := svc.RevokeAPIKey(r.Context(), authPrincipal(p), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
