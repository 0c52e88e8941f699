package browsertest

// The agent inbox end to end (issue 5, item 7): a visitor on the demo host
// page and an agent in the dashboard, two tabs of one headless Chromium,
// against the real application (mustRealDemo), signed in as the demo owner.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// demoWithOwner is the real application with its demo, and the demo
// owner's dashboard sign-in.
type demoWithOwner struct {
	portholeURL, demoURL string
	email, password      string
}

// mustDemoWithOwner starts the real demo and returns its URLs and the
// owner's sign-in.
func mustDemoWithOwner(t *testing.T) demoWithOwner {
	t.Helper()
	r := mustRealDemo(t)
	return demoWithOwner{portholeURL: r.portholeURL, demoURL: r.demoURL, email: r.email, password: r.password}
}

// evalIn evaluates a JavaScript expression in a tab's page into out.
func evalIn[T any](ctx context.Context, expr string, out *T) error {
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err == nil {
		*out = v
	}
	return err
}

// mustNotice waits for the dashboard's success notice to contain want
// (the page after a post/redirect/get).
func mustNotice(tb testing.TB, ctx context.Context, want string) {
	tb.Helper()
	eventually(tb, 10*time.Second, "notice "+want, func() (bool, string) {
		var text string
		err := evalIn(ctx, `(document.querySelector('.notice') || {textContent: ''}).textContent`, &text)
		return strings.Contains(text, want), fmt.Sprint(text, err)
	})
}

// countRole counts stored bubbles of a role in the widget.
func countRole(ctx context.Context, role string) (int, []chatMessage, error) {
	msgs, err := messages(ctx)
	n := 0
	for _, m := range msgs {
		if strings.Contains(m.Class, role) && m.Seq != "" && m.Seq != "0" {
			n++
		}
	}
	return n, msgs, err
}

func TestEndToEndAgentTakesOverFromInbox(t *testing.T) {
	b := mustBrowser(t)
	demo := mustDemoWithOwner(t)
	visitor := b.ctx
	agent, _ := b.newTab(t)

	// The agent signs in and watches the waiting tab of the inbox.
	if err := chromedp.Do(agent,
		chromedp.Navigate(demo.portholeURL+"/app/sign-in"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SetValue(chromedp.CSS(`#email`), demo.email),
		chromedp.SetValue(chromedp.CSS(`#password`), demo.password),
		chromedp.Click(chromedp.CSS(`form button[type=submit].primary`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.side`)),
		chromedp.Navigate(demo.portholeURL+"/app/inbox?state=waiting"),
		chromedp.WaitVisible(chromedp.CSS(`table[data-inbox-list]`)),
	); err != nil {
		t.Fatalf("agent sign-in and inbox: %v", err)
	}
	eventually(t, 10*time.Second, "the inbox's live stream", func() (bool, string) {
		var text string
		err := evalIn(agent, `document.querySelector('[data-live-status]').textContent`, &text)
		return strings.HasPrefix(text, "Live"), fmt.Sprint(text, err)
	})

	// The visitor asks for a person.
	if err := chromedp.Do(visitor, chromedp.Navigate(demo.demoURL)); err != nil {
		t.Fatal(err)
	}
	mustClickLauncher(t, visitor)
	mustFrameReady(t, visitor)
	mustSend(t, visitor, "I want to talk to a human")

	// It appears in the waiting tab without a reload.
	var path string
	eventually(t, 10*time.Second, "the conversation in the waiting list", func() (bool, string) {
		err := evalIn(agent, `(function(){ var a = document.querySelector('[data-inbox-rows] tr[data-state="waiting"] a'); return a ? a.getAttribute('href') : '' })()`, &path)
		return path != "", fmt.Sprint(err)
	})

	// The agent opens it and takes over.
	if err := chromedp.Do(agent,
		chromedp.Navigate(demo.portholeURL+path),
		chromedp.WaitVisible(chromedp.CSS(`[data-transcript]`)),
		chromedp.SetValue(chromedp.CSS(`#action-reason`), "visitor asked for a person"),
		chromedp.Click(chromedp.CSS(`button[formaction$="/take-over"]`)),
	); err != nil {
		t.Fatalf("take over: %v", err)
	}
	mustNotice(t, agent, "You took over")
	assistantBefore, _, _ := countRole(visitor, "assistant")

	// The agent replies; the visitor sees it.
	const reply = "Hello, this is Ana from the front desk. How can I help?"
	if err := chromedp.Do(agent,
		chromedp.SetValue(chromedp.CSS(`#reply-text`), reply),
		chromedp.Click(chromedp.CSS(`form[data-reply-form] button[type=submit]`)),
	); err != nil {
		t.Fatalf("reply: %v", err)
	}
	mustNotice(t, agent, "Reply sent")
	eventually(t, 10*time.Second, "the agent's reply in the widget", func() (bool, string) {
		msgs, err := messages(visitor)
		for _, m := range msgs {
			if strings.Contains(m.Class, "agent") && m.Text == reply {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v %v", msgs, err)
	})

	// The visitor writes again: the agent sees it live, the assistant says nothing.
	const question = "Can I move my appointment to Friday?"
	mustSend(t, visitor, question)
	eventually(t, 10*time.Second, "the visitor's message in the agent's transcript", func() (bool, string) {
		var texts []string
		err := evalIn(agent, `[...document.querySelectorAll('[data-transcript] li.role-visitor .text')].map(p => p.textContent)`, &texts)
		for _, s := range texts {
			if s == question {
				return true, ""
			}
		}
		return false, fmt.Sprint(texts, err)
	})
	// The builtin demo assistant starts answering within a second; give it
	// a few to be sure it stays silent.
	silentUntil := time.Now().Add(3 * time.Second)
	for time.Now().Before(silentUntil) {
		n, msgs, err := countRole(visitor, "assistant")
		if err == nil && n > assistantBefore {
			t.Fatalf("the assistant answered while the agent held the conversation: %+v", msgs)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The agent releases; the assistant answers the next message.
	if err := chromedp.Do(agent,
		chromedp.WaitVisible(chromedp.CSS(`button[formaction$="/release"]`)),
		chromedp.Click(chromedp.CSS(`button[formaction$="/release"]`)),
	); err != nil {
		t.Fatalf("release: %v", err)
	}
	mustNotice(t, agent, "returned to the assistant")
	mustSend(t, visitor, "What are your opening hours?")
	eventually(t, 20*time.Second, "an assistant answer after the release", func() (bool, string) {
		n, msgs, err := countRole(visitor, "assistant")
		return n > assistantBefore, fmt.Sprintf("%+v %v", msgs, err)
	})
	if p := cspProblems(b); len(p) > 0 {
		t.Errorf("console problems (CSP, exceptions) in the widget or dashboard: %q", p)
	}
}
