package httpx

import "net/http"

// Middleware wraps a handler with behaviour that runs before and after it.
type Middleware = func(http.Handler) http.Handler

// Chain wraps h in mws, the first outermost: Chain(h, a, b) is a(b(h)), so a
// request meets the middleware in the order they are listed.
func Chain(h http.Handler, mws ...Middleware) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
