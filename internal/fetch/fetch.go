// Package fetch is the only way Porthole fetches a URL that a user gave it
// (a knowledge page, a sitemap, a business-defined HTTP tool). It refuses
// loopback, private, link-local, CGNAT, metadata, multicast and other special
// addresses at dial time, so a name that resolves (or re-resolves) to such an
// address fails too; it speaks http and https on ports 80 and 443 only, never
// uses a proxy, follows at most five redirects itself and re-checks each, and
// caps both the size of a response and the time a fetch may take. Every
// refusal is recorded as a security event.
//
// NewStreamingHTTPClient is the same dial guard as a plain *http.Client for
// long streaming responses (a model provider's base URL typed in by a
// business): no proxy, no redirects, dial, TLS and header timeouts but no
// body timeout.
//
// This package must never be bypassed with a plain http.Client for a URL
// that came from outside, and must never offer a configuration switch that
// turns the address checks off. The exceptions are the test hooks (test
// binaries only) and StreamingOptions.AllowPrivate, the operator's setting
// for a model server on their own network, which opens loopback and private
// ranges only and never the metadata services.
package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Defaults of Options.
const (
	DefaultMaxBytes     = 10 << 20
	DefaultTimeout      = 30 * time.Second
	DefaultMaxRedirects = 5
	DefaultUserAgent    = "PortholeBot/1.0 (+https://porthole.chat/bot)"
)

// ErrRefused is wrapped by every error that refuses a destination: a scheme
// other than http(s), a port other than 80/443, a special-purpose address,
// credentials in the URL or too many redirects.
var ErrRefused = errors.New("fetch: destination refused")

// ErrTooLarge is wrapped by the error returned when a response body is over
// the size cap.
var ErrTooLarge = errors.New("fetch: response too large")

// Options configure a Client. The zero value is usable: every field has a
// safe default. There is deliberately no option to allow private addresses.
type Options struct {
	// MaxBytes caps a response body (DefaultMaxBytes when zero).
	MaxBytes int64
	// Timeout caps a whole fetch, redirects and body included (DefaultTimeout when zero).
	Timeout time.Duration
	// MaxRedirects caps the redirects followed (DefaultMaxRedirects when
	// zero; never more than DefaultMaxRedirects).
	MaxRedirects int
	// UserAgent is sent with every request (DefaultUserAgent when empty).
	UserAgent string
	// Security receives a porthole.SecSSRFRefused event for every refusal; nil drops them.
	Security porthole.SecurityRecorder
}

// Client fetches user-given URLs safely. It is safe for concurrent use.
type Client struct {
	opts   Options
	http   *http.Client
	guard  *ssrf.Guardian
	dialer *net.Dialer

	// allowedTestAddrs holds "ip:port" pairs that skip the address and port
	// checks. It is set only from export_test.go (NewForTest), so no
	// production code path or configuration can reach it.
	allowedTestAddrs map[string]bool
}

// New returns a Client with the given options.
func New(opts Options) *Client {
	return newClient(opts, nil)
}

