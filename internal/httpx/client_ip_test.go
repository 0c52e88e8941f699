package httpx

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIPs(t *testing.T) {
	trusted := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("fd00::/8"),
	}
	tests := []struct {
		name       string
		remoteAddr string
		xff        []string
		want       string
	}{
		{name: "untrusted peer, no header", remoteAddr: "198.51.100.9:4000", want: "198.51.100.9"},
		{name: "untrusted peer spoofing the header is ignored", remoteAddr: "198.51.100.9:4000", xff: []string{"1.2.3.4"}, want: "198.51.100.9"},
		{name: "trusted peer, one hop", remoteAddr: "10.0.0.1:4000", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "trusted peer, spoofed left part ignored", remoteAddr: "10.0.0.1:4000", xff: []string{"1.2.3.4, 203.0.113.7"}, want: "203.0.113.7"},
		{name: "trusted hops skipped from the right", remoteAddr: "10.0.0.1:4000", xff: []string{"1.2.3.4, 203.0.113.7, 10.0.0.2,10.0.0.3"}, want: "203.0.113.7"},
		{name: "several header lines read as one list", remoteAddr: "10.0.0.1:4000", xff: []string{"1.2.3.4", "203.0.113.7", "10.0.0.2"}, want: "203.0.113.7"},
		{name: "all hops trusted gives the leftmost", remoteAddr: "10.0.0.1:4000", xff: []string{"10.0.0.5, 10.0.0.6"}, want: "10.0.0.5"},
		{name: "trusted peer without header", remoteAddr: "10.0.0.1:4000", want: "10.0.0.1"},
		{name: "malformed hop falls back to the peer", remoteAddr: "10.0.0.1:4000", xff: []string{"203.0.113.7, not-an-ip"}, want: "10.0.0.1"},
		{name: "empty hop falls back to the peer", remoteAddr: "10.0.0.1:4000", xff: []string{"203.0.113.7,,"}, want: "10.0.0.1"},
		{name: "hop with port falls back to the peer", remoteAddr: "10.0.0.1:4000", xff: []string{"203.0.113.7:80"}, want: "10.0.0.1"},
		{name: "hop with zone falls back to the peer", remoteAddr: "10.0.0.1:4000", xff: []string{"fe80::1%eth0"}, want: "10.0.0.1"},
		{name: "junk left of the client is never read", remoteAddr: "10.0.0.1:4000", xff: []string{"<script>, 203.0.113.7"}, want: "203.0.113.7"},
		{name: "IPv6 client through IPv6 proxy", remoteAddr: "[fd00::1]:4000", xff: []string{"2001:db8::7"}, want: "2001:db8::7"},
		{name: "IPv4-mapped peer matches IPv4 prefix", remoteAddr: "[::ffff:10.0.0.1]:4000", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "IPv4-mapped hop unmapped", remoteAddr: "10.0.0.1:4000", xff: []string{"::ffff:203.0.113.7"}, want: "203.0.113.7"},
		{name: "bare peer address", remoteAddr: "198.51.100.9", want: "198.51.100.9"},
		{name: "unparseable peer", remoteAddr: "@", xff: []string{"203.0.113.7"}, want: "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got netip.Addr
			h := ClientIPs(trusted)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = ClientIP(r.Context())
			}))
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tt.remoteAddr
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			mustServe(t, h, req)
			if got.String() != tt.want {
				t.Fatalf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestClientIPWithoutMiddleware(t *testing.T) {
	req := httptest.NewRequest("GET", "/", nil)
	if ip := ClientIP(req.Context()); ip.IsValid() {
		t.Fatalf("ClientIP without middleware = %s, want the zero Addr", ip)
	}
}
