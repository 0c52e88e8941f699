package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// CORS response values. Only the methods and headers the API uses are
// allowed; Retry-After and X-Request-Id are exposed so browser clients can
// back off and quote the id in a support request.
const (
	corsAllowMethods  = "GET, POST, PUT, PATCH, DELETE"
	corsAllowHeaders  = "Authorization, Content-Type, X-Request-Id"
	corsExposeHeaders = "Retry-After, X-Request-Id"
	// corsMaxAge (10 minutes) bounds how long a browser keeps using a
	// preflight after the operator removes an origin.
	corsMaxAge = "600"
)

// ParseOrigin checks that s is an origin as a browser sends it,
// scheme://host[:port] with scheme http or https and nothing else, and
// returns it in the form browsers serialize: lower case, default port
// dropped. "*" and "null" are refused: neither names one site.
func ParseOrigin(s string) (string, error) {
	if s == "*" || s == "null" {
		return "", fmt.Errorf("origin %q is not allowed: list exact origins", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("origin %q: %w", s, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", fmt.Errorf("origin %q: scheme must be http or https", s)
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.ForceQuery {
		return "", fmt.Errorf("origin %q: must be scheme://host[:port] only", s)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" || strings.Contains(host, "*") {
		return "", fmt.Errorf("origin %q: host must be a name or address, no wildcard", s)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// CORS lets the browsers of operator-listed origins call the API with
// credentials; it is mounted on /api/v1 only. For a listed Origin (exact
// match of scheme://host[:port]) it sets Access-Control-Allow-Origin to that
// origin, never "*", with Vary: Origin and Allow-Credentials, and answers a
// preflight (OPTIONS with Access-Control-Request-Method) itself with 204.
//
// For any other Origin, "null" included: a preflight gets a 403 envelope and
// a simple request goes through without CORS headers, so the browser will
// not let the page read the answer; both record a porthole.SecCORSRefused
// event. Requests without Origin, and same-origin ones (Origin's host equals
// the Host header: our own dashboard), pass untouched.
//
// An invalid entry in allowedOrigins is an error rather than something
// silently skipped; ParseOrigin tells which and why.
func CORS(allowedOrigins []string, rec porthole.SecurityRecorder) (Middleware, error) {
	allowed := make(map[string]bool, len(allowedOrigins))
	var errs []error
	for _, o := range allowedOrigins {
		origin, err := ParseOrigin(strings.TrimSpace(o))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		allowed[origin] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("httpx: CORS: %w", err)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origins := r.Header["Origin"]
			if len(origins) == 0 {
				next.ServeHTTP(w, r)
				return
			}
			origin := origins[0]
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if len(origins) == 1 && allowed[origin] {
				h := w.Header()
				h.Add("Vary", "Origin")
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
				if preflight {
					h.Add("Vary", "Access-Control-Request-Method")
					h.Add("Vary", "Access-Control-Request-Headers")
					h.Set("Access-Control-Allow-Methods", corsAllowMethods)
					h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
					h.Set("Access-Control-Max-Age", corsMaxAge)
					w.WriteHeader(http.StatusNoContent)
					return
				}
				h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
				next.ServeHTTP(w, r)
				return
			}
			if len(origins) == 1 && sameOrigin(origin, r.Host) {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Add("Vary", "Origin")
			data := map[string]any{
				"origin": truncate(origin, 256),
				"method": r.Method,
				"path":   r.URL.Path,
			}
			if preflight {
				recordSecurityEvent(rec, r, porthole.SecCORSRefused, "CORS preflight from an origin not allowed", data)
				WriteError(w, r, porthole.Errorf(porthole.EFORBIDDEN, "origin not allowed"))
				return
			}
			recordSecurityEvent(rec, r, porthole.SecCORSRefused, "cross-origin request from an origin not allowed", data)
			next.ServeHTTP(w, r)
		})
	}, nil
}

// sameOrigin reports whether origin names the host the request was sent to.
// A browser sets both, so a page cannot make them agree for another site;
// a non-browser client gains nothing from CORS either way. Only the event is
// skipped for such requests: no CORS header is added.
func sameOrigin(origin, host string) bool {
	_, rest, ok := strings.Cut(origin, "://")
	return ok && host != "" && strings.EqualFold(rest, host)
}
