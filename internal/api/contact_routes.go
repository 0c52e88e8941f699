package api

import (
	"net/http"

	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Contact handlers (issue 5): list and read contacts, merge two by hand and
// undo a merge. Their rows are in routes.go ("contacts (issue 5)"); the
// logic, visibility and the security events for another organization's ids
// are in internal/chat (contacts.go).

func (s *Server) listContacts(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.conversations()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.ContactFilter{Query: q.Get("q")}
	if f.Limit, f.Before, err = pageParams(q); err != nil {
		return err
	}
	list, err := svc.Contacts(r.Context(), authPrincipal(p), f)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"contacts": nonNil(list)})
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.conversations()
	if err != nil {
		return err
	}
	c, err := svc.Contact(r.Context(), authPrincipal(p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, c)
}

func (s *Server) mergeContacts(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.conversations()
	if err != nil {
		return err
	}
	var body struct {
		Into   string `json:"into"`
		From   string `json:"from"`
		Reason string `json:"reason"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.Into == "" || body.From == "" {
		return porthole.Errorf(porthole.EINVALID, "into and from are required contact ids")
	}
	if len(body.Reason) > 1000 {
		return porthole.Errorf(porthole.EINVALID, "reason is at most 1000 bytes")
	}
	m, err := svc.MergeContacts(r.Context(), authPrincipal(p), body.Into, body.From, body.Reason)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusCreated, m)
}

func (s *Server) undoContactMerge(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, err := s.conversations()
	if err != nil {
		return err
	}
	in, err := decodeAction(r) // {"reason"}; an empty body is fine
	if err != nil {
		return err
	}
	m, err := svc.UndoContactMerge(r.Context(), authPrincipal(p), r.PathValue("id"), in.Reason)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, m)
}