func newClient(opts Options, allowed []string) *Client {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxRedirects <= 0 || opts.MaxRedirects > DefaultMaxRedirects {
		opts.MaxRedirects = DefaultMaxRedirects
	}
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	c := &Client{opts: opts, guard: ssrf.New()}
	if len(allowed) > 0 {
		c.allowedTestAddrs = make(map[string]bool, len(allowed))
		for _, a := range allowed {
			c.allowedTestAddrs[a] = true
		}
	}
	c.dialer = &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: c.control}
	transport := &http.Transport{
		Proxy:                  nil, // a proxy would dial on our behalf and bypass the address check
		DialContext:            c.dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           32,
		IdleConnTimeout:        60 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  20 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	c.http = &http.Client{
		Transport: transport,
		// Redirects are followed by Do, one hop at a time, so each is re-checked.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// control is the dialer's Control: it runs after name resolution, on the
// very address about to be connected, so DNS rebinding cannot slip past it.
func (c *Client) control(network, address string, conn syscall.RawConn) error {
	if c.allowedTestAddrs[address] {
		return nil
	}
	return c.guard.Safe(network, address, conn)
}

// Request is one fetch. Method defaults to GET.
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// OrgID names the tenant the fetch is for, so a refusal is recorded against it.
	OrgID string
}

// Response is a fetched response with its body read in full (up to the cap).
type Response struct {
	// URL is the final URL, after redirects.
	URL        *url.URL
	StatusCode int
	Header     http.Header
	Body       []byte
}

// ContentType returns the media type the server declared, without parameters.
func (r *Response) ContentType() string {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// Get fetches rawURL for the organization orgID ("" when none is known).
func (c *Client) Get(ctx context.Context, orgID, rawURL string) (*Response, error) {
	return c.Do(ctx, Request{URL: rawURL, OrgID: orgID})
}

// Do performs req, following up to MaxRedirects redirects, each checked like
// the first URL. A response of any status is returned as a Response; errors
// are refusals (wrapping ErrRefused, code EFORBIDDEN), an over-size body
// (ErrTooLarge, ETOOLARGE), a bad URL (EINVALID) or a network failure or
// timeout (EUNAVAILABLE).
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	body := req.Body
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, porthole.Errorf(porthole.EINVALID, "the URL is not valid")
	}
	for hop := 0; ; hop++ {
		if err := c.checkURL(u); err != nil {
			return nil, c.refuse(ctx, req.OrgID, u, err)
		}
		resp, err := c.roundTrip(ctx, method, u, req.Header, body)
		if err != nil {
			if isRefusal(err) {
				return nil, c.refuse(ctx, req.OrgID, u, err)
			}
			if ctx.Err() != nil {
				return nil, porthole.WrapError(porthole.EUNAVAILABLE, err, "fetching %s took too long", u.Redacted())
			}
			return nil, porthole.WrapError(porthole.EUNAVAILABLE, err, "could not fetch %s", u.Redacted())
		}
		if !isRedirect(resp.StatusCode) {
			defer resp.Body.Close()
			data, err := readCapped(resp.Body, c.opts.MaxBytes)
			if err != nil {
				if errors.Is(err, ErrTooLarge) {
					return nil, porthole.WrapError(porthole.ETOOLARGE, err, "the response of %s is larger than %d bytes", u.Redacted(), c.opts.MaxBytes)
				}
				if ctx.Err() != nil {
					return nil, porthole.WrapError(porthole.EUNAVAILABLE, err, "fetching %s took too long", u.Redacted())
				}
				return nil, porthole.WrapError(porthole.EUNAVAILABLE, err, "could not read %s", u.Redacted())
			}
			return &Response{URL: u, StatusCode: resp.StatusCode, Header: resp.Header, Body: data}, nil
		}
		loc := resp.Header.Get("Location")
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		if hop >= c.opts.MaxRedirects {
			return nil, c.refuse(ctx, req.OrgID, u, fmt.Errorf("%w: more than %d redirects", ErrRefused, c.opts.MaxRedirects))
		}
		next, err := u.Parse(loc)
		if loc == "" || err != nil {
			return nil, porthole.Errorf(porthole.EUNAVAILABLE, "%s redirected to an invalid location", u.Redacted())
		}
		// 301/302/303 turn into a GET without body, as browsers do; 307/308 keep both.
		if resp.StatusCode != http.StatusTemporaryRedirect && resp.StatusCode != http.StatusPermanentRedirect {
			if method != http.MethodGet && method != http.MethodHead {
				method = http.MethodGet
			}
			body = nil
		}
		u = next
	}
}

func (c *Client) roundTrip(ctx context.Context, method string, u *url.URL, header http.Header, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	hr.Header.Set("User-Agent", c.opts.UserAgent)
	return c.http.Do(hr)
}

// checkURL refuses what can be refused before any dial: the scheme, the
// port, credentials in the URL. The address itself is checked at dial time.
func (c *Client) checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q is not http or https", ErrRefused, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("%w: credentials in the URL", ErrRefused)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%w: no host", ErrRefused)
	}
	if c.allowedTestAddrs[u.Host] {
		return nil
	}
	switch u.Port() {
	case "", "80", "443":
	default:
		return fmt.Errorf("%w: port %s is not 80 or 443", ErrRefused, u.Port())
	}
	return nil
}

func isRefusal(err error) bool {
	return errors.Is(err, ErrRefused) || errors.Is(err, ssrf.ErrProhibitedIP) || errors.Is(err, ssrf.ErrProhibitedPort) ||
		errors.Is(err, ssrf.ErrProhibitedNetwork) || errors.Is(err, ssrf.ErrInvalidHostPort)
}

// refuse records the refusal as a security event and returns the error the
// caller sees.
func (c *Client) refuse(ctx context.Context, orgID string, u *url.URL, cause error) error {
	if !errors.Is(cause, ErrRefused) {
		cause = fmt.Errorf("%w: %w", ErrRefused, cause)
	}
	if c.opts.Security != nil {
		c.opts.Security.RecordSecurityEvent(context.WithoutCancel(ctx), porthole.SecurityEvent{
			OrgID:  orgID,
			Kind:   porthole.SecSSRFRefused,
			Detail: "refused to fetch " + u.Redacted(),
			Data:   map[string]any{"host": u.Host, "reason": cause.Error()},
		})
	}
	return porthole.WrapError(porthole.EFORBIDDEN, cause, "fetching %s is not allowed", u.Redacted())
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// readCapped reads r to the end, failing with ErrTooLarge past max bytes.
func readCapped(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, ErrTooLarge
	}
	return data, nil
}
