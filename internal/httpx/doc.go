// Package httpx is the HTTP baseline every Porthole response gets and the one
// place where application errors become HTTP responses.
//
// It owns:
//   - the error envelope {"error":{"code":"...","message":"..."}} and the one
//     table from porthole error codes to HTTP status (HTTPStatus, WriteError);
//   - JSON helpers (WriteJSON, DecodeJSON) and the HandlerFunc adapter that
//     lets handlers return errors;
//   - the middleware every surface is wrapped in: Recover, RequestIDs,
//     AccessLog, ClientIPs, SecurityHeaders, BodyLimit, RejectDuplicateQuery,
//     CORS and RateLimit, composed with Chain;
//   - the server caps (NewServer).
//
// A typical stack, outermost first:
//
//	httpx.Chain(mux,
//		httpx.Recover(logger),
//		httpx.RequestIDs,
//		httpx.AccessLog(logger),
//		httpx.ClientIPs(trustedProxies),
//		httpx.SecurityHeaders(httpx.SecurityHeaderOptions{HTTPS: publicURLIsHTTPS}),
//		httpx.BodyLimit(1<<20),
//		httpx.RejectDuplicateQuery(recorder),
//	)
//
// CORS and RateLimit are mounted per surface (CORS on /api/v1 only). The
// order of Recover, RequestIDs, AccessLog and ClientIPs does not matter for
// what they log: they share one per-request record in the context, so the
// access line and a panic report carry the request id and client IP even
// when the middleware that computes them runs further in.
//
// Handlers that need different headers change them before writing: the
// dashboard sets Content-Security-Policy to DashboardCSP; the widget frame
// sets its own frame-ancestors policy and calls
// w.Header().Del("X-Frame-Options"), since X-Frame-Options cannot express an
// allowlist and would otherwise block every embedding.
//
// httpx must never import a store, a driver or a service implementation: it
// knows only net/http and the domain package. It must never send the internal
// cause of an error to a client; those go to the log with the request id.
package httpx
