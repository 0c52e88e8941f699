package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServeDemo runs serve --demo twice on one data dir: the demo host page
// on its own origin carries the install snippet under a strict CSP, and a
// restart reuses the seeded business.
func TestServeDemo(t *testing.T) {
	dir := t.TempDir()
	var businessIDs []string
	for i := 0; i < 2; i++ {
		addr, demoAddr := freeAddr(t), freeAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"serve", "--demo", "--data-dir", dir, "--addr", addr, "--demo-addr", demoAddr},
				strings.NewReader(""), &out, &errb, func(string) string { return "" })
		}()
		var page string
		var resp *http.Response
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			var err error
			if resp, err = http.Get("http://" + demoAddr + "/"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				page = string(b)
				break
			}
		}
		if page == "" {
			cancel()
			t.Fatalf("demo host page never answered: %s", errb.String())
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src http://"+addr) || strings.Contains(csp, "unsafe-") {
			t.Fatalf("demo page CSP = %q", csp)
		}
		m := regexp.MustCompile(`<script src="http://` + regexp.QuoteMeta(addr) + `/widget/v1/loader.js" integrity="sha384-[^"]+" crossorigin="anonymous" data-business="([0-9a-f-]{36})" async></script>`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("demo page lacks the install snippet:\n%s", page)
		}
		businessIDs = append(businessIDs, m[1])
		printed := out.String()
		if !strings.Contains(printed, "http://"+demoAddr+"/") || !strings.Contains(printed, m[1]) {
			t.Fatalf("serve --demo printed %q", printed)
		}
		if i == 0 && !strings.Contains(printed, "demo@porthole.test / ") {
			t.Fatalf("first start did not print the demo sign-in: %q", printed)
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	}
	if businessIDs[0] != businessIDs[1] {
		t.Fatalf("restart seeded a second demo business: %v", businessIDs)
	}
}
