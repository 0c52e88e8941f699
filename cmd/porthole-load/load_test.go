package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/config"
)

// mustServe runs the real app with its demo business on loopback and
// returns its URL, metrics URL, business id and allowed parent origin.
func mustServe(tb testing.TB) (target, metrics, business, parent string) {
	tb.Helper()
	s := mustServeApp(tb)
	return s.target, s.metrics, s.business, s.parent
}

// served is a running app and where to reach it.
type served struct {
	app                               *app.App
	target, metrics, business, parent string
}

// mustServeApp is mustServe with extra serve flags, returning the app too.
func mustServeApp(tb testing.TB, flags ...string) served {
	tb.Helper()
	ln := mustListen(tb)
	metricsLn := mustListen(tb)
	demoLn := mustListen(tb)
	demoAddr := demoLn.Addr().String()
	demoLn.Close() // StartDemo listens on it again
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f := config.RegisterFlags(fs)
	if err := fs.Parse(append([]string{"--data-dir", tb.TempDir(), "--addr", ln.Addr().String(), "--demo-addr", demoAddr,
		"--widget-connect-limit-per-ip", "1000"}, flags...)); err != nil {
		tb.Fatal(err)
	}
	cfg, err := f.Load(func(string) string { return "" })
	if err != nil {
		tb.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatalf("app.Open: %v", err)
	}
	var out bytes.Buffer
	if err := a.StartDemo(context.Background(), &out); err != nil {
		tb.Fatalf("StartDemo: %v", err)
	}
	m := regexp.MustCompile(`business id: (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		tb.Fatalf("no business id in %q", out.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln, metricsLn) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Serve: %v", err)
		}
		a.Close()
	})
	return served{app: a, target: "http://" + ln.Addr().String(), metrics: "http://" + metricsLn.Addr().String() + "/metrics",
		business: m[1], parent: "http://" + demoAddr}
}

func mustListen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}

// TestLoadSmoke runs both modes with a few dozen sockets against the real app.
func TestLoadSmoke(t *testing.T) {
	target, metrics, business, parent := mustServe(t)
	tests := []struct {
		name  string
		mode  string
		tabs  int
		check func(t *testing.T, r report)
	}{
		{name: "idle", mode: "idle", tabs: 1, check: func(t *testing.T, r report) {
			if r.Memory == nil || r.Memory.After.Goroutines <= r.Memory.Before.Goroutines {
				t.Errorf("memory = %+v, want a sample with more goroutines after", r.Memory)
			}
		}},
		{name: "fanout", mode: "fanout", tabs: 2, check: func(t *testing.T, r report) {
			if r.Sent != r.Sessions || r.Delivered != r.Sent || r.P50 <= 0 || r.Max < r.P99 {
				t.Errorf("fan-out sent %d delivered %d of %d sessions, p50 %s p99 %s max %s", r.Sent, r.Delivered, r.Sessions, r.P50, r.P99, r.Max)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := options{Target: target, Business: business, Parent: parent, Metrics: metrics, Sockets: 50, Tabs: tt.tabs,
				Sources: []string{"127.0.0.1"}, Mode: tt.mode, Duration: 10 * time.Second, Concurrency: 8, Rate: 1000}
			if tt.mode == "idle" {
				opts.Duration = 100 * time.Millisecond
			}
			if err := opts.validate(); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			r, err := run(context.Background(), opts, &out)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			if r.Opened != 50 || len(r.Failures) != 0 {
				t.Fatalf("opened %d of 50, failures %v\n%s", r.Opened, r.Failures, out.String())
			}
			tt.check(t, r)
			r.print(&out)
			if !strings.Contains(out.String(), "connects: 50") {
				t.Errorf("report lacks the connect count:\n%s", out.String())
			}
		})
	}
}

func TestValidateRefusesOutsideLoopback(t *testing.T) {
	tests := []struct {
		name string
		opts options
	}{
		{name: "remote target", opts: options{Target: "http://10.0.0.1:8080", Sources: []string{"127.0.0.1"}}},
		{name: "remote metrics", opts: options{Target: "http://127.0.0.1:8080", Metrics: "http://example.com/metrics", Sources: []string{"127.0.0.1"}}},
		{name: "remote source", opts: options{Target: "http://127.0.0.1:8080", Sources: []string{"192.168.1.2"}}},
		{name: "too many sockets", opts: options{Target: "http://127.0.0.1:8080", Sources: []string{"127.0.0.1"}, Sockets: maxSockets + 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.Business, o.Mode, o.Tabs, o.Concurrency, o.Rate, o.Duration = "b", "idle", 1, 1, 1, time.Second
			if o.Sockets == 0 {
				o.Sockets = 1
			}
			if err := o.validate(); err == nil {
				t.Error("validate accepted it")
			}
		})
	}
}
