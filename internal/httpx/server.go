package httpx

import (
	"log/slog"
	"net/http"
	"time"
)

// Server caps. A slow client can hold a connection only this long; handlers
// that stream (server-sent events) or upgrade to WebSocket extend their own
// deadlines with http.NewResponseController(w).SetReadDeadline and
// SetWriteDeadline, or clear them after hijacking.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// ServerOptions configures NewServer.
type ServerOptions struct {
	// Logger receives net/http's own errors (TLS handshakes, superfluous
	// WriteHeader calls, panics that reach the server) at level Warn.
	// nil means slog.Default().
	Logger *slog.Logger
}

// NewServer returns an http.Server for h on addr with the caps above: header,
// read, write and idle timeouts, and a 64 KiB header limit. It does not
// start it.
func NewServer(addr string, h http.Handler, opts ServerOptions) *http.Server {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
