package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/porthole-chat/porthole/internal/testenv"
)

// browser is one headless Chromium with a fresh profile, and what its pages
// reported to the console (CSP violations show up there).
type browser struct {
	ctx context.Context // the first tab

	mu       sync.Mutex
	messages []string
}

func mustBrowser(tb testing.TB) *browser {
	tb.Helper()
	path := testenv.ChromiumPath(tb)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // root in CI containers
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		// Keep cross-origin frames in the page's process so the DevTools DOM
		// reaches into them; it changes process layout, not web-platform
		// rules (CSP, sandbox, origins).
		chromedp.Flag("disable-site-isolation-trials", true),
		chromedp.Flag("disable-features", "IsolateOrigins,site-per-process"),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	tb.Cleanup(func() { cancelCtx(); cancelAlloc() })
	b := &browser{ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	b.listen(tb, ctx)
	return b
}

// listen records console output, exceptions and log entries of a tab.
func (b *browser) listen(tb testing.TB, ctx context.Context) {
	tb.Helper()
	err := chromedp.Listen(ctx, func(ev any) {
		var text string
		switch ev := ev.(type) {
		case *log.EventEntryAdded:
			text = ev.Entry.Text
		case *runtime.EventConsoleAPICalled:
			for _, arg := range ev.Args {
				text += string(arg.Value) + " "
			}
		case *runtime.EventExceptionThrown:
			text = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				text += " " + ev.ExceptionDetails.Exception.Description
			}
		default:
			return
		}
		b.mu.Lock()
		b.messages = append(b.messages, text)
		b.mu.Unlock()
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
}

// newTab opens another tab in the same profile.
func (b *browser) newTab(tb testing.TB) (context.Context, context.CancelFunc) {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	tb.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatal(err)
	}
	b.listen(tb, ctx)
	return ctx, cancel
}

func (b *browser) console() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.messages...)
}

// mustHostPage serves html on 127.0.0.2 (another site than Porthole's
// 127.0.0.1) with an optional Content-Security-Policy, and returns its URL.
func mustHostPage(tb testing.TB, csp, html string) string {
	tb.Helper()
	return mustHostPageCSP(tb, "127.0.0.2:0", csp, html)
}

// mustHostPageOn serves html without a CSP on addr.
func mustHostPageOn(tb testing.TB, addr, html string) string {
	tb.Helper()
	return mustHostPageCSP(tb, addr, "", html)
}

func mustHostPageCSP(tb testing.TB, addr, csp, html string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if csp != "" {
			w.Header().Set("Content-Security-Policy", csp)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, html)
	})}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// widgetNodes finds, through the closed shadow root, the launcher button
// and (once injected) the iframe's document.
type widgetNodes struct {
	host, button, panel, iframe, frameDoc *cdp.Node
}

func findWidget(ctx context.Context) (widgetNodes, error) {
	var w widgetNodes
	res, err := chromedp.Call(ctx, dom.GetDocument, dom.GetDocumentParams{Depth: ptr(int64(-1)), Pierce: ptr(true)})
	if err != nil {
		return w, err
	}
	root := res.Root
	{
		var walk func(n *cdp.Node, inWidget bool)
		walk = func(n *cdp.Node, inWidget bool) {
			if n.NodeName == "PORTHOLE-LAUNCHER" {
				w.host = n
				inWidget = true
			}
			if inWidget {
				switch n.NodeName {
				case "BUTTON":
					if w.button == nil {
						w.button = n
					}
				case "DIV":
					if w.panel == nil {
						w.panel = n
					}
				case "IFRAME":
					w.iframe = n
					w.frameDoc = n.ContentDocument
					return
				}
			}
			for _, c := range n.ShadowRoots {
				walk(c, inWidget)
			}
			for _, c := range n.Children {
				walk(c, inWidget)
			}
		}
		walk(root, false)
	}
	return w, nil
}

func ptr[T any](v T) *T { return &v }

// box returns an element's border box in CSS pixels (x, y, width, height).
func box(ctx context.Context, n *cdp.Node) (x, y, width, height float64, err error) {
	res, err := chromedp.Call(ctx, dom.GetBoxModel, dom.GetBoxModelParams{BackendNodeID: n.BackendNodeID})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	q := res.Model.Border
	return q[0], q[1], q[2] - q[0], q[5] - q[1], nil
}

