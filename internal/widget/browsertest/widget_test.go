package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/porthole-chat/porthole/internal/widget/assets"
)

const testBusiness = "0196a4f2-3c4d-7e5f-8a9b-0c1d2e3f4a5b"

func TestWidgetOpensAndStreams(t *testing.T) {
	b := mustBrowser(t)
	hostURL := ""
	porthole := mustFakePorthole(t, testBusiness) // allowlist set below, once the host URL is known
	hostURL = mustHostPage(t, "", snippetPage(assets.InstallSnippet(porthole.URL, testBusiness), "", "<h1>Shop</h1>"))
	porthole.allowed = []string{hostURL}

	if err := chromedp.Do(b.ctx, chromedp.Navigate(hostURL)); err != nil {
		t.Fatal(err)
	}
	mustClickLauncher(t, b.ctx)
	mustFrameReady(t, b.ctx)
	mustSend(t, b.ctx, "hello there")
	mustSeeReply(t, b.ctx, "You said: hello there")
	msgs, err := messages(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	visitor := 0
	for _, m := range msgs {
		if strings.Contains(m.Class, "visitor") {
			visitor++
			if m.Text != "hello there" || m.Seq == "" || strings.Contains(m.Class, "pending") {
				t.Errorf("visitor bubble %+v, want stored 'hello there'", m)
			}
		}
	}
	if visitor != 1 {
		t.Errorf("%d visitor bubbles, want 1: %+v", visitor, msgs)
	}
	if got := porthole.connects.Load(); got != 1 {
		t.Errorf("%d sockets, want 1", got)
	}
	if p := cspProblems(b); len(p) > 0 {
		t.Errorf("console problems: %q", p)
	}
}

// mustWidgetPage starts the stand-in Porthole and a host page on another
// origin that carries the real install snippet; allow decides whether the
// host page's origin is on the allowlist.
func mustWidgetPage(t *testing.T, allow bool, csp, extraHead, body string) (*browser, *fakePorthole, string) {
	t.Helper()
	b := mustBrowser(t)
	porthole := mustFakePorthole(t, testBusiness)
	hostURL := mustHostPage(t, csp, snippetPage(assets.InstallSnippet(porthole.URL, testBusiness), extraHead, body))
	if allow {
		porthole.allowed = []string{hostURL}
	} else {
		porthole.allowed = []string{"https://shop.example.com"}
	}
	if err := chromedp.Do(b.ctx, chromedp.Navigate(hostURL)); err != nil {
		t.Fatal(err)
	}
	return b, porthole, hostURL
}

func TestWidgetRefusedOnUnlistedOrigin(t *testing.T) {
	b, porthole, _ := mustWidgetPage(t, false, "", "", "<h1>Copycat</h1>")
	mustClickLauncher(t, b.ctx)
	eventually(t, 5*time.Second, "the frame request", func() (bool, string) {
		return porthole.frameRequests.Load() > 0, ""
	})
	time.Sleep(1500 * time.Millisecond)
	if n := porthole.scriptRequests.Load(); n != 0 {
		t.Errorf("the refused frame loaded its script %d times", n)
	}
	if n := porthole.connects.Load(); n != 0 {
		t.Errorf("%d sockets connected from a refused frame", n)
	}
	var ok bool
	err := inFrame(b.ctx, `!!document.querySelector('textarea')`, &ok)
	if err == nil && ok {
		t.Errorf("the chat UI rendered inside a refused frame")
	}
	found := false
	for _, m := range b.console() {
		if strings.Contains(m, "frame-ancestors") {
			found = true
		}
	}
	if !found {
		t.Errorf("no frame-ancestors refusal in the console: %q", b.console())
	}
}

func TestWidgetStrictHostCSP(t *testing.T) {
	// The directives docs/widget.md tells a host page to add, and nothing more.
	csp := ""
	b := mustBrowser(t)
	porthole := mustFakePorthole(t, testBusiness)
	csp = "default-src 'none'; script-src " + porthole.URL + "; style-src 'self'; frame-src " + porthole.URL + "; base-uri 'none'"
	hostURL := mustHostPage(t, csp, snippetPage(assets.InstallSnippet(porthole.URL, testBusiness), "", "<h1>Strict shop</h1>"))
	porthole.allowed = []string{hostURL}
	if err := chromedp.Do(b.ctx, chromedp.Navigate(hostURL)); err != nil {
		t.Fatal(err)
	}
	_, _, width, height := mustClickLauncher(t, b.ctx)
	if width != 56 || height != 56 {
		t.Errorf("launcher is %vx%v under a strict CSP, want 56x56 (styles blocked?)", width, height)
	}
	mustFrameReady(t, b.ctx)
	mustSend(t, b.ctx, "strict hello")
	mustSeeReply(t, b.ctx, "You said: strict hello")
	if p := cspProblems(b); len(p) > 0 {
		t.Errorf("CSP or script problems: %q", p)
	}
}

func TestWidgetHostileHostCSS(t *testing.T) {
	hostile := `<style>
* { all: unset !important; }
button { display: none !important; visibility: hidden !important; }
porthole-launcher, [class], div { display: none !important; opacity: 0 !important; width: 0 !important; transform: scale(0) !important; }
iframe { display: none !important; }
body { font-size: 40px !important; }
</style>`
	b, _, _ := mustWidgetPage(t, true, "", hostile, "<div><button>Host button</button></div>")
	x, y, width, height := mustClickLauncher(t, b.ctx)
	if width != 56 || height != 56 {
		t.Errorf("launcher is %vx%v under hostile CSS, want 56x56", width, height)
	}
	// The bottom-right corner of the viewport, 20px in.
	res, err := chromedp.Call(b.ctx, runtime.Evaluate, runtime.EvaluateParams{Expression: `[innerWidth, innerHeight]`, ReturnByValue: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	var viewport [2]float64
	json.Unmarshal(res.Result.Value, &viewport)
	if x+width != viewport[0]-20 || y+height != viewport[1]-20 {
		t.Errorf("launcher at (%v,%v) in a %v viewport, want 20px from the bottom-right corner", x, y, viewport)
	}
	mustFrameReady(t, b.ctx)
	w, err := findWidget(b.ctx)
	if w.iframe == nil {
		t.Fatalf("no iframe: %v", err)
	}
	_, _, fw, fh, err := box(b.ctx, w.iframe)
	if err != nil || fw < 300 || fh < 400 {
		t.Errorf("chat panel is %vx%v (%v), want a visible panel", fw, fh, err)
	}
	mustSend(t, b.ctx, "still works")
	mustSeeReply(t, b.ctx, "You said: still works")
}

func TestWidgetMarkdownStaysInert(t *testing.T) {
	b, _, _ := mustWidgetPage(t, true, "", "", "")
	mustClickLauncher(t, b.ctx)
	mustFrameReady(t, b.ctx)
	mustSend(t, b.ctx, "markdown please")
	eventually(t, 10*time.Second, "the markdown reply", func() (bool, string) {
		var n int
		err := inFrame(b.ctx, `document.querySelectorAll('.msg.assistant[data-seq]:not(.greeting) li').length`, &n)
		return n == 2, fmt.Sprint(err)
	})
	var got struct {
		Imgs, Links, Strong, Em int
		Href, Rel, Target, Text string
		Pwned                   bool
	}
	err := inFrame(b.ctx, `(() => {
		const m = [...document.querySelectorAll('.msg.assistant[data-seq]')].pop()
		const a = m.querySelectorAll('a')
		return {Imgs: document.querySelectorAll('img').length, Links: a.length, Strong: m.querySelectorAll('strong').length,
			Em: m.querySelectorAll('em').length, Href: a[0] && a[0].href, Rel: a[0] && a[0].rel, Target: a[0] && a[0].target,
			Text: m.textContent, Pwned: !!window.__pwned}
	})()`, &got)
	if err != nil {
		t.Fatal(err)
	}
	if got.Imgs != 0 || got.Pwned {
		t.Errorf("markup from the reply became live: %+v", got)
	}
	if got.Links != 1 || got.Href != "https://example.com/docs" || got.Rel != "noopener noreferrer" || got.Target != "_blank" {
		t.Errorf("links: %+v, want one https link with rel=noopener noreferrer target=_blank", got)
	}
	if got.Strong != 1 || got.Em != 1 {
		t.Errorf("bold/italic: %+v", got)
	}
	for _, inert := range []string{"[bad](javascript:alert(1))", `<img src=x onerror="window.__pwned=1">`} {
		if !strings.Contains(got.Text, inert) {
			t.Errorf("%q not shown as text in %q", inert, got.Text)
		}
	}
}

func TestWidgetCancelAndFollowUp(t *testing.T) {
	b, _, _ := mustWidgetPage(t, true, "", "", "")
	mustClickLauncher(t, b.ctx)
	mustFrameReady(t, b.ctx)
	mustSend(t, b.ctx, "slow please")
	eventually(t, 10*time.Second, "the stop button", func() (bool, string) {
		var visible bool
		err := inFrame(b.ctx, `!document.querySelector('.stop').hidden && !!document.querySelector('.msg[aria-busy]')`, &visible)
		return visible, fmt.Sprint(err)
	})
	if err := inFrame(b.ctx, `(document.querySelector('.stop').click(), true)`, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the canceled turn", func() (bool, string) {
		var state struct {
			Stopped bool
			Hidden  bool
		}
		err := inFrame(b.ctx, `({Stopped: [...document.querySelectorAll('.note')].some(n => n.textContent == '(stopped)'), Hidden: document.querySelector('.stop').hidden})`, &state)
		return state.Stopped && state.Hidden, fmt.Sprintf("%+v %v", state, err)
	})
	// A follow-up while a reply streams cancels it and is answered.
	mustSend(t, b.ctx, "slow again")
	eventually(t, 10*time.Second, "the second stream", func() (bool, string) {
		var busy bool
		err := inFrame(b.ctx, `!!document.querySelector('.msg[aria-busy]')`, &busy)
		return busy, fmt.Sprint(err)
	})
	mustSend(t, b.ctx, "follow-up")
	mustSeeReply(t, b.ctx, "You said: follow-up")
}

func TestWidgetInlineForm(t *testing.T) {
	b, _, _ := mustWidgetPage(t, true, "", "", "")
	mustClickLauncher(t, b.ctx)
	mustFrameReady(t, b.ctx)
	mustSend(t, b.ctx, "form please")
	eventually(t, 10*time.Second, "the form", func() (bool, string) {
		var n int
		err := inFrame(b.ctx, `document.querySelectorAll('form.form input').length`, &n)
		return n == 2, fmt.Sprint(err)
	})
	// Client hint first, then the server's own verdict, then acceptance.
	var hint string
	if err := inFrame(b.ctx, `(() => { const f = document.querySelector('form.form'); f.requestSubmit(); return f.querySelector('.field-error').textContent })()`, &hint); err != nil || hint == "" {
		t.Errorf("no client hint for an empty required field (%q, %v)", hint, err)
	}
	if err := inFrame(b.ctx, `(() => { const f = document.querySelector('form.form'); f.querySelector('[name=name]').value = 'Ana'; f.querySelector('[name=email]').value = 'ana@x'; f.requestSubmit(); return true })()`, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the server's validation error", func() (bool, string) {
		var text string
		err := inFrame(b.ctx, `(document.querySelector('form.form [name=email]').getAttribute('aria-invalid') == 'true' && document.querySelectorAll('.field-error')[1].textContent) || ''`, &text)
		return text == "server says: not an email", fmt.Sprint(text, err)
	})
	if err := inFrame(b.ctx, `(() => { const f = document.querySelector('form.form'); f.querySelector('[name=email]').value = 'ana@example.com'; f.requestSubmit(); return true })()`, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the accepted form", func() (bool, string) {
		var done bool
		err := inFrame(b.ctx, `!!document.querySelector('.form-done')`, &done)
		return done, fmt.Sprint(err)
	})
}

