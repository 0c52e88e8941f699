package fetch

import (
	"net/netip"
	"testing"
)

// NewForTest returns a Client that may also dial the given loopback
// "ip:port" addresses (httptest servers), and nothing else that New refuses.
// It is for tests only: it panics outside a test binary (testing.Testing),
// and on any address that is not a loopback ip:port, so neither production
// code nor configuration can use it to open the client up.
func NewForTest(tb testing.TB, opts Options, loopbackAddrs ...string) *Client {
	tb.Helper()
	if !testing.Testing() {
		panic("fetch: NewForTest used outside a test binary")
	}
	for _, a := range loopbackAddrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil || !ap.Addr().IsLoopback() {
			panic("fetch: NewForTest allows loopback ip:port addresses only, not " + a)
		}
	}
	return newClient(opts, loopbackAddrs)
}

// StreamingOptionsForTest returns opts that also let a streaming client
// dial the given loopback "ip:port" addresses (httptest servers). Like
// NewForTest it panics outside a test binary and on any address that is
// not a loopback ip:port.
func StreamingOptionsForTest(tb testing.TB, opts StreamingOptions, loopbackAddrs ...string) StreamingOptions {
	tb.Helper()
	if !testing.Testing() {
		panic("fetch: StreamingOptionsForTest used outside a test binary")
	}
	allowed := make(map[string]bool, len(opts.allowedTestAddrs)+len(loopbackAddrs))
	for a := range opts.allowedTestAddrs {
		allowed[a] = true
	}
	for _, a := range loopbackAddrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil || !ap.Addr().IsLoopback() {
			panic("fetch: StreamingOptionsForTest allows loopback ip:port addresses only, not " + a)
		}
		allowed[a] = true
	}
	opts.allowedTestAddrs = allowed
	return opts
}
