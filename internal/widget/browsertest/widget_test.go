package browsertest

import (
	"strings"
	"testing"
	"time"

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
	_ = time.Second
}
