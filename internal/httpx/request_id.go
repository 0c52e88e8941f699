package httpx

import (
	"net/http"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// RequestIDHeader is the header a request id is read from and echoed in.
const RequestIDHeader = "X-Request-Id"

// RequestIDs gives every request an id, available through RequestID and
// echoed in the X-Request-Id response header. An incoming X-Request-Id is kept
// only when it is 1 to 64 characters of [A-Za-z0-9._-], so a caller can join
// its logs to ours but cannot inject anything into them; otherwise a new id
// (porthole.NewID) is made.
func RequestIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, info := withInfo(r)
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) || len(r.Header[RequestIDHeader]) > 1 {
			id = porthole.NewID()
		}
		info.id = id
		w.Header()[RequestIDHeader] = []string{id}
		next.ServeHTTP(w, r)
	})
}

// validRequestID reports whether id is 1 to 64 characters of [A-Za-z0-9._-].
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
