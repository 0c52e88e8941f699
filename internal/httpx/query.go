package httpx

import (
	"net/http"
	"net/url"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// RejectDuplicateQuery refuses HTTP parameter pollution: a query string in
// which any key appears more than once (a=1&a=2, or a=1&%61=2, which decode to
// the same key) gets a 400 envelope and a porthole.SecParameterPollution
// event. Which copy wins differs between proxies, WAFs and frameworks, so a
// duplicate is how a check in one layer is slipped past another. A query
// Go cannot parse (for example one using ';' as a separator, or a bad
// percent escape) is refused the same way, since other layers may read it
// differently.
func RejectDuplicateQuery(rec porthole.SecurityRecorder) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.RawQuery == "" {
				next.ServeHTTP(w, r)
				return
			}
			values, err := url.ParseQuery(r.URL.RawQuery)
			if err != nil {
				recordSecurityEvent(rec, r, porthole.SecParameterPollution, "malformed query string", map[string]any{
					"method": r.Method, "path": r.URL.Path,
				})
				WriteError(w, r, porthole.Errorf(porthole.EINVALID, "malformed query string"))
				return
			}
			for key, vs := range values {
				if len(vs) > 1 {
					key = truncate(key, 64)
					recordSecurityEvent(rec, r, porthole.SecParameterPollution, "duplicate query parameter", map[string]any{
						"method": r.Method, "path": r.URL.Path, "parameter": key,
					})
					WriteError(w, r, porthole.Errorf(porthole.EINVALID, "query parameter %q appears more than once", key))
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
