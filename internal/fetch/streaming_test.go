package fetch_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/fetch"
)

func mustGetStatus(tb testing.TB, c *http.Client, url string) (int, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestStreamingClientChecksAddressesAtDialTime proves the client for
// tenant-given base URLs refuses loopback and metadata addresses, that the
// operator's AllowPrivate opens loopback but never the metadata services,
// and that the refusal is recognizable as one.
func TestStreamingClientChecksAddressesAtDialTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	t.Cleanup(srv.Close)
	tests := []struct {
		name    string
		opts    fetch.StreamingOptions
		url     string
		refused bool
	}{
		{name: "loopback refused by default", url: srv.URL, refused: true},
		{name: "loopback on port 80 refused by default", url: "http://127.0.0.1/", refused: true},
		{name: "metadata refused by default", url: "http://169.254.169.254/latest/meta-data/", refused: true},
		{name: "private range refused by default", url: "http://10.0.0.1:11434/v1/", refused: true},
		{name: "loopback allowed for the operator", opts: fetch.StreamingOptions{AllowPrivate: true}, url: srv.URL},
		{name: "metadata refused for the operator", opts: fetch.StreamingOptions{AllowPrivate: true}, url: "http://169.254.169.254/latest/meta-data/", refused: true},
		{name: "IPv6 metadata refused for the operator", opts: fetch.StreamingOptions{AllowPrivate: true}, url: "http://[fd00:ec2::254]/", refused: true},
		{name: "link-local refused for the operator", opts: fetch.StreamingOptions{AllowPrivate: true}, url: "http://169.254.1.1/", refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, err := mustGetStatus(t, fetch.NewStreamingHTTPClient(tt.opts), tt.url)
			if tt.refused {
				if !fetch.IsRefused(err) {
					t.Fatalf("got status %d, err %v; want a refusal", status, err)
				}
				return
			}
			if err != nil || status != http.StatusTeapot {
				t.Fatalf("got status %d, err %v; want 418", status, err)
			}
		})
	}
}

// TestStreamingClientFollowsNoRedirectAndUsesNoProxy proves a redirect is
// returned rather than followed (it must not carry a key elsewhere) and that
// a proxy from the environment is not used (it would dial for us).
func TestStreamingClientFollowsNoRedirectAndUsesNoProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("http_proxy", "http://127.0.0.1:1")
	followed := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/elsewhere") {
			followed = true
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	c := fetch.NewStreamingHTTPClient(fetch.StreamingOptionsForTest(t, fetch.StreamingOptions{}, srv.Listener.Addr().String()))
	status, err := mustGetStatus(t, c, srv.URL+"/v1/")
	if err != nil || status != http.StatusFound || followed {
		t.Fatalf("status %d, err %v, followed %v; want the 302 itself", status, err, followed)
	}
	if c.Timeout != 0 {
		t.Errorf("client timeout %v; a stream must not have a total timeout", c.Timeout)
	}
}

// TestStreamingClientCarriesLargeMessages: the connection buffers are small
// (a streamed reply comes in small chunks), and large requests, header
// lines and bodies still pass whole.
func TestStreamingClientCarriesLargeMessages(t *testing.T) {
	body := strings.Repeat("request ", 20000)
	header := strings.Repeat("h", 30000)
	reply := strings.Repeat("reply ", 50000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := io.ReadAll(r.Body)
		if string(got) != body {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Long", header)
		_, _ = io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	c := fetch.NewStreamingHTTPClient(fetch.StreamingOptionsForTest(t, fetch.StreamingOptions{}, srv.Listener.Addr().String()))
	resp, err := c.Post(srv.URL+"/v1/", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("X-Long") != header || string(got) != reply {
		t.Fatalf("status %d, header %d bytes, body %d bytes, err %v", resp.StatusCode, len(resp.Header.Get("X-Long")), len(got), err)
	}
}
