package httpx

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// RateLimit charges each request one unit of limit under the key that key
// returns; a key function answering false leaves the request unlimited by
// this middleware (say, a limit on API keys for a request without one).
//
// A denied request gets 429 with the rate_limited envelope, Retry-After in
// whole seconds rounded up (at least 1), and a porthole.SecRateLimited event.
// The event carries only the key's kind, the part before its first ':' ("ip",
// "login-email"), never the key: keys may hold an email address.
//
// When the limiter itself fails (Redis down), the request is refused with
// 503 unavailable and the error logged: a limit that vanishes when its store
// does would be a way around it (fail closed). /healthz and /readyz should
// not be behind a limiter, so the outage stays visible.
func RateLimit(limiter porthole.Limiter, limit porthole.Limit, key func(*http.Request) (string, bool), rec porthole.SecurityRecorder) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k, ok := key(r)
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			decision, err := limiter.Allow(r.Context(), k, limit, 1)
			if err != nil {
				Logger(r.Context()).LogAttrs(r.Context(), slog.LevelError, "rate limiter failed; refusing request",
					slog.String("key_kind", keyKind(k)),
					slog.String("error", err.Error()),
				)
				WriteError(w, r, porthole.Errorf(porthole.EUNAVAILABLE, "service temporarily unavailable"))
				return
			}
			if decision.Allowed {
				next.ServeHTTP(w, r)
				return
			}
			retryAfter := retryAfterSeconds(decision.RetryAfter)
			recordSecurityEvent(rec, r, porthole.SecRateLimited, "rate limit exceeded", map[string]any{
				"key_kind":       keyKind(k),
				"method":         r.Method,
				"path":           r.URL.Path,
				"limit":          limit.N,
				"window_seconds": int64(limit.Window / time.Second),
				"retry_after":    retryAfter,
			})
			w.Header().Set("Retry-After", strconv.FormatInt(retryAfter, 10))
			WriteError(w, r, porthole.Errorf(porthole.ERATELIMITED, "too many requests; retry in %d seconds", retryAfter))
		})
	}
}

// retryAfterSeconds rounds d up to whole seconds, at least 1: a client told
// "0" would retry at once.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		return 1
	}
	return s
}

// keyKind returns the part of a limiter key before its first ':' when it
// looks like a kind (lower-case letters, digits, '-', '_', at most 32), and
// "unknown" otherwise, so an odd key can never put its contents in an event.
func keyKind(key string) string {
	kind, _, found := strings.Cut(key, ":")
	if !found || kind == "" || len(kind) > 32 {
		return "unknown"
	}
	for i := 0; i < len(kind); i++ {
		c := kind[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "unknown"
		}
	}
	return kind
}

// ClientIPKey is a RateLimit key function on the client address: "ip:<v4>"
// for IPv4 and "ip:<prefix>/64" for IPv6, since one subscriber usually holds a
// whole /64 and could otherwise rotate through it. It answers false when the
// client address is unknown.
func ClientIPKey(r *http.Request) (string, bool) {
	ip := clientIPOf(r)
	if !ip.IsValid() {
		return "", false
	}
	if ip.Is4() {
		return "ip:" + ip.String(), true
	}
	return "ip:" + netip.PrefixFrom(ip, 64).Masked().String(), true
}
