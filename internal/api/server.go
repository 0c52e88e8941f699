package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Handler is an API handler: it runs after authentication and the route's
// permission check, with the caller's principal (nil on public routes).
type Handler func(w http.ResponseWriter, r *http.Request, p Principal) error

// Route is one row of the route table.
type Route struct {
	Method string
	Path   string // a net/http pattern path, e.g. /api/v1/chatbots/{id}
	// Permission is what the caller must hold; "" marks a public route.
	Permission string
	Handler    Handler
}

// Server serves /api/v1.
type Server struct {
	db       *store.DB
	authn    Authenticator
	recorder porthole.SecurityRecorder
	extra    []Route
	audit    *AuditDeps
	chat     *chat.Service // issue 5: conversation routes (WithConversations)
	// assistant and knowledge (issue 4): nil until WithAssistant
	assistant *AssistantDeps
	preview   Previewer // issue 4: the assistant preview route (WithPreview)
}

// NewServer returns the API server. extra routes (from other surfaces, such
// as accounts) join the one table.
func NewServer(db *store.DB, authn Authenticator, recorder porthole.SecurityRecorder, extra ...Route) *Server {
	return &Server{db: db, authn: authn, recorder: recorder, extra: extra}
}

// AllRoutes returns the whole route table.
func (s *Server) AllRoutes() []Route {
	return append(s.routes(), s.extra...)
}

// Register mounts every route on mux, each behind authentication and its
// permission check.
func (s *Server) Register(mux *http.ServeMux) {
	for _, rt := range s.AllRoutes() {
		mux.Handle(rt.Method+" "+rt.Path, s.guard(rt))
	}
	// Anything else under /api/v1 answers in the API's own envelope.
	mux.Handle("/api/v1/", httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return porthole.Errorf(porthole.ENOTFOUND, "no such API route")
	}))
}

// guard authenticates the caller and checks the route's permission. A
// missing permission is 403 and a security event; bad credentials are 401
// and a security event.
func (s *Server) guard(rt Route) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		if rt.Permission == "" {
			return rt.Handler(w, r, nil)
		}
		p, err := s.authn.Authenticate(r)
		if err != nil {
			if porthole.IsCode(err, porthole.EUNAUTHORIZED) {
				s.event(r, "", porthole.SecAuthenticationFailed, porthole.ErrorMessage(err), "")
			}
			return err
		}
		if p == nil {
			return porthole.Errorf(porthole.EUNAUTHORIZED, "authentication required")
		}
		if !p.Can(rt.Permission) {
			s.event(r, p.OrgID(), porthole.SecAuthorizationFailed, "missing permission "+rt.Permission+" for "+rt.Method+" "+rt.Path, p.Actor())
			return porthole.Errorf(porthole.EFORBIDDEN, "missing permission %s", rt.Permission)
		}
		ctx := WithPrincipal(r.Context(), p)
		// Every change the store makes for this request is recorded in the
		// Wake as this principal's, with the route as the reason.
		ctx = audit.WithActor(ctx, auditActor(p), rt.Method+" "+rt.Path)
		return rt.Handler(w, r.WithContext(ctx), p)
	})
}

func (s *Server) event(r *http.Request, orgID, kind, detail, actor string) {
	ip := ""
	if a := httpx.ClientIP(r.Context()); a.IsValid() {
		ip = a.String()
	}
	s.recorder.RecordSecurityEvent(r.Context(), porthole.SecurityEvent{
		OrgID: orgID, Kind: kind, Actor: actor, IP: ip, RequestID: httpx.RequestID(r.Context()), Detail: detail,
	})
}

// tenant returns the store handle bound to the caller's organization.
func (s *Server) tenant(p Principal) *store.Tenant { return s.db.Tenant(p.OrgID()) }

// noDeadline lifts a write deadline.
var noDeadline time.Time

// rawJSON embeds stored JSON as is in a response.
func rawJSON(b []byte) json.RawMessage { return json.RawMessage(b) }
