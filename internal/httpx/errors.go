package httpx

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// ErrorEnvelope is the body of every API error response:
// {"error":{"code":"...","message":"..."}}.
type ErrorEnvelope struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the inside of ErrorEnvelope. Code is one of the porthole error
// codes; Message is safe to show to the caller.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// internalMessage is all a client ever learns about an internal error.
const internalMessage = "internal error"

// HTTPStatus is the one table from porthole error codes to HTTP status. An
// unknown code is a bug and maps to 500, like EINTERNAL.
func HTTPStatus(code string) int {
	switch code {
	case porthole.EINVALID:
		return http.StatusBadRequest
	case porthole.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case porthole.EFORBIDDEN:
		return http.StatusForbidden
	case porthole.ENOTFOUND:
		return http.StatusNotFound
	case porthole.ECONFLICT:
		return http.StatusConflict
	case porthole.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case porthole.ERATELIMITED:
		return http.StatusTooManyRequests
	case porthole.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default: // porthole.EINTERNAL and any code missing from this table
		return http.StatusInternalServerError
	}
}

// WriteError writes err as the error envelope with the status from
// HTTPStatus. Internal errors (EINTERNAL, unknown codes, errors that are not
// *porthole.Error) are logged with the request id and sent as
// {"code":"internal","message":"internal error"}; their text never reaches the
// client. Errors with status 503 are logged too, with their cause. When the
// response has already started, the error is only logged: appending an
// envelope to a half-written body would corrupt it.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		return
	}
	code := porthole.ErrorCode(err)
	status := HTTPStatus(code)
	message := porthole.ErrorMessage(err)
	if status == http.StatusInternalServerError {
		code, message = porthole.EINTERNAL, internalMessage
	}
	info := infoFrom(r.Context())
	started := info != nil && info.writer != nil && info.writer.wroteHeader
	if status >= 500 || started {
		level := slog.LevelError
		if status == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		msg := "request failed"
		if started {
			msg = "request failed after the response started"
		}
		Logger(r.Context()).LogAttrs(r.Context(), level, msg,
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.String("error", err.Error()),
		)
	}
	if started {
		return
	}
	writeEnvelope(w, status, code, message)
}

// writeEnvelope writes the error envelope without logging; callers have
// logged what needs logging.
func writeEnvelope(w http.ResponseWriter, status int, code, message string) {
	body, err := json.Marshal(ErrorEnvelope{Error: ErrorBody{Code: code, Message: message}})
	if err != nil { // two strings always marshal; keep a valid body regardless
		body = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	h := w.Header()
	// A handler may have set these for the body it meant to send.
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Del("Content-Disposition")
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// WriteJSON writes v as JSON with the given status. It encodes before writing,
// so an encoding failure sends nothing and is returned as an internal error
// for the caller (usually a HandlerFunc) to report; a failure to write (the
// client went away) is not returned, as nothing useful can be done about it.
// HTML-sensitive characters are escaped, so the body is safe even if a
// browser is tricked into rendering it.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return porthole.WrapError(porthole.EINTERNAL, err, "internal error")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
	return nil
}

// HandlerFunc is a handler that returns its error instead of writing it, so
// the error path is in one place. Return an error only before writing the
// response.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP calls f and writes a non-nil error with WriteError.
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		WriteError(w, r, err)
	}
}