// callOn runs fn (a JavaScript function expression) with this = the node,
// in the node's own frame, and decodes its JSON-able result into out.
func callOn(ctx context.Context, n *cdp.Node, fn string, out any) error {
	obj, err := chromedp.Call(ctx, dom.ResolveNode, dom.ResolveNodeParams{BackendNodeID: n.BackendNodeID})
	if err != nil {
		return err
	}
	res, err := chromedp.Call(ctx, runtime.CallFunctionOn, runtime.CallFunctionOnParams{
		FunctionDeclaration: fn, ObjectID: obj.Object.ObjectID, ReturnByValue: ptr(true), AwaitPromise: ptr(true),
	})
	if err != nil {
		return err
	}
	if exc := res.ExceptionDetails; exc != nil {
		if exc.Exception != nil {
			return fmt.Errorf("%s: %s", exc.Text, exc.Exception.Description)
		}
		return fmt.Errorf("%s", exc.Text)
	}
	if out == nil || len(res.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(res.Result.Value, out)
}

// inFrame evaluates a JavaScript expression in the widget frame's document.
func inFrame(ctx context.Context, expr string, out any) error {
	w, err := findWidget(ctx)
	if err != nil {
		return err
	}
	if w.frameDoc == nil {
		return fmt.Errorf("no widget frame document")
	}
	return callOn(ctx, w.frameDoc, "function(){ return ("+expr+") }", out)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(tb testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("timed out waiting for %s; last state: %s", what, last)
}

// mustClickLauncher clicks the middle of the launcher as a user would
// (hit-tested at page coordinates) and returns its box.
func mustClickLauncher(tb testing.TB, ctx context.Context) (x, y, width, height float64) {
	tb.Helper()
	var w widgetNodes
	eventually(tb, 10*time.Second, "the launcher", func() (bool, string) {
		var err error
		w, err = findWidget(ctx)
		return err == nil && w.button != nil, fmt.Sprint(err)
	})
	x, y, width, height, err := box(ctx, w.button)
	if err != nil {
		tb.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(x+width/2, y+height/2)); err != nil {
		tb.Fatal(err)
	}
	return x, y, width, height
}

// mustFrameReady waits for the chat UI inside the frame.
func mustFrameReady(tb testing.TB, ctx context.Context) {
	tb.Helper()
	eventually(tb, 10*time.Second, "the chat frame", func() (bool, string) {
		var ok bool
		err := inFrame(ctx, `!!document.querySelector('textarea')`, &ok)
		return ok, fmt.Sprint(err)
	})
}

// mustSend types text into the composer and presses Enter.
func mustSend(tb testing.TB, ctx context.Context, text string) {
	tb.Helper()
	if err := inFrame(ctx, `(document.querySelector('textarea').focus(), true)`, nil); err != nil {
		tb.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text}); err != nil {
		tb.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\r")); err != nil {
		tb.Fatal(err)
	}
}

type chatMessage struct {
	Class string `json:"class"`
	Text  string `json:"text"`
	Seq   string `json:"seq"`
}

const listMessages = `[...document.querySelectorAll('.log .msg')].map(m => ({class: m.className, text: m.querySelector('.body').textContent, seq: m.dataset.seq || ''}))`

func messages(ctx context.Context) ([]chatMessage, error) {
	var out []chatMessage
	err := inFrame(ctx, listMessages, &out)
	return out, err
}

// mustSeeReply waits until an assistant bubble with exactly want is stored.
func mustSeeReply(tb testing.TB, ctx context.Context, want string) {
	tb.Helper()
	eventually(tb, 10*time.Second, "reply "+want, func() (bool, string) {
		msgs, err := messages(ctx)
		for _, m := range msgs {
			if strings.Contains(m.Class, "assistant") && m.Text == want && m.Seq != "" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%v %v", msgs, err)
	})
}

func snippetPage(snippet, extraHead, body string) string {
	return "<!doctype html><html><head><meta charset=utf-8><title>Shop</title>" + extraHead + "</head><body>" + body + snippet + "</body></html>"
}

func cspProblems(b *browser) []string {
	var out []string
	for _, m := range b.console() {
		if strings.Contains(m, "Content Security Policy") || strings.Contains(m, "exception") || strings.Contains(m, "integrity") {
			out = append(out, m)
		}
	}
	return out
}
