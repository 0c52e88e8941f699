package httpx

import (
	"log/slog"
	"net/http"
	"time"
)

// AccessLog writes one line per request to logger: method, path, status,
// bytes, duration, request id and client IP. It never logs the query string
// (tokens and tickets travel there) nor any header, Authorization and Cookie
// included. Server errors are logged at level Error, the rest at Info. It also
// makes logger the one Logger(ctx) and WriteError use for the request.
//
// A request whose handler panics is logged with status 500 and panic=true
// before the panic continues to Recover.
func AccessLog(logger *slog.Logger) Middleware {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw, r, info := track(w, r)
			info.logger = logger
			completed := false
			defer func() {
				status := sw.status
				if !completed && !sw.wroteHeader {
					status = http.StatusInternalServerError
				}
				if status == 0 { // the handler wrote nothing: net/http sends 200
					status = http.StatusOK
				}
				level := slog.LevelInfo
				if status >= 500 {
					level = slog.LevelError
				}
				clientIP := ""
				if ip := clientIPOf(r); ip.IsValid() {
					clientIP = ip.String()
				}
				attrs := []slog.Attr{
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.Int("status", status),
					slog.Int64("bytes", sw.bytes),
					slog.Duration("duration", time.Since(start)),
					slog.String("request_id", info.id),
					slog.String("client_ip", clientIP),
				}
				if !completed {
					attrs = append(attrs, slog.Bool("panic", true))
				}
				logger.LogAttrs(r.Context(), level, "request", attrs...)
			}()
			next.ServeHTTP(sw, r)
			completed = true
		})
	}
}
