package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/porthole-chat/porthole/docs"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
)

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request, _ Principal) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, err := w.Write(docs.OpenAPI)
	return err
}

type nameBody struct {
	Name string `json:"name"`
}

func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request, p Principal) error {
	org, err := s.tenant(p).Organization(r.Context())
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, org)
}

func (s *Server) updateOrganization(w http.ResponseWriter, r *http.Request, p Principal) error {
	var body nameBody
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	if err := s.tenant(p).RenameOrganization(r.Context(), body.Name); err != nil {
		return err
	}
	return s.getOrganization(w, r, p)
}

func (s *Server) listChatbots(w http.ResponseWriter, r *http.Request, p Principal) error {
	list, err := s.tenant(p).Chatbots(r.Context())
	if err != nil {
		return err
	}
	if svc := s.accountService(); svc != nil {
		if list, err = svc.VisibleChatbots(r.Context(), authPrincipal(p), list); err != nil {
			return err
		}
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"chatbots": nonNil(list)})
}

func (s *Server) createChatbot(w http.ResponseWriter, r *http.Request, p Principal) error {
	var body nameBody
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	c, err := s.tenant(p).CreateChatbot(r.Context(), body.Name)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusCreated, c)
}

func (s *Server) getChatbot(w http.ResponseWriter, r *http.Request, p Principal) error {
	if err := s.checkChatbot(r.Context(), p, r.PathValue("id"), auth.ReadAccess); err != nil {
		return err
	}
	c, err := s.tenant(p).Chatbot(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, c)
}

func (s *Server) updateChatbot(w http.ResponseWriter, r *http.Request, p Principal) error {
	var body nameBody
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	if err := s.checkChatbot(r.Context(), p, r.PathValue("id"), auth.WriteAccess); err != nil {
		return err
	}
	c, err := s.tenant(p).RenameChatbot(r.Context(), r.PathValue("id"), body.Name)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, c)
}

func (s *Server) deleteChatbot(w http.ResponseWriter, r *http.Request, p Principal) error {
	if err := s.checkChatbot(r.Context(), p, r.PathValue("id"), auth.WriteAccess); err != nil {
		return err
	}
	if err := s.tenant(p).DeleteChatbot(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listOrigins(w http.ResponseWriter, r *http.Request, p Principal) error {
	list, err := s.tenant(p).Origins(r.Context())
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"origins": nonNil(list)})
}

func (s *Server) addOrigin(w http.ResponseWriter, r *http.Request, p Principal) error {
	var body struct {
		Origin string `json:"origin"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	o, err := s.tenant(p).AddOrigin(r.Context(), body.Origin)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusCreated, o)
}

func (s *Server) removeOrigin(w http.ResponseWriter, r *http.Request, p Principal) error {
	if err := s.tenant(p).RemoveOrigin(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, p Principal) error {
	st, err := s.tenant(p).Settings(r.Context())
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, st)
}

func (s *Server) putSettings(w http.ResponseWriter, r *http.Request, p Principal) error {
	var body struct {
		MessageRetentionDays      int            `json:"message_retention_days"`
		AuditPayloadRetentionDays int            `json:"audit_payload_retention_days"`
		ChannelRetentionDays      map[string]int `json:"channel_retention_days"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	st, err := s.tenant(p).UpdateSettings(r.Context(), porthole.Settings{
		MessageRetentionDays:      body.MessageRetentionDays,
		AuditPayloadRetentionDays: body.AuditPayloadRetentionDays,
		ChannelRetentionDays:      body.ChannelRetentionDays,
	})
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, st)
}

func (s *Server) listSecurityEvents(w http.ResponseWriter, r *http.Request, p Principal) error {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return porthole.Errorf(porthole.EINVALID, "limit must be a whole number from 1 to 1000")
		}
		limit = n
	}
	list, err := s.tenant(p).SecurityEvents(r.Context(), limit)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"security_events": nonNil(list)})
}

// checkChatbot applies per-chatbot grants: a chatbot an agent or viewer was
// not granted is as invisible as another tenant's (404); one they may read
// but not change answers 403 to a change.
func (s *Server) checkChatbot(ctx context.Context, p Principal, id string, need auth.Access) error {
	svc := s.accountService()
	if svc == nil {
		return nil
	}
	ap := authPrincipal(p)
	grant, err := svc.ChatbotGrant(ctx, ap, id)
	if err != nil {
		return err
	}
	access := ap.ChatbotAccess("chatbots", grant)
	if access < auth.ReadAccess {
		return porthole.Errorf(porthole.ENOTFOUND, "chatbot not found")
	}
	if access < need {
		return porthole.Errorf(porthole.EFORBIDDEN, "no write access to this chatbot")
	}
	return nil
}

// pageParams reads the paging parameters of list routes: limit (1 to 500,
// 0 when absent: the store's default) and before (unix milliseconds, 0 for
// the newest page).
func pageParams(q url.Values) (limit int, before int64, err error) {
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			return 0, 0, porthole.Errorf(porthole.EINVALID, "limit must be a whole number from 1 to 500")
		}
	}
	if v := q.Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 0 {
			return 0, 0, porthole.Errorf(porthole.EINVALID, "before must be unix milliseconds")
		}
	}
	return limit, before, nil
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
