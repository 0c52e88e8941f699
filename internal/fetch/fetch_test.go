package fetch_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/porthole"
)

type recorder struct {
	mu     sync.Mutex
	events []porthole.SecurityEvent
}

func (r *recorder) RecordSecurityEvent(_ context.Context, ev porthole.SecurityEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) all() []porthole.SecurityEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porthole.SecurityEvent(nil), r.events...)
}

const orgID = "0190f1a2-0000-7000-8000-000000000001"

// TestDefaultClientRefusesSpecialAddresses proves that the client a
// production caller gets refuses every internal destination, and records
// each refusal against the organization.
func TestDefaultClientRefusesSpecialAddresses(t *testing.T) {
	// A real listener on loopback, so a refusal cannot be mistaken for "nothing there".
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secret")) }))
	defer srv.Close()
	tests := []struct {
		name string
		url  string
	}{
		{"loopback test server", srv.URL},
		{"loopback port 80", "http://127.0.0.1/"},
		{"loopback https", "https://127.0.0.1/"},
		{"localhost name", "http://localhost/"},
		{"private 10/8", "http://10.0.0.1/"},
		{"private 192.168", "http://192.168.1.1/"},
		{"private 172.16", "http://172.16.0.1/"},
		{"CGNAT", "http://100.64.0.1/"},
		{"metadata", "http://169.254.169.254/latest/meta-data/"},
		{"IPv6 loopback", "http://[::1]/"},
		{"IPv6 metadata", "http://[fd00:ec2::254]/"},
		{"IPv4-mapped metadata", "http://[::ffff:169.254.169.254]/"},
		{"unspecified", "http://0.0.0.0/"},
		{"multicast", "http://224.0.0.1/"},
		{"port 8080", "http://93.184.216.34:8080/"},
		{"port 22", "https://93.184.216.34:22/"},
		{"scheme file", "file:///etc/passwd"},
		{"scheme gopher", "gopher://93.184.216.34/"},
		{"credentials", "http://user:pass@93.184.216.34/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			c := fetch.New(fetch.Options{Security: rec, Timeout: 5 * time.Second})
			resp, err := c.Get(context.Background(), orgID, tt.url)
			if err == nil {
				t.Fatalf("fetched %s (status %d); want a refusal", tt.url, resp.StatusCode)
			}
			if !errors.Is(err, fetch.ErrRefused) || porthole.ErrorCode(err) != porthole.EFORBIDDEN {
				t.Fatalf("err = %v (code %s); want ErrRefused, EFORBIDDEN", err, porthole.ErrorCode(err))
			}
			evs := rec.all()
			if len(evs) != 1 || evs[0].Kind != porthole.SecSSRFRefused || evs[0].OrgID != orgID {
				t.Fatalf("security events = %+v; want one %s for the org", evs, porthole.SecSSRFRefused)
			}
		})
	}
}

// TestRedirectToMetadataRefused lets the first hop (a test server) through
// the test hook and proves its redirect to the metadata address is refused.
func TestRedirectToMetadataRefused(t *testing.T) {
	for _, target := range []string{"http://169.254.169.254/latest/meta-data/iam", "http://[::1]/", "http://10.1.2.3/", "http://127.0.0.1:80/"} {
		t.Run(target, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target, http.StatusFound)
			}))
			defer srv.Close()
			rec := &recorder{}
			c := fetch.NewForTest(t, fetch.Options{Security: rec, Timeout: 5 * time.Second}, srv.Listener.Addr().String())
			_, err := c.Get(context.Background(), orgID, srv.URL+"/start")
			if !errors.Is(err, fetch.ErrRefused) {
				t.Fatalf("err = %v; want the redirect target refused", err)
			}
			evs := rec.all()
			if len(evs) != 1 || evs[0].Kind != porthole.SecSSRFRefused || !strings.Contains(evs[0].Detail, strings.TrimSuffix(strings.TrimPrefix(target, "http://"), "/latest/meta-data/iam")[:4]) {
				t.Fatalf("events = %+v", evs)
			}
		})
	}
}

