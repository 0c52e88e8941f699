package api

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/knowledge"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// UploadRoutePattern is the one API route whose body may be larger than
// the global request cap; the app exempts it from that cap and the handler
// applies its own (UploadBodyBytes).
const UploadRoutePattern = "POST /api/v1/chatbots/{id}/knowledge/uploads"

// knowledgeNamespace checks the caller's access to a chatbot's knowledge
// base and returns its namespace.
func (s *Server) knowledgeNamespace(r *http.Request, p Principal, need auth.Access) (*knowledge.Service, knowledge.Namespace, error) {
	deps, err := s.assistantDeps()
	if err != nil {
		return nil, knowledge.Namespace{}, err
	}
	id := r.PathValue("id")
	if err := s.checkChatbotArea(r.Context(), p, id, "knowledge", need); err != nil {
		return nil, knowledge.Namespace{}, err
	}
	return deps.Knowledge, knowledge.Namespace{OrgID: p.OrgID(), ChatbotID: id}, nil
}

func (s *Server) listKnowledgeSources(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, ns, err := s.knowledgeNamespace(r, p, auth.ReadAccess)
	if err != nil {
		return err
	}
	list, err := svc.Sources(r.Context(), ns)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"sources": nonNil(list)})
}

// addKnowledgeSource queues a single-page import ({"url"}) or a sitemap
// crawl ({"sitemap", "max_pages"}). The page is fetched later by the
// worker through the SSRF-safe client; a refused address fails the source
// and is a security event.
func (s *Server) addKnowledgeSource(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, ns, err := s.knowledgeNamespace(r, p, auth.WriteAccess)
	if err != nil {
		return err
	}
	var body struct {
		URL      string `json:"url"`
		Sitemap  string `json:"sitemap"`
		MaxPages int    `json:"max_pages"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	var src store.KnowledgeSource
	switch {
	case body.URL != "" && body.Sitemap == "" && body.MaxPages == 0:
		src, err = svc.AddURL(r.Context(), ns, body.URL)
	case body.Sitemap != "" && body.URL == "":
		if body.MaxPages < 0 {
			return porthole.Errorf(porthole.EINVALID, "max_pages must not be negative")
		}
		src, err = svc.AddSitemap(r.Context(), ns, body.Sitemap, body.MaxPages)
	default:
		return porthole.Errorf(porthole.EINVALID, `give either "url", or "sitemap" with an optional "max_pages"`)
	}
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusCreated, src)
}

// uploadKnowledge takes one file as multipart/form-data (field "file", and
// optionally "kind": text, markdown, html or pdf; otherwise the kind comes
// from the file name's extension). The knowledge service checks that the
// bytes really are of that kind; a "PDF" that is HTML or an executable is
// refused (400) and recorded as a rejected_upload security event.
func (s *Server) uploadKnowledge(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, ns, err := s.knowledgeNamespace(r, p, auth.WriteAccess)
	if err != nil {
		return err
	}
	limit := s.assistant.MaxUploadBytes
	// This route is exempt from the global body cap; this is its own.
	if r.ContentLength > UploadBodyBytes(limit) {
		return porthole.Errorf(porthole.ETOOLARGE, "the file is larger than %d MB", limit>>20)
	}
	r.Body = http.MaxBytesReader(w, r.Body, UploadBodyBytes(limit))
	up, err := readUpload(r, limit)
	if err != nil {
		return err
	}
	src, err := svc.AddUpload(r.Context(), ns, up)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusCreated, src)
}

// readUpload reads the "file" part (at most limit bytes) and the optional
// "kind" part of a multipart upload.
func readUpload(r *http.Request, limit int64) (knowledge.Upload, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return knowledge.Upload{}, porthole.Errorf(porthole.EINVALID, "send the file as multipart/form-data in the field \"file\"")
	}
	var up knowledge.Upload
	var haveFile bool
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return knowledge.Upload{}, uploadReadError(err, limit)
		}
		switch part.FormName() {
		case "file":
			if haveFile {
				return knowledge.Upload{}, porthole.Errorf(porthole.EINVALID, "send one file per upload")
			}
			haveFile = true
			up.Name = knowledge.UploadName(part.FileName())
			if up.Data, err = io.ReadAll(io.LimitReader(part, limit+1)); err != nil {
				return knowledge.Upload{}, uploadReadError(err, limit)
			}
			if int64(len(up.Data)) > limit {
				return knowledge.Upload{}, porthole.Errorf(porthole.ETOOLARGE, "the file is larger than %d MB", limit>>20)
			}
		case "kind":
			b, err := io.ReadAll(io.LimitReader(part, 32))
			if err != nil {
				return knowledge.Upload{}, uploadReadError(err, limit)
			}
			up.Kind = strings.TrimSpace(string(b))
		default:
			return knowledge.Upload{}, porthole.Errorf(porthole.EINVALID, "unknown form field %q", knowledge.TruncateUTF8(part.FormName(), 40))
		}
	}
	if !haveFile {
		return knowledge.Upload{}, porthole.Errorf(porthole.EINVALID, "the form has no \"file\"")
	}
	if up.Kind == "" {
		up.Kind = knowledge.UploadKind(up.Name)
	}
	if up.Kind == "" {
		return knowledge.Upload{}, porthole.Errorf(porthole.EINVALID, "name the file .txt, .md, .html or .pdf, or give its kind")
	}
	return up, nil
}

func uploadReadError(err error, limit int64) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return porthole.Errorf(porthole.ETOOLARGE, "the file is larger than %d MB", limit>>20)
	}
	return porthole.WrapError(porthole.EINVALID, err, "the upload could not be read")
}

func (s *Server) getKnowledgeSource(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, ns, err := s.knowledgeNamespace(r, p, auth.ReadAccess)
	if err != nil {
		return err
	}
	src, err := svc.Source(r.Context(), ns, r.PathValue("source_id"))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, src)
}

func (s *Server) deleteKnowledgeSource(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, ns, err := s.knowledgeNamespace(r, p, auth.WriteAccess)
	if err != nil {
		return err
	}
	if err := svc.Delete(r.Context(), ns, r.PathValue("source_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) reimportKnowledgeSource(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, ns, err := s.knowledgeNamespace(r, p, auth.WriteAccess)
	if err != nil {
		return err
	}
	id := r.PathValue("source_id")
	if err := svc.Reimport(r.Context(), ns, id); err != nil {
		return err
	}
	src, err := svc.Source(r.Context(), ns, id)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusAccepted, src)
}

// Limits of GET .../knowledge/search.
const (
	maxSearchQueryBytes = 1000
	defaultSearchK      = 5
	maxSearchK          = 20
)

// searchKnowledge returns the passages the assistant would retrieve for q:
// a preview and debugging aid, within the chatbot's own namespace.
func (s *Server) searchKnowledge(w http.ResponseWriter, r *http.Request, p Principal) error {
	svc, ns, err := s.knowledgeNamespace(r, p, auth.ReadAccess)
	if err != nil {
		return err
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" || len(q) > maxSearchQueryBytes || !utf8.ValidString(q) {
		return porthole.Errorf(porthole.EINVALID, "q must be 1 to %d bytes of text", maxSearchQueryBytes)
	}
	k := defaultSearchK
	if v := r.URL.Query().Get("k"); v != "" {
		if k, err = strconv.Atoi(v); err != nil || k < 1 || k > maxSearchK {
			return porthole.Errorf(porthole.EINVALID, "k must be a whole number from 1 to %d", maxSearchK)
		}
	}
	passages, err := svc.Search(r.Context(), ns, q, k)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"passages": nonNil(passages)})
}