func TestWidgetKeyboard(t *testing.T) {
	b, _, _ := mustWidgetPage(t, true, "", "", "")
	var w widgetNodes
	eventually(t, 10*time.Second, "the launcher", func() (bool, string) {
		var err error
		w, err = findWidget(b.ctx)
		return err == nil && w.button != nil, fmt.Sprint(err)
	})
	if _, err := chromedp.Call(b.ctx, dom.Focus, dom.FocusParams{BackendNodeID: w.button.BackendNodeID}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(b.ctx, chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	mustFrameReady(t, b.ctx)
	eventually(t, 10*time.Second, "focus in the composer", func() (bool, string) {
		var focused bool
		err := inFrame(b.ctx, `document.hasFocus() && document.activeElement == document.querySelector('textarea')`, &focused)
		return focused, fmt.Sprint(err)
	})
	var expanded string
	mustAttr := func(name string) string {
		w, _ := findWidget(b.ctx)
		var v string
		if err := callOn(b.ctx, w.button, `function(){ return this.getAttribute('`+name+`') }`, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if expanded = mustAttr("aria-expanded"); expanded != "true" {
		t.Errorf("aria-expanded = %q after opening", expanded)
	}
	if label := mustAttr("aria-label"); label != "Chat" {
		t.Errorf("aria-label = %q", label)
	}
	if err := chromedp.Do(b.ctx, chromedp.KeyEvent("\x1b")); err != nil { // Escape, inside the frame
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the panel to close", func() (bool, string) {
		return mustAttr("aria-expanded") == "false", ""
	})
	var active string
	if err := chromedp.Do(b.ctx); err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.Call(b.ctx, runtime.Evaluate, runtime.EvaluateParams{Expression: `document.activeElement.tagName`, ReturnByValue: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(res.Result.Value, &active)
	if active != "PORTHOLE-LAUNCHER" {
		t.Errorf("focus after close is on %s, want back on the launcher", active)
	}
}

func TestWidgetIgnoresForeignMessages(t *testing.T) {
	// Well-formed widget messages that do not come from the frame (here:
	// from the host page itself) must be dropped: wrong origin and source.
	b, _, _ := mustWidgetPage(t, true, "", "", "")
	mustClickLauncher(t, b.ctx)
	mustFrameReady(t, b.ctx)
	// Messages from the host page itself (same window, not the frame) with a
	// forged shape and a forged unread count.
	if _, err := chromedp.Call(b.ctx, runtime.Evaluate, runtime.EvaluateParams{Expression: `
		window.postMessage({porthole: 1, type: 'unread', count: 7}, '*');
		window.postMessage({porthole: 1, type: 'close'}, '*');
		true`}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	w, _ := findWidget(b.ctx)
	var state struct{ Expanded, Label string }
	if err := callOn(b.ctx, w.button, `function(){ return {Expanded: this.getAttribute('aria-expanded'), Label: this.getAttribute('aria-label')} }`, &state); err != nil {
		t.Fatal(err)
	}
	if state.Expanded != "true" || state.Label != "Chat" {
		t.Errorf("forged messages changed the launcher: %+v", state)
	}
}

// conversationTexts lists the stored bubbles' texts (greeting excluded).
func conversationTexts(t *testing.T, ctx context.Context) []string {
	t.Helper()
	msgs, err := messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		if m.Seq != "" && m.Seq != "0" {
			out = append(out, m.Text)
		}
	}
	return out
}

func mustConversation(t *testing.T, ctx context.Context, want ...string) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("conversation %q", want), func() (bool, string) {
		got := conversationTexts(t, ctx)
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("%q", got)
	})
}

func TestWidgetTwoTabsOneSocket(t *testing.T) {
	b, porthole, hostURL := mustWidgetPage(t, true, "", "", "")
	// The first tab owns the browser; the tabs under test are closable ones.
	if err := chromedp.Do(b.ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	tab1, closeTab1 := b.newTab(t)
	if err := chromedp.Do(tab1, chromedp.Navigate(hostURL)); err != nil {
		t.Fatal(err)
	}
	mustClickLauncher(t, tab1)
	mustFrameReady(t, tab1)
	mustSend(t, tab1, "from tab one")
	mustSeeReply(t, tab1, "You said: from tab one")

	tab2, _ := b.newTab(t)
	if err := chromedp.Do(tab2, chromedp.Navigate(hostURL)); err != nil {
		t.Fatal(err)
	}
	mustClickLauncher(t, tab2)
	mustFrameReady(t, tab2)
	// The new tab shows the conversation so far, from the leader tab.
	mustConversation(t, tab2, "from tab one", "You said: from tab one")
	mustSend(t, tab2, "from tab two")
	want := []string{"from tab one", "You said: from tab one", "from tab two", "You said: from tab two"}
	mustConversation(t, tab2, want...)
	mustConversation(t, tab1, want...)
	if n := porthole.connects.Load(); n != 1 {
		t.Errorf("%d sockets for two tabs of one browser, want 1", n)
	}

	// Hand-over: the leader tab closes, the other takes the lock, connects
	// and resumes after what it has already seen (3 events per turn).
	closeTab1()
	// A socket counts as open when it is accepted; its hello comes after.
	eventually(t, 10*time.Second, "the second tab to take over the socket", func() (bool, string) {
		return porthole.connects.Load() == 2 && porthole.open.Load() == 1 && len(porthole.helloSeqs()) == 2,
			fmt.Sprint(porthole.connects.Load(), porthole.open.Load(), porthole.helloSeqs())
	})
	if seqs := porthole.helloSeqs(); seqs[len(seqs)-1] != 6 {
		t.Errorf("hellos %v: the new leader should resume after seq 6", seqs)
	}
	mustSend(t, tab2, "after hand-over")
	mustConversation(t, tab2, append(want, "after hand-over", "You said: after hand-over")...)
}

func TestWidgetReconnectAndReloadResume(t *testing.T) {
	b, porthole, _ := mustWidgetPage(t, true, "", "", "")
	mustClickLauncher(t, b.ctx)
	mustFrameReady(t, b.ctx)
	mustSend(t, b.ctx, "first")
	mustSeeReply(t, b.ctx, "You said: first")

	// The network drops the socket: the frame reconnects and resumes from
	// the last seq it rendered, and nothing shows twice.
	porthole.dropAll()
	eventually(t, 10*time.Second, "the reconnect", func() (bool, string) {
		return porthole.connects.Load() == 2 && porthole.open.Load() == 1 && len(porthole.helloSeqs()) == 2,
			fmt.Sprint(porthole.connects.Load(), porthole.helloSeqs())
	})
	if seqs := porthole.helloSeqs(); len(seqs) != 2 || seqs[1] != 3 {
		t.Errorf("hellos %v, want [0 3]", seqs)
	}
	mustSend(t, b.ctx, "second")
	want := []string{"first", "You said: first", "second", "You said: second"}
	mustConversation(t, b.ctx, want...)

	// A reload shows the whole conversation again, once.
	if err := chromedp.Do(b.ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	mustClickLauncher(t, b.ctx)
	mustFrameReady(t, b.ctx)
	mustConversation(t, b.ctx, want...)
}
