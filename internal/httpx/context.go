package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
)

// requestInfo is the per-request record the middleware share. The first
// middleware that sees a request puts one pointer in the context; the others
// fill it in. Sharing a pointer (rather than layering context values) lets an
// outer middleware such as AccessLog or Recover read what an inner one such as
// ClientIPs found, whatever order the stack is built in.
type requestInfo struct {
	id       string
	clientIP netip.Addr
	logger   *slog.Logger
	writer   *statusWriter // the innermost tracking writer, if any
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// withInfo returns r carrying the shared request record, adding one if no
// middleware has yet.
func withInfo(r *http.Request) (*http.Request, *requestInfo) {
	if info := infoFrom(r.Context()); info != nil {
		return r, info
	}
	info := &requestInfo{}
	return r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info)), info
}

// RequestID returns the id of the request ctx belongs to, or "" when the
// RequestIDs middleware did not run.
func RequestID(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// ClientIP returns the client address found by the ClientIPs middleware: the
// peer, or the first untrusted hop of X-Forwarded-For when the peer is a
// trusted proxy. It is the zero Addr when ClientIPs did not run or the peer
// address could not be parsed.
func ClientIP(ctx context.Context) netip.Addr {
	if info := infoFrom(ctx); info != nil {
		return info.clientIP
	}
	return netip.Addr{}
}

// Logger returns the logger given to AccessLog (slog.Default() when it did
// not run) with the request id attached, so a handler's log lines can be
// joined to the access line.
func Logger(ctx context.Context) *slog.Logger {
	logger := slog.Default()
	info := infoFrom(ctx)
	if info != nil && info.logger != nil {
		logger = info.logger
	}
	if info != nil && info.id != "" {
		logger = logger.With(slog.String("request_id", info.id))
	}
	return logger
}

// clientIPOf returns ClientIP, falling back to the peer address for stacks
// that do not run ClientIPs.
func clientIPOf(r *http.Request) netip.Addr {
	if ip := ClientIP(r.Context()); ip.IsValid() {
		return ip
	}
	return peerAddr(r.RemoteAddr)
}
