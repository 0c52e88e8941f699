package assets

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/widget/assets/build"
)

// Budgets from issue 7: the loader a host page downloads on every view, and
// everything the first open of the chat downloads.
const (
	loaderBudgetGzip    = 1536
	firstOpenBudgetGzip = 20 * 1024
)

func mustGzip9(tb testing.TB, body []byte) int {
	tb.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, 9)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := zw.Write(body); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Len()
}

func mustDist(tb testing.TB, name string) []byte {
	tb.Helper()
	body, err := dist.ReadFile("dist/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// framePage mirrors the fields the server's page value has.
type framePage struct {
	Config    any
	Lang      string
	AssetBase string
}

func mustRenderFrame(tb testing.TB, config any) string {
	tb.Helper()
	var buf bytes.Buffer
	if err := FrameTemplate().Execute(&buf, framePage{Config: config, Lang: "en", AssetBase: AssetBase}); err != nil {
		tb.Fatal(err)
	}
	return buf.String()
}

// sampleConfig is a realistic frame config (docs/widget-protocol.md).
func sampleConfig() map[string]any {
	return map[string]any{
		"v": 1, "business": "0196a4f2-3c4d-7e5f-8a9b-0c1d2e3f4a5b", "chatbot": "0196a4f2-3c4d-7e5f-8a9b-0c1d2e3f4a5c",
		"parent_origin":     "https://shop.example.com",
		"ticket":            strings.Repeat("eyJhbGciOiJIUzI1NiJ9", 12) + "." + strings.Repeat("x", 43),
		"ticket_expires_at": 1767225600000,
		"ws_url":            "wss://porthole.example.com/widget/ws",
		"chatbot_config": map[string]any{
			"name": "Front desk", "greeting": "Hi! How can we help?", "color": "#0b5fff",
			"position": "right", "language": "", "online": true,
		},
	}
}

func TestDistIsFresh(t *testing.T) {
	built, err := build.Build("../../../web/widget")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range build.Outputs {
		if !bytes.Equal(built[name], mustDist(t, name)) {
			t.Errorf("dist/%s is stale: run `go generate ./internal/widget/assets` and commit", name)
		}
	}
}

func TestLoaderBudget(t *testing.T) {
	size := mustGzip9(t, mustDist(t, "loader.js"))
	t.Logf("loader.js: %d bytes, %d bytes gzip -9", len(mustDist(t, "loader.js")), size)
	if size > loaderBudgetGzip {
		t.Errorf("loader.js is %d bytes gzip -9, budget %d", size, loaderBudgetGzip)
	}
}

func TestFirstOpenBudget(t *testing.T) {
	html := mustRenderFrame(t, sampleConfig())
	parts := []struct {
		name string
		body []byte
	}{
		{"frame document", []byte(html)},
		{FrameScriptName(), mustDist(t, "frame.js")},
		{FrameStyleName(), mustDist(t, "frame.css")},
	}
	total := 0
	for _, p := range parts {
		size := mustGzip9(t, p.body)
		t.Logf("%s: %d bytes, %d bytes gzip -9", p.name, len(p.body), size)
		total += size
	}
	t.Logf("first open total: %d bytes gzip -9", total)
	if total > firstOpenBudgetGzip {
		t.Errorf("first open downloads %d bytes gzip -9, budget %d", total, firstOpenBudgetGzip)
	}
}

func TestStatic(t *testing.T) {
	tests := []struct {
		name           string
		method         string
		path           string
		acceptEncoding string
		wantStatus     int
		wantType       string
		wantCORS       string
		wantGzip       bool
		wantBody       []byte
	}{
		{name: "loader", method: "GET", path: LoaderPath, wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantCORS: "*", wantBody: mustDist(t, "loader.js")},
		{name: "loader gzip", method: "GET", path: LoaderPath, acceptEncoding: "br, gzip", wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantCORS: "*", wantGzip: true, wantBody: mustDist(t, "loader.js")},
		{name: "loader gzip refused", method: "GET", path: LoaderPath, acceptEncoding: "gzip;q=0", wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantCORS: "*", wantBody: mustDist(t, "loader.js")},
		{name: "loader head", method: "HEAD", path: LoaderPath, wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantCORS: "*"},
		{name: "frame script", method: "GET", path: AssetBase + FrameScriptName(), wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantBody: mustDist(t, "frame.js")},
		{name: "frame style", method: "GET", path: AssetBase + FrameStyleName(), wantStatus: 200, wantType: "text/css; charset=utf-8", wantBody: mustDist(t, "frame.css")},
		{name: "unhashed frame script", method: "GET", path: AssetBase + "frame.js", wantStatus: 404},
		{name: "stale hash", method: "GET", path: AssetBase + "frame.0000000000000000.js", wantStatus: 404},
		{name: "traversal", method: "GET", path: AssetBase + "../v1/loader.js", wantStatus: 404},
		{name: "template not served", method: "GET", path: AssetBase + "frame.html.tmpl", wantStatus: 404},
		{name: "post", method: "POST", path: LoaderPath, wantStatus: 405},
	}
	handler := Static()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.acceptEncoding != "" {
				req.Header.Set("Accept-Encoding", tt.acceptEncoding)
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			res := rec.Result()
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != 200 {
				return
			}
			for header, want := range map[string]string{
				"Content-Type":                tt.wantType,
				"Cache-Control":               "public, max-age=31536000, immutable",
				"X-Content-Type-Options":      "nosniff",
				"Access-Control-Allow-Origin": tt.wantCORS,
			} {
				if got := res.Header.Get(header); got != want {
					t.Errorf("%s = %q, want %q", header, got, want)
				}
			}
			body, _ := io.ReadAll(res.Body)
			if tt.wantGzip {
				if res.Header.Get("Content-Encoding") != "gzip" {
					t.Fatalf("Content-Encoding = %q, want gzip", res.Header.Get("Content-Encoding"))
				}
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(zr)
			} else if res.Header.Get("Content-Encoding") != "" {
				t.Errorf("unexpected Content-Encoding %q", res.Header.Get("Content-Encoding"))
			}
			if tt.wantBody != nil && !bytes.Equal(body, tt.wantBody) {
				t.Errorf("body differs from dist")
			}
		})
	}
}

