package httpx

import (
	"net/http"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// BodyLimit caps request bodies at n bytes. A declared Content-Length over
// the cap is refused at once with 413; otherwise the body is wrapped in
// http.MaxBytesReader, whose error DecodeJSON reports as ETOOLARGE (413), and
// which makes net/http close the connection rather than drain an oversized
// body. Caps only tighten when nested: a route that accepts larger bodies
// (uploads) must be mounted outside the general cap with its own.
func BodyLimit(n int64) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				WriteError(w, r, porthole.Errorf(porthole.ETOOLARGE, "request body is over %d bytes", n))
				return
			}
			if r.Body == nil || r.Body == http.NoBody {
				next.ServeHTTP(w, r)
				return
			}
			limited := *r // do not change the caller's request
			limited.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, &limited)
		})
	}
}