func TestRedirectsFollowedAndCapped(t *testing.T) {
	mux := http.NewServeMux()
	var srvURL string
	mux.HandleFunc("GET /hop/{n}", func(w http.ResponseWriter, r *http.Request) {
		n := r.PathValue("n")
		if n == "0" {
			w.Write([]byte("arrived"))
			return
		}
		next := map[string]string{"1": "0", "2": "1", "3": "2", "4": "3", "5": "4", "6": "5"}[n]
		http.Redirect(w, r, srvURL+"/hop/"+next, http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /elsewhere", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+strings.TrimPrefix(srvURL, "http://127.0.0.1")+"/", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	srvURL = srv.URL
	c := fetch.NewForTest(t, fetch.Options{Timeout: 5 * time.Second}, srv.Listener.Addr().String())
	resp, err := c.Get(context.Background(), "", srv.URL+"/hop/5")
	if err != nil || string(resp.Body) != "arrived" || resp.URL.Path != "/hop/0" {
		t.Fatalf("5 redirects: %v %+v", err, resp)
	}
	if _, err := c.Get(context.Background(), "", srv.URL+"/hop/6"); !errors.Is(err, fetch.ErrRefused) {
		t.Fatalf("6 redirects: err = %v; want refused", err)
	}
}

func TestSizeCap(t *testing.T) {
	big := strings.Repeat("a", 2<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/exact" {
			w.Write([]byte(big[:1<<20]))
			return
		}
		w.Write([]byte(big)) // no Content-Length honesty needed: the cap counts bytes
	}))
	defer srv.Close()
	c := fetch.NewForTest(t, fetch.Options{MaxBytes: 1 << 20, Timeout: 5 * time.Second}, srv.Listener.Addr().String())
	if _, err := c.Get(context.Background(), "", srv.URL+"/big"); !errors.Is(err, fetch.ErrTooLarge) || porthole.ErrorCode(err) != porthole.ETOOLARGE {
		t.Fatalf("2 MiB with a 1 MiB cap: err = %v", err)
	}
	resp, err := c.Get(context.Background(), "", srv.URL+"/exact")
	if err != nil || len(resp.Body) != 1<<20 {
		t.Fatalf("exactly the cap: %v", err)
	}
}

func TestTimeCap(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := fetch.NewForTest(t, fetch.Options{Timeout: 200 * time.Millisecond}, srv.Listener.Addr().String())
	start := time.Now()
	_, err := c.Get(context.Background(), "", srv.URL)
	if err == nil || porthole.ErrorCode(err) != porthole.EUNAVAILABLE {
		t.Fatalf("slow body: err = %v; want EUNAVAILABLE", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestTestHookIsNarrow(t *testing.T) {
	// A client allowed one test server still refuses another on loopback.
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("a")) }))
	defer a.Close()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("b")) }))
	defer b.Close()
	c := fetch.NewForTest(t, fetch.Options{Timeout: 5 * time.Second}, a.Listener.Addr().String())
	if resp, err := c.Get(context.Background(), "", a.URL); err != nil || string(resp.Body) != "a" {
		t.Fatalf("allowed server: %v", err)
	}
	if _, err := c.Get(context.Background(), "", b.URL); !errors.Is(err, fetch.ErrRefused) {
		t.Fatalf("other loopback server: err = %v; want refused", err)
	}
}

func TestPostRedirect303BecomesGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/post" {
			http.Redirect(w, r, "/result", http.StatusSeeOther)
			return
		}
		w.Write([]byte(r.Method))
	}))
	defer srv.Close()
	c := fetch.NewForTest(t, fetch.Options{Timeout: 5 * time.Second}, srv.Listener.Addr().String())
	resp, err := c.Do(context.Background(), fetch.Request{Method: http.MethodPost, URL: srv.URL + "/post", Body: []byte("{}")})
	if err != nil || string(resp.Body) != "GET" {
		t.Fatalf("303 after POST: %v %q", err, resp.Body)
	}
}
