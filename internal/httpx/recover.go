package httpx

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Recover turns a panic in the handler into a logged stack and a 500 error
// envelope, so one bad request never takes the process down or leaves the
// client without an answer. If the response had already started, the
// connection is aborted instead (re-panicking with http.ErrAbortHandler), so
// the client cannot mistake a truncated body for a whole one.
// http.ErrAbortHandler itself is passed on untouched: it is how a handler asks
// net/http to drop the connection. A nil logger means slog.Default().
func Recover(logger *slog.Logger) Middleware {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw, r, info := track(w, r)
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
					slog.String("request_id", info.id),
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.String("panic", fmt.Sprint(v)),
					slog.String("stack", string(debug.Stack())),
				)
				// The handler's own writer is the innermost tracker; it knows
				// whether any byte has gone out.
				if sw.wroteHeader || (info.writer != nil && info.writer.wroteHeader) {
					panic(http.ErrAbortHandler)
				}
				writeEnvelope(sw, http.StatusInternalServerError, porthole.EINTERNAL, internalMessage)
			}()
			next.ServeHTTP(sw, r)
		})
	}
}
