package httpx

import "net/http"

// DefaultCSP is the Content-Security-Policy of every response unless the
// handler replaces it: nothing may load, nothing may frame the response, no
// <base> and forms post only to us. It suits JSON and plain responses.
const DefaultCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// DashboardCSP is the policy for dashboard pages: scripts, styles, images,
// fonts and fetch/WebSocket connections from our own origin only, no inline
// code and no eval, and still never framed. Dashboard handlers set it with
// w.Header().Set("Content-Security-Policy", httpx.DashboardCSP) before
// writing.
const DashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// ReferrerPolicy is the Referrer-Policy of every response. It is the
// browser default made explicit: other origins see only our origin, never a
// path (dashboard paths hold conversation ids), and nothing over plain http.
// no-referrer was rejected because with it browsers send "Origin: null" on
// same-origin form posts, which breaks the Origin check of
// http.CrossOriginProtection for browsers without Sec-Fetch-Site.
const ReferrerPolicy = "strict-origin-when-cross-origin"

// HSTS is the Strict-Transport-Security value sent when the public URL is
// https: two years, subdomains included. Preload is left to the operator, as
// it cannot be undone quickly.
const HSTS = "max-age=63072000; includeSubDomains"

// SecurityHeaderOptions configures SecurityHeaders.
type SecurityHeaderOptions struct {
	// HTTPS is true when the public URL is https; only then is HSTS sent
	// (over plain http it would be ignored, and on a TLS-terminating proxy in
	// front of http it would pin a scheme the operator did not choose).
	HTTPS bool
}

// SecurityHeaders sets the baseline headers on every response:
//
//	X-Content-Type-Options: nosniff
//	Referrer-Policy: strict-origin-when-cross-origin
//	Content-Security-Policy: DefaultCSP
//	Cross-Origin-Opener-Policy: same-origin
//	X-Frame-Options: DENY
//	Strict-Transport-Security: HSTS (only with opts.HTTPS)
//
// They are set before the handler runs, so a handler overrides one by
// changing w.Header() before its first write: the dashboard sets
// DashboardCSP; the widget frame sets its own frame-ancestors CSP and calls
// w.Header().Del("X-Frame-Options").
func SecurityHeaders(opts SecurityHeaderOptions) Middleware {
	n := 5
	if opts.HTTPS {
		n++
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// One backing array per response; each header gets a
			// capacity-1 slice of it, so Header.Add on one reallocates
			// instead of writing into its neighbour.
			vals := make([]string, n)
			vals[0] = "nosniff"
			vals[1] = ReferrerPolicy
			vals[2] = DefaultCSP
			vals[3] = "same-origin"
			vals[4] = "DENY"
			h := w.Header()
			h["X-Content-Type-Options"] = vals[0:1:1]
			h["Referrer-Policy"] = vals[1:2:2]
			h["Content-Security-Policy"] = vals[2:3:3]
			h["Cross-Origin-Opener-Policy"] = vals[3:4:4]
			h["X-Frame-Options"] = vals[4:5:5]
			if opts.HTTPS {
				vals[5] = HSTS
				h["Strict-Transport-Security"] = vals[5:6:6]
			}
			next.ServeHTTP(w, r)
		})
	}
}