func TestStaticNotModified(t *testing.T) {
	handler := Static()
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", LoaderPath, nil))
	req := httptest.NewRequest("GET", LoaderPath, nil)
	req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
	rec2 := httptest.NewRecorder()
	handler.ServeHTTP(rec2, req)
	if rec2.Code != http.StatusNotModified || rec2.Body.Len() != 0 {
		t.Errorf("revalidation: status %d with %d bytes, want 304 and none", rec2.Code, rec2.Body.Len())
	}
}

func TestLoaderSRI(t *testing.T) {
	rec := httptest.NewRecorder()
	Static().ServeHTTP(rec, httptest.NewRequest("GET", LoaderPath, nil))
	sum := sha512.Sum384(rec.Body.Bytes())
	want := "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
	if got := LoaderSRI(); got != want {
		t.Errorf("LoaderSRI() = %q, want the hash of the served bytes %q", got, want)
	}
}

func TestInstallSnippet(t *testing.T) {
	sri := LoaderSRI()
	tests := []struct {
		name, publicURL, business, want string
	}{
		{"plain", "https://chat.example.com", "0196a4f2-3c4d-7e5f-8a9b-0c1d2e3f4a5b",
			`<script src="https://chat.example.com/widget/v1/loader.js" integrity="` + sri + `" crossorigin="anonymous" data-business="0196a4f2-3c4d-7e5f-8a9b-0c1d2e3f4a5b" async></script>`},
		{"trailing slash and port", "http://127.0.0.1:8080/", "b1",
			`<script src="http://127.0.0.1:8080/widget/v1/loader.js" integrity="` + sri + `" crossorigin="anonymous" data-business="b1" async></script>`},
		{"path dropped", "https://chat.example.com/porthole/", "b1",
			`<script src="https://chat.example.com/widget/v1/loader.js" integrity="` + sri + `" crossorigin="anonymous" data-business="b1" async></script>`},
		{"hostile id escaped", "https://chat.example.com", `"><img src=x onerror=alert(1)>`,
			`<script src="https://chat.example.com/widget/v1/loader.js" integrity="` + sri + `" crossorigin="anonymous" data-business="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" async></script>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InstallSnippet(tt.publicURL, tt.business); got != tt.want {
				t.Errorf("InstallSnippet() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	if !regexp.MustCompile(`^sha384-[A-Za-z0-9+/]{64}$`).MatchString(sri) {
		t.Errorf("LoaderSRI() = %q, not a sha384 SRI value", sri)
	}
}

func TestFrameTemplate(t *testing.T) {
	config := sampleConfig()
	config["chatbot_config"].(map[string]any)["greeting"] = `</script><script>alert(1)</script><img src=x onerror=alert(2)>`
	html := mustRenderFrame(t, config)

	if strings.Contains(html, "<img") || strings.Contains(html, "</script><script>") {
		t.Fatalf("config escaped into markup:\n%s", html)
	}
	if strings.Contains(html, "style=") || strings.Contains(html, "<style") {
		t.Errorf("inline style in frame page:\n%s", html)
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(tag, ` src="`) && !strings.Contains(tag, `type="application/json"`) {
			t.Errorf("inline executable script %s", tag)
		}
	}
	for _, want := range []string{
		`<script src="/widget/v1/` + FrameScriptName() + `" defer></script>`,
		`<link rel="stylesheet" href="/widget/v1/` + FrameStyleName() + `">`,
		`<html lang="en">`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("frame page lacks %s:\n%s", want, html)
		}
	}
	m := regexp.MustCompile(`(?s)<script type="application/json" id="porthole-config">(.*?)</script>`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no config element:\n%s", html)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(m[1]), &got); err != nil {
		t.Fatalf("config is not JSON: %v\n%s", err, m[1])
	}
	if g := got["chatbot_config"].(map[string]any)["greeting"]; g != config["chatbot_config"].(map[string]any)["greeting"] {
		t.Errorf("greeting round-trip: %q", g)
	}
}
