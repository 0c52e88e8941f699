package browsertest

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/config"
	"github.com/porthole-chat/porthole/internal/widget/assets"
)

// mustRealPorthole runs the real application (SQLite in a temp dir) with
// its demo: Porthole on 127.0.0.1, the demo host page on 127.0.0.2. It
// returns Porthole's URL, the demo page's URL and the demo business id.
func mustRealPorthole(t *testing.T) (portholeURL, demoURL, business string) {
	t.Helper()
	portholeURL, demoURL, business, _ = mustRealPortholeApp(t)
	return portholeURL, demoURL, business
}

// mustRealPortholeApp is mustRealPorthole that also returns the running app.
func mustRealPortholeApp(t *testing.T) (portholeURL, demoURL, business string, running *app.App) {
	t.Helper()
	r := mustRealDemo(t)
	return r.portholeURL, r.demoURL, r.business, r.app
}

// realDemo is the real application running its demo.
type realDemo struct {
	portholeURL, demoURL, business string
	email, password                string // the demo owner's sign-in, printed once
	app                            *app.App
}

// mustRealDemo runs the real application (SQLite in a temp dir) with its
// demo: Porthole on 127.0.0.1, the demo host page on 127.0.0.2.
func mustRealDemo(t *testing.T) realDemo {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	demoLn, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	demoAddr := demoLn.Addr().String()
	demoLn.Close()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	flags := config.RegisterFlags(fs)
	if err := fs.Parse([]string{"--data-dir", t.TempDir(), "--addr", ln.Addr().String(), "--demo", "--demo-addr", demoAddr}); err != nil {
		t.Fatal(err)
	}
	cfg, err := flags.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := a.StartDemo(ctx, &out); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	business := regexp.MustCompile(`business id: (\S+)`).FindStringSubmatch(out.String())
	signIn := regexp.MustCompile(`dashboard sign-in: (\S+) / (\S+)`).FindStringSubmatch(out.String())
	if business == nil || signIn == nil {
		t.Fatalf("demo printed no business id or sign-in: %s", out.String())
	}
	return realDemo{portholeURL: "http://" + ln.Addr().String(), demoURL: "http://" + demoAddr + "/", business: business[1],
		email: signIn[1], password: signIn[2], app: a}
}

func TestEndToEndDemoStreamsAReply(t *testing.T) {
	b := mustBrowser(t)
	_, demoURL, _ := mustRealPorthole(t)
	if err := chromedp.Do(b.ctx, chromedp.Navigate(demoURL)); err != nil {
		t.Fatal(err)
	}
	mustClickLauncher(t, b.ctx)
	mustFrameReady(t, b.ctx)
	mustSend(t, b.ctx, "hello from the end-to-end test")
	eventually(t, 20*time.Second, "a stored assistant reply", func() (bool, string) {
		msgs, err := messages(b.ctx)
		for _, m := range msgs {
			if strings.Contains(m.Class, "assistant") && m.Seq != "" && m.Seq != "0" && m.Text != "" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v %v", msgs, err)
	})
	var visitors int
	msgs, _ := messages(b.ctx)
	for _, m := range msgs {
		if strings.Contains(m.Class, "visitor") {
			visitors++
		}
	}
	if visitors != 1 {
		t.Errorf("%d visitor bubbles, want 1: %+v", visitors, msgs)
	}
	if p := cspProblems(b); len(p) > 0 {
		t.Errorf("console problems on the demo page: %q", p)
	}
}

func TestEndToEndUnlistedOriginRefused(t *testing.T) {
	b := mustBrowser(t)
	portholeURL, _, business := mustRealPorthole(t)
	// 127.0.0.3 is not on the demo business's allowlist.
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Skipf("no 127.0.0.3 on this machine: %v", err)
	}
	ln.Close()
	copycat := mustHostPageOn(t, ln.Addr().String(), snippetPage(assets.InstallSnippet(portholeURL, business), "", "<h1>Copycat</h1>"))
	if err := chromedp.Do(b.ctx, chromedp.Navigate(copycat)); err != nil {
		t.Fatal(err)
	}
	mustClickLauncher(t, b.ctx)
	time.Sleep(2 * time.Second)
	var ok bool
	if err := inFrame(b.ctx, `!!document.querySelector('textarea')`, &ok); err == nil && ok {
		t.Errorf("the chat UI rendered on an unlisted origin")
	}
	refused := false
	for _, m := range b.console() {
		if strings.Contains(m, "frame-ancestors") || strings.Contains(m, "403") {
			refused = true
		}
	}
	if !refused {
		t.Errorf("no refusal visible in the console: %q", b.console())
	}
}
