package dashboard

import (
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/microcosm-cc/bluemonday"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/knowledge"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// BasePath is where the dashboard is mounted.
const BasePath = "/app/"

// formLimitPerIP bounds the unauthenticated form posts (sign-in, password
// reset, invitation acceptance) per client IP, on top of the auth service's
// own per-email and per-IP lockout.
var formLimitPerIP = porthole.Limit{N: 30, Window: time.Minute}

// Deps are what the dashboard needs from the rest of Porthole.
type Deps struct {
	DB       *store.DB
	Auth     *auth.Service
	Security porthole.SecurityRecorder // nil records nothing
	Limiter  porthole.Limiter          // nil disables the per-IP form limit
	// PublicURL is Porthole's public URL: the origin of the install
	// snippet and of the CSP directives a host page needs.
	PublicURL string
	Logger    *slog.Logger
	// AuditLog, AuditStore and Checkpointer are the Wake's parts the audit
	// export needs; without all three the audit pages still list entries
	// and the export answers 503.
	AuditLog     *audit.Log
	AuditStore   audit.Store
	Checkpointer *audit.Checkpointer
	// Assistant and knowledge (issue 4): the knowledge pages answer 503
	// without Knowledge; Sealer seals provider keys and tool secrets.
	Knowledge      *knowledge.Service
	Sealer         Sealer
	MaxUploadBytes int64 // one knowledge file; knowledge.DefaultMaxUploadBytes when 0
	// Preview answers the Preview page's reply preview; without it the
	// page previews retrieval only.
	Preview Previewer
	// Chat is the conversation service behind the inbox, exports and
	// analytics (issue 5); those pages answer 503 without it.
	Chat *chat.Service
}

// Dashboard serves the pages under BasePath.
type Dashboard struct {
	db        *store.DB
	auth      *auth.Service
	rec       porthole.SecurityRecorder
	limiter   porthole.Limiter
	publicURL string // scheme://host[:port]
	log       *slog.Logger
	pages     map[string]*template.Template
	richText  *bluemonday.Policy
	static    *staticFiles
	handler   http.Handler

	auditLog     *audit.Log
	auditStore   audit.Store
	checkpointer *audit.Checkpointer

	// issue 4
	knowledge      *knowledge.Service
	sealer         Sealer
	maxUploadBytes int64
	preview        Previewer

	// issue 5: inbox, exports, analytics (inbox.go, inbox_events.go, analytics.go)
	chat *chat.Service
	// shutdown is closed by Shutdown: live event streams end with it.
	shutdown     chan struct{}
	shutdownOnce sync.Once
}

// New builds the dashboard. It fails only on a bad public URL or a broken
// embedded template (a build defect).
func New(deps Deps) (*Dashboard, error) {
	if deps.DB == nil || deps.Auth == nil {
		return nil, errors.New("dashboard: New needs a DB and the auth service")
	}
	u, err := url.Parse(deps.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("dashboard: PublicURL must be http(s)://host[:port]")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	d := &Dashboard{
		db: deps.DB, auth: deps.Auth, rec: deps.Security, limiter: deps.Limiter,
		publicURL: u.Scheme + "://" + u.Host, log: deps.Logger, richText: newRichTextPolicy(),
		auditLog: deps.AuditLog, auditStore: deps.AuditStore, checkpointer: deps.Checkpointer,
		knowledge: deps.Knowledge, sealer: deps.Sealer, maxUploadBytes: deps.MaxUploadBytes, preview: deps.Preview, // issue 4
		chat: deps.Chat, shutdown: make(chan struct{}), // issue 5
	}
	if d.maxUploadBytes <= 0 {
		d.maxUploadBytes = knowledge.DefaultMaxUploadBytes
	}
	if d.static, err = loadStatic(); err != nil {
		return nil, err
	}
	if d.pages, err = parsePages(d.static); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	d.routes(mux)

	csrf := http.NewCrossOriginProtection()
	// Behind a proxy that rewrites Host, the Origin check would otherwise
	// refuse the browser's own same-origin posts.
	if err := csrf.AddTrustedOrigin(d.publicURL); err != nil {
		return nil, err
	}
	csrf.SetDenyHandler(http.HandlerFunc(d.csrfRefused))
	d.handler = pageHeaders(csrf.Handler(mux))
	return d, nil
}

// Handler returns the dashboard with its headers and cross-origin
// protection; mount it at BasePath.
func (d *Dashboard) Handler() http.Handler { return d.handler }

// RedirectRoot sends GET / to the dashboard.
func RedirectRoot(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, BasePath, http.StatusSeeOther)
}

// pageHeaders sets, on every dashboard response, the strict policy and the
// no-framing headers (the common middleware sets some of them too; the
// dashboard does not rely on that), and keeps pages out of shared caches.
func pageHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", httpx.DashboardCSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", httpx.ReferrerPolicy)
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, staticPrefix) {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// csrfRefused answers a cross-origin state-changing request, and records it.
func (d *Dashboard) csrfRefused(w http.ResponseWriter, r *http.Request) {
	d.record(r, porthole.SecCSRFRefused, "", "", "cross-origin form post refused by the dashboard",
		map[string]any{"path": r.URL.Path, "origin": truncate(r.Header.Get("Origin"), 100), "sec_fetch_site": truncate(r.Header.Get("Sec-Fetch-Site"), 30)})
	d.renderStatus(w, r, http.StatusForbidden, "error", view{Title: "Request refused",
		Data: errorPage{Heading: "Request refused", Message: "This form was sent from another site, so it was not accepted. Reload the page and try again."}})
}

// record sends a security event; a nil recorder records nothing.
func (d *Dashboard) record(r *http.Request, kind, orgID, actor, detail string, data map[string]any) {
	if d.rec == nil {
		return
	}
	ip := clientIP(r)
	if actor == "" && ip != "" {
		actor = "ip:" + ip
	}
	d.rec.RecordSecurityEvent(r.Context(), porthole.SecurityEvent{
		ID: porthole.NewID(), OrgID: orgID, Kind: kind, Actor: actor, IP: ip,
		RequestID: httpx.RequestID(r.Context()), Detail: detail, Data: data, CreatedAt: time.Now().UTC(),
	})
}

// clientIP returns the request's client address as found by httpx.ClientIPs.
func clientIP(r *http.Request) string {
	if a := httpx.ClientIP(r.Context()); a.IsValid() {
		return a.String()
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return ""
}

// client describes the request for the auth service.
func client(r *http.Request) auth.Client {
	return auth.Client{IP: clientIP(r), UserAgent: r.UserAgent(), RequestID: httpx.RequestID(r.Context())}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
