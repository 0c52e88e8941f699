package app

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/porthole-chat/porthole/internal/api"
	"github.com/porthole-chat/porthole/internal/dashboard"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// apiLimitPerIP bounds /api/v1 calls per client IP.
var apiLimitPerIP = porthole.Limit{N: 600, Window: time.Minute}

// buildHandler mounts every surface on one mux behind the common middleware.
func (a *App) buildHandler(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)

	// /api/v1: CORS for operator-listed origins only, limits per client IP.
	apiMux := http.NewServeMux()
	authn := api.AccountAuthenticator{Accounts: a.Accounts}
	apiServer := api.NewServer(a.DB, authn, a.Security)
	apiServer.
		WithAudit(api.AuditDeps{Log: a.AuditLog, Store: a.DB.Audit(), Checkpointer: a.Checkpointer}).
		WithAssistant(api.AssistantDeps{Knowledge: a.Knowledge, Sealer: a.Vault, MaxUploadBytes: knowledgeUploadBytes}). // issue 4
		Register(apiMux)
	mux.Handle("GET /.well-known/jwks.json", api.JWKSHandler(a.Accounts))
	cors, err := httpx.CORS(a.Config.CORSOrigins, a.Security)
	if err != nil {
		return err
	}
	csrf, err := a.apiCrossOriginProtection()
	if err != nil {
		return err
	}
	mux.Handle("/api/v1/", httpx.Chain(apiMux,
		cors,
		csrf,
		httpx.RateLimit(a.Limiter, apiLimitPerIP, httpx.ClientIPKey, a.Security),
	))

	// Widget (issue 7): frame page, visitor socket, loader and frame assets.
	if err := a.mountWidget(mux); err != nil {
		return err
	}
	apiServer.WithConversations(a.chat) // issue 5: the chat service is built by mountWidget
	if a.assistant != nil {
		apiServer.WithPreview(a.assistant) // issue 4: the engine is built by mountWidget too
	}

	// ---- dashboard (issue 3): server-rendered pages under /app/; GET / redirects there ----
	var preview dashboard.Previewer // issue 4: the Preview page's reply preview
	if a.assistant != nil {
		preview = a.assistant
	}
	dash, err := dashboard.New(dashboard.Deps{
		DB: a.DB, Auth: a.Accounts, Security: a.Security, Limiter: a.Limiter,
		PublicURL: a.Config.PublicURL, Logger: a.Logger,
		AuditLog: a.AuditLog, AuditStore: a.DB.Audit(), Checkpointer: a.Checkpointer, // audit log page, export, replay
		Knowledge: a.Knowledge, Sealer: a.Vault, MaxUploadBytes: knowledgeUploadBytes, Preview: preview, // issue 4: assistant, knowledge, preview pages
		Chat: a.chat, // issue 5: inbox, exports, analytics
	})
	if err != nil {
		return err
	}
	a.OnShutdown(dash.Shutdown) // ends the inbox's live event streams, which would hold up the drain
	mux.Handle(dashboard.BasePath, dash.Handler())
	mux.HandleFunc("GET /{$}", dashboard.RedirectRoot)
	// ---- end dashboard ----

	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "porthole_http_requests_total", Help: "HTTP requests by method and status code.",
	}, []string{"method", "code"})
	a.Metrics.MustRegister(requests)

	a.handler = httpx.Chain(mux,
		httpx.Recover(a.Logger),
		httpx.RequestIDs,
		httpx.AccessLog(a.Logger),
		httpx.ClientIPs(a.Config.TrustedProxies),
		countRequests(requests),
		httpx.SecurityHeaders(httpx.SecurityHeaderOptions{HTTPS: a.Config.PublicHTTPS()}),
		bodyLimit(a.Config.MaxBodyBytes), // issue 4: the global cap, except for the upload routes (knowledge_wiring.go)
		httpx.RejectDuplicateQuery(a.Security),
	)
	return nil
}

// apiCrossOriginProtection refuses state-changing /api/v1 requests that a
// browser sends from another origin (the session cookie rides along with
// them), except from the operator's CORS origins and Porthole's own public
// URL. Programs that send no Origin or Sec-Fetch-Site pass: they hold no
// cookie of a victim.
func (a *App) apiCrossOriginProtection() (httpx.Middleware, error) {
	cop := http.NewCrossOriginProtection()
	for _, o := range append([]string{a.Config.PublicURL}, a.Config.CORSOrigins...) {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("invalid setting cors-origins: %v", err)
		}
	}
	cop.SetDenyHandler(httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ip := ""
		if addr := httpx.ClientIP(r.Context()); addr.IsValid() {
			ip = addr.String()
		}
		a.Security.RecordSecurityEvent(r.Context(), porthole.SecurityEvent{Kind: porthole.SecCSRFRefused, IP: ip,
			RequestID: httpx.RequestID(r.Context()), Detail: "cross-origin " + r.Method + " " + r.URL.Path + " from " + r.Header.Get("Origin")})
		return porthole.Errorf(porthole.EFORBIDDEN, "cross-origin request refused")
	}))
	return cop.Handler, nil
}

func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	_ = httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only when the store and, if configured, Redis answer.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"store": "ok"}
	status := http.StatusOK
	if err := a.DB.Ping(ctx); err != nil {
		checks["store"], status = "unreachable", http.StatusServiceUnavailable
		a.Logger.Warn("readyz: store unreachable", "err", err)
	}
	if a.Redis != nil {
		checks["redis"] = "ok"
		if err := a.Redis.Ping(ctx).Err(); err != nil {
			checks["redis"], status = "unreachable", http.StatusServiceUnavailable
			a.Logger.Warn("readyz: redis unreachable", "err", err)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	_ = httpx.WriteJSON(w, status, checks)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Hijack passes through for WebSocket libraries that type-assert
// http.Hijacker (gorilla, gws) rather than use http.ResponseController.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

// Flush passes through for streaming responses (server-sent events).
func (s *statusRecorder) Flush() {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func countRequests(c *prometheus.CounterVec) httpx.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			code := rec.code
			if code == 0 {
				code = http.StatusOK
			}
			c.WithLabelValues(r.Method, http.StatusText(code)).Inc()
		})
	}
}
