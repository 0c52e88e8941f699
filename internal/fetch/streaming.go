package fetch

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// Defaults of StreamingOptions.
const (
	DefaultStreamDialTimeout           = 10 * time.Second
	DefaultStreamTLSHandshakeTimeout   = 10 * time.Second
	DefaultStreamResponseHeaderTimeout = 60 * time.Second
)

// metadataAddrs are the cloud instance metadata services. They are refused
// even when private addresses are allowed: a metadata service hands out
// the host's credentials.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack, ...
	netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
}

// privatePrefixes are the ranges AllowPrivate opens: loopback, RFC 1918 and
// IPv6 unique local addresses, where an operator's own model server runs.
// Link-local (and so most metadata services), CGNAT, multicast and the
// other special ranges stay refused.
var (
	privateV4Prefixes = []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
	}
	privateV6Prefixes = []netip.Prefix{
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fc00::/7"),
	}
)

// StreamingOptions configure NewStreamingHTTPClient. The zero value is the
// safe default: public addresses on ports 80 and 443 only.
type StreamingOptions struct {
	// DialTimeout bounds connecting (DefaultStreamDialTimeout when zero).
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake
	// (DefaultStreamTLSHandshakeTimeout when zero).
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response headers after
	// the request was written (DefaultStreamResponseHeaderTimeout when
	// zero). The body has no time limit: streams are long, and the caller
	// bounds them (the llm package's first-token and idle timeouts).
	ResponseHeaderTimeout time.Duration
	// AllowPrivate is the operator's exception for a model server on their
	// own network (a local Ollama or vLLM): loopback, RFC 1918 and IPv6
	// unique local addresses, on any port. Metadata services, link-local
	// and the other special ranges stay refused. Never set it from a
	// tenant's input.
	AllowPrivate bool

	// allowedTestAddrs are loopback "ip:port" pairs that skip the checks;
	// only StreamingOptionsForTest sets them.
	allowedTestAddrs map[string]bool
}

// NewStreamingHTTPClient returns an *http.Client for URLs given by a
// tenant whose responses stream for long (a model provider's base URL). It
// shares the dial-time address checks of Client: every address about to be
// connected is checked after name resolution, so DNS rebinding fails too.
// It uses no proxy, follows no redirects (a 3xx is returned as the
// response) and has no overall timeout, only dial, TLS and header
// timeouts. A refused dial fails with an error wrapping ErrRefused; the
// caller records the security event, since only it knows the tenant.
func NewStreamingHTTPClient(opts StreamingOptions) *http.Client {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultStreamDialTimeout
	}
	if opts.TLSHandshakeTimeout <= 0 {
		opts.TLSHandshakeTimeout = DefaultStreamTLSHandshakeTimeout
	}
	if opts.ResponseHeaderTimeout <= 0 {
		opts.ResponseHeaderTimeout = DefaultStreamResponseHeaderTimeout
	}
	guard := ssrf.New()
	if opts.AllowPrivate {
		guard = ssrf.New(ssrf.WithAnyPort(), ssrf.WithAllowedV4Prefixes(privateV4Prefixes...), ssrf.WithAllowedV6Prefixes(privateV6Prefixes...))
	}
	allowed := opts.allowedTestAddrs
	control := func(network, address string, conn syscall.RawConn) error {
		if allowed[address] {
			return nil
		}
		if err := refuseMetadata(address); err != nil {
			return err
		}
		if err := guard.Safe(network, address, conn); err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return nil
	}
	dialer := &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second, Control: control}
	transport := &http.Transport{
		Proxy:             nil, // a proxy would dial on our behalf and bypass the address check
		DialContext:       dialer.DialContext,
		ForceAttemptHTTP2: true,
		// A self-hosted model server (vLLM, Ollama) speaks HTTP/1.1, so each
		// reply in flight holds a connection; keeping many idle saves a dial
		// (and a TLS handshake) at most turn starts.
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    opts.TLSHandshakeTimeout,
		ResponseHeaderTimeout:  opts.ResponseHeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		// A streamed reply comes in chunks of a few hundred bytes, and a
		// connection is held for each reply in flight: the default 4 KiB
		// each way was 8 MB of live heap at 1,000 streams. Longer header
		// lines are still read whole, and a request body larger than the
		// buffer is written past it.
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
	}
	return &http.Client{
		Transport: transport,
		// A redirect must not carry a key elsewhere, nor reach an address
		// the first URL could not.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// refuseMetadata refuses the metadata services by address, before the
// guard, whose allowed prefixes could otherwise include one.
func refuseMetadata(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, ssrf.ErrInvalidHostPort)
	}
	ip := ap.Addr().Unmap()
	for _, m := range metadataAddrs {
		if ip == m {
			return fmt.Errorf("%w: %s is a cloud metadata service", ErrRefused, ip)
		}
	}
	return nil
}

// IsRefused reports whether err (from Client or a streaming client) refused
// a destination rather than failed to reach it.
func IsRefused(err error) bool {
	return err != nil && isRefusal(err)
}
