package dashboard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/testenv"
)

// mustServe starts the real application on a loopback port and returns it
// with its base URL; it stops when the test ends.
func mustServe(tb testing.TB) (*app.App, string) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	a := mustApp(tb, "--public-url", base)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln, nil) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	return a, base
}

// consoleLog collects what a tab reports to its console and log.
type consoleLog struct {
	mu       sync.Mutex
	messages []string
}

func (c *consoleLog) add(s string) {
	c.mu.Lock()
	c.messages = append(c.messages, s)
	c.mu.Unlock()
}

func (c *consoleLog) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.messages...)
}

// mustChromium starts headless Chromium with a fresh profile and records
// its console, where CSP violations are reported.
func mustChromium(tb testing.TB) (context.Context, *consoleLog) {
	tb.Helper()
	path := testenv.ChromiumPath(tb)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // tests run as root in CI containers
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(tb.TempDir()),
	)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	tb.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	logs := &consoleLog{}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *log.EventEntryAdded:
			logs.add(ev.Entry.Text)
		case *runtime.EventConsoleAPICalled:
			var b strings.Builder
			for _, arg := range ev.Args {
				b.Write(arg.Value)
				b.WriteByte(' ')
			}
			logs.add(b.String())
		case *runtime.EventExceptionThrown:
			logs.add("exception: " + ev.ExceptionDetails.Text)
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		tb.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		tb.Fatal(err)
	}
	return ctx, logs
}

func mustDo(tb testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}

func mustText(tb testing.TB, ctx context.Context, sel string) string {
	tb.Helper()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		tb.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// TestBrowserSignInToSignOut walks the dashboard in headless Chromium as
// an owner: sign in, create a chatbot, add an origin, copy the install
// snippet, sign out; then the cookie the browser held is replayed and
// must no longer work. No page may report a CSP violation.
func TestBrowserSignInToSignOut(t *testing.T) {
	ctx, logs := mustChromium(t)
	a, base := mustServe(t)
	org := mustOrg(t, a, "Smile Clinic")
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	u, err := a.DB.CreateUser(context.Background(), "owner@smile.example", "Olga Owner", hash)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.DB.Tenant(org.ID).AddMember(context.Background(), u.ID, porthole.RoleOwner); err != nil {
		t.Fatal(err)
	}
	// Let the copy button use the async clipboard without a prompt.
	for _, name := range []string{"clipboard-write", "clipboard-read"} {
		_, _ = chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: base,
		})
	}

	mustDo(t, ctx, "sign in",
		chromedp.Navigate(base+"/app/chatbots"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), "owner@smile.example"),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS(`form[action="/app/sign-in"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("chatbot-name")),
	)

	mustDo(t, ctx, "create a chatbot",
		chromedp.SendKeys(chromedp.ID("chatbot-name"), "Front desk"),
		chromedp.Click(chromedp.CSS(`form[action="/app/chatbots"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("rename")),
	)
	if h := mustText(t, ctx, "main h1"); h != "Front desk" {
		t.Fatalf("chatbot page heading %q", h)
	}

	mustDo(t, ctx, "add an origin",
		chromedp.Navigate(base+"/app/origins"),
		chromedp.WaitVisible(chromedp.ID("origin")),
		chromedp.SendKeys(chromedp.ID("origin"), "https://smile.example"),
		chromedp.Click(chromedp.CSS(`form[action="/app/origins"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".notice.success")),
	)
	if cell := mustText(t, ctx, "main table td.mono"); cell != "https://smile.example" {
		t.Fatalf("origin listed as %q", cell)
	}

	mustDo(t, ctx, "copy the snippet", chromedp.Click(chromedp.CSS(`button[data-copy="install-snippet"]`)))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('[data-copy-status="install-snippet"]').textContent !== ''`)); err != nil {
		t.Fatalf("copy status: %v", err)
	}
	snippet := mustText(t, ctx, "#install-snippet")
	if !strings.Contains(snippet, `integrity="sha384-`) || !strings.Contains(snippet, `data-business="`+org.ID+`"`) || !strings.HasPrefix(snippet, `<script src="`+base+`/widget/v1/loader.js"`) {
		t.Fatalf("snippet %q", snippet)
	}
	if status := mustText(t, ctx, `[data-copy-status="install-snippet"]`); status != "Copied." {
		t.Errorf("copy button said %q", status)
	}

	mustDo(t, ctx, "open the contacts",
		chromedp.Navigate(base+"/app/contacts"),
		chromedp.WaitVisible(chromedp.ID("contacts-q")),
	)

	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/app/"}})
	if err != nil {
		t.Fatal(err)
	}
	var old *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == auth.SessionCookieInsecure {
			old = c
		}
	}
	if old == nil || !old.HTTPOnly || old.SameSite != network.CookieSameSiteLax {
		t.Fatalf("session cookie %+v: want HttpOnly and SameSite=Lax", old)
	}

	mustDo(t, ctx, "sign out",
		chromedp.Click(chromedp.CSS(`form[action="/app/sign-out"] button`)),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	if msg := mustText(t, ctx, ".notice.success"); msg != "You are signed out." {
		t.Fatalf("after sign-out: %q", msg)
	}

	req, err := http.NewRequest("GET", base+"/app/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: old.Name, Value: old.Value})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/app/sign-in") {
		t.Fatalf("the old cookie still works: %d Location %q", res.StatusCode, loc)
	}

	for _, m := range logs.all() {
		if strings.Contains(m, "Content Security Policy") || strings.Contains(m, "Content-Security-Policy") {
			t.Errorf("CSP violation reported: %s", m)
		}
		if strings.HasPrefix(m, "exception:") {
			t.Errorf("script error: %s", m)
		}
	}
	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("browser steps timed out")
	}

	// Control: an inline style forced into the page must be refused and
	// reported, so the silence above means something.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.createElement('style'); s.textContent = 'body{color:red}'; document.head.appendChild(s); return true })()`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`getComputedStyle(document.body).color !== 'rgb(255, 0, 0)'`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		reported := false
		for _, m := range logs.all() {
			reported = reported || strings.Contains(m, "Content Security Policy")
		}
		if reported {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a forced inline style was not reported; console: %q", logs.all())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
