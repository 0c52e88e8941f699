package httpx

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientIPs finds the client address for rate limits and logs and makes it
// available through ClientIP. The peer (RemoteAddr) is the client unless it
// lies in one of the trusted proxy prefixes; only then is X-Forwarded-For
// read, from the right, skipping hops that are themselves trusted, and the
// first untrusted address is the client. Anyone can send X-Forwarded-For, so
// the header of an untrusted peer is ignored, and so is a header with a
// malformed hop before the client is found (the peer is used instead).
// If every hop is trusted, the leftmost one is the client.
func ClientIPs(trusted []netip.Prefix) Middleware {
	prefixes := make([]netip.Prefix, 0, len(trusted))
	for _, p := range trusted {
		if p.IsValid() {
			prefixes = append(prefixes, p.Masked())
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, info := withInfo(r)
			info.clientIP = clientAddr(r, prefixes)
			next.ServeHTTP(w, r)
		})
	}
}

// clientAddr applies the rule documented on ClientIPs.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return peer
	}
	lines := r.Header.Values("X-Forwarded-For")
	leftmost := netip.Addr{}
	// Walk hop by hop from the right without splitting the whole header, so
	// a long header costs only the hops actually read.
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for {
			hop := rest
			comma := strings.LastIndexByte(rest, ',')
			if comma >= 0 {
				hop, rest = rest[comma+1:], rest[:comma]
			}
			addr, err := netip.ParseAddr(strings.TrimSpace(hop))
			if err != nil || addr.Zone() != "" {
				return peer
			}
			addr = addr.Unmap()
			if !isTrusted(addr, trusted) {
				return addr
			}
			leftmost = addr
			if comma < 0 {
				break
			}
		}
	}
	if leftmost.IsValid() {
		return leftmost
	}
	return peer
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// peerAddr parses RemoteAddr ("ip:port", or a bare ip as some tests and
// listeners give), unmapping IPv4-in-IPv6 so prefixes match either way.
func peerAddr(remoteAddr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	if addr, err := netip.ParseAddr(remoteAddr); err == nil {
		return addr.Unmap()
	}
	return netip.Addr{}
}
