package app_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/knowledge"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// mustTextPDF builds a one-page PDF whose compressed content stream shows text.
func mustTextPDF(tb testing.TB, text string) []byte {
	tb.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	fmt.Fprintf(zw, "BT /F1 12 Tf 72 720 Td (%s) Tj ET", text)
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	var b bytes.Buffer
	var offsets []int
	obj := func(body string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>")
	offsets = append(offsets, b.Len())
	fmt.Fprintf(&b, "4 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n", z.Len())
	b.Write(z.Bytes())
	b.WriteString("\nendstream\nendobj\n")
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

// multipartFile encodes one file (and an optional kind) as a form.
func multipartFile(tb testing.TB, filename string, data []byte, kind string) (body []byte, contentType string) {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if kind != "" {
		if err := mw.WriteField("kind", kind); err != nil {
			tb.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		tb.Fatal(err)
	}
	fw.Write(data)
	if err := mw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

// upload posts a file to a chatbot's knowledge base; chunked hides the
// length, as a streaming client would.
func upload(tb testing.TB, h http.Handler, key, chatbotID, filename string, data []byte, chunked bool) *httptest.ResponseRecorder {
	tb.Helper()
	body, ct := multipartFile(tb, filename, data, "")
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // not a type httptest can measure
	}
	req := httptest.NewRequest("POST", "/api/v1/chatbots/"+chatbotID+"/knowledge/uploads", r)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// mustIngest runs the knowledge worker until no job is left.
func mustIngest(tb testing.TB, a *app.App) {
	tb.Helper()
	w := knowledge.NewWorker(a.Knowledge, 0, 0)
	for range 50 {
		worked, err := w.RunOnce(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		if !worked {
			return
		}
	}
	tb.Fatal("the knowledge worker never ran out of jobs")
}

func securityEventKinds(tb testing.TB, a *app.App, orgID string) map[string]int {
	tb.Helper()
	events, err := a.DB.Tenant(orgID).SecurityEvents(context.Background(), 1000)
	if err != nil {
		tb.Fatal(err)
	}
	kinds := map[string]int{}
	for _, ev := range events {
		kinds[ev.Kind]++
	}
	return kinds
}

func decodeInto(tb testing.TB, rec *httptest.ResponseRecorder, v any) {
	tb.Helper()
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		tb.Fatalf("body %s: %v", rec.Body, err)
	}
}

// TestAssistantConfigAPI: the configuration round-trips, the provider key
// and tool secrets are sealed and never returned, bad input is 400, and
// roles, grants and tenants are respected.
func TestAssistantConfigAPI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, a *app.App) {
		ctx := context.Background()
		A, B := mustTenant(t, a, "Alpha"), mustTenant(t, a, "Beta")
		key, _ := mustKey(t, a, A.orgID, "chatbots:write", "knowledge:write")
		h := a.Handler()
		const apiKey, toolSecret = "sk-test-PLAINTEXT-key-0123", "tool-secret-PLAINTEXT-4567"
		url := "/api/v1/chatbots/" + A.chatbotID + "/assistant"
		full := `{"provider":"openai","base_url":"https://llm.example/v1","model":"gpt-4o-mini","temperature":0.3,"max_tokens":500,
			"system_prompt":"You are the front desk.","api_key":"` + apiKey + `",
			"tools":{"contact_form":true,"handoff":true,"knowledge_search":true,"http":[{"name":"book","description":"Book a slot",
			"schema":{"type":"object","properties":{"day":{"type":"string"}}},"url":"https://shop.example/book","secret":"` + toolSecret + `"}]},
			"budgets":{"visitor":{"messages":20,"tokens":0,"window_seconds":3600}}}`

		rec := do(t, h, "GET", url, key, "")
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"provider":"builtin"`) || !strings.Contains(rec.Body.String(), `"api_key_set":false`) {
			t.Fatalf("default config = %d %s", rec.Code, rec.Body)
		}
		rec = do(t, h, "PUT", url, key, full)
		if rec.Code != 200 {
			t.Fatalf("PUT = %d %s", rec.Code, rec.Body)
		}
		for _, path := range []string{url} {
			body := do(t, h, "GET", path, key, "").Body.String()
			for _, want := range []string{`"api_key_set":true`, `"secret_set":true`, `"model":"gpt-4o-mini"`, `"knowledge_search":true`} {
				if !strings.Contains(body, want) {
					t.Fatalf("GET %s lacks %s", body, want)
				}
			}
			if strings.Contains(body, "PLAINTEXT") {
				t.Fatalf("GET returns a secret: %s", body)
			}
		}
		if strings.Contains(rec.Body.String(), "PLAINTEXT") {
			t.Fatalf("PUT returns a secret: %s", rec.Body)
		}
		stored, err := a.DB.Tenant(A.orgID).AssistantConfig(ctx, A.chatbotID)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored.APIKeySealed) == 0 || bytes.Contains(stored.APIKeySealed, []byte("PLAINTEXT")) ||
			len(stored.Tools.HTTP) != 1 || bytes.Contains(stored.Tools.HTTP[0].SecretSealed, []byte("PLAINTEXT")) {
			t.Fatalf("secrets stored in clear or not at all: %+v", stored)
		}
		if opened, err := a.Vault.Open(ctx, A.orgID, stored.APIKeySealed); err != nil || string(opened) != apiKey {
			t.Fatalf("sealed key opens to %q, %v", opened, err)
		}
		if _, err := a.Vault.Open(ctx, B.orgID, stored.APIKeySealed); err == nil {
			t.Fatal("the key opens with another organization's data key")
		}

		// Without api_key and secret, both are kept; "" removes the key.
		keep := `{"provider":"openai","model":"gpt-4o","tools":{"http":[{"name":"book","url":"https://shop.example/book"}]}}`
		if rec := do(t, h, "PUT", url, key, keep); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"api_key_set":true`) ||
			!strings.Contains(rec.Body.String(), `"secret_set":true`) {
			t.Fatalf("PUT without secrets = %d %s", rec.Code, rec.Body)
		}
		// A GET body sent back as is (read-only fields included) is accepted.
		got := do(t, h, "GET", url, key, "").Body.String()
		if rec := do(t, h, "PUT", url, key, got); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"api_key_set":true`) {
			t.Fatalf("PUT of the GET body = %d %s", rec.Code, rec.Body)
		}
		if rec := do(t, h, "PUT", url, key, `{"provider":"openai","model":"gpt-4o","api_key":""}`); rec.Code != 200 ||
			!strings.Contains(rec.Body.String(), `"api_key_set":false`) {
			t.Fatalf("PUT removing the key = %d %s", rec.Code, rec.Body)
		}

		mustMember(t, a, A.orgID, "viewer@alpha.example", porthole.RoleViewer)
		viewerToken := mustLogin(t, a, "viewer@alpha.example")
		mustMember(t, a, A.orgID, "agent@alpha.example", porthole.RoleAgent)
		agentToken := mustLogin(t, a, "agent@alpha.example")
		runScenarios(t, h, []scenario{
			{name: "unknown provider", method: "PUT", url: url, key: key, body: `{"provider":"gpt","model":"x"}`, wantStatus: 400, wantBody: []string{"provider"}},
			{name: "base url not http", method: "PUT", url: url, key: key, body: `{"provider":"openai","model":"x","base_url":"file:///etc/passwd"}`, wantStatus: 400, wantBody: []string{"base_url"}},
			{name: "base url with credentials", method: "PUT", url: url, key: key, body: `{"provider":"openai","model":"x","base_url":"https://u:p@llm.example"}`, wantStatus: 400},
			{name: "model missing", method: "PUT", url: url, key: key, body: `{"provider":"anthropic"}`, wantStatus: 400, wantBody: []string{"model"}},
			{name: "temperature too high", method: "PUT", url: url, key: key, body: `{"provider":"builtin","temperature":3}`, wantStatus: 400, wantBody: []string{"temperature"}},
			{name: "tool schema not an object", method: "PUT", url: url, key: key,
				body: `{"tools":{"http":[{"name":"t","url":"https://x.example","schema":{"type":"string"}}]}}`, wantStatus: 400, wantBody: []string{"schema"}},
			{name: "tool named like a built-in", method: "PUT", url: url, key: key,
				body: `{"tools":{"http":[{"name":"handoff","url":"https://x.example"}]}}`, wantStatus: 400},
			{name: "unknown field", method: "PUT", url: url, key: key, body: `{"provider":"builtin","api_key_plain":"x"}`, wantStatus: 400},
			{name: "another tenant's chatbot", method: "GET", url: "/api/v1/chatbots/" + B.chatbotID + "/assistant", key: key, wantStatus: 404},
			{name: "another tenant's chatbot PUT", method: "PUT", url: "/api/v1/chatbots/" + B.chatbotID + "/assistant", key: key, body: `{"provider":"builtin"}`, wantStatus: 404},
			{name: "read key cannot configure", method: "PUT", url: url, key: A.readKey, body: `{"provider":"builtin"}`, wantStatus: 403},
			{name: "viewer cannot configure", method: "PUT", url: url, key: viewerToken, body: `{"provider":"builtin"}`, wantStatus: 403},
			{name: "agent without grant", method: "GET", url: url, key: agentToken, wantStatus: 404},
		})
	})
}

// TestKnowledgeAPI: uploads of each kind become searchable after the worker
// runs; disguised, oversized and SSRF sources are refused and recorded;
// deletes leave search at once; tenants, grants and roles are respected.
func TestKnowledgeAPI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, a *app.App) {
		ctx := context.Background()
		A, B := mustTenant(t, a, "Alpha"), mustTenant(t, a, "Beta")
		key, _ := mustKey(t, a, A.orgID, "knowledge:write")
		keyB, _ := mustKey(t, a, B.orgID, "knowledge:write")
		h := a.Handler()
		base := "/api/v1/chatbots/" + A.chatbotID + "/knowledge"

		uploads := []struct {
			name, filename string
			data           []byte
			word           string
		}{
			{"text", "hours.txt", []byte("The clinic opens at eight. Ask about zanzibarite fillings."), "zanzibarite"},
			{"markdown", "prices.md", []byte("# Prices\n\n- A **quetzalcoatlus** cleaning costs 60 pounds.\n"), "quetzalcoatlus"},
			{"html", "page.html", []byte("<!doctype html><html><head><title>Parking</title><script>steal()</script></head><body><p>Park in the xylophonic courtyard.</p></body></html>"), "xylophonic"},
			{"pdf", "brochure.pdf", mustTextPDF(t, "Whitening with the marmalucious kit"), "marmalucious"},
		}
		ids := map[string]string{}
		for _, up := range uploads {
			rec := upload(t, h, key, A.chatbotID, up.filename, up.data, false)
			if rec.Code != 201 {
				t.Fatalf("upload %s = %d %s", up.name, rec.Code, rec.Body)
			}
			var src store.KnowledgeSource
			decodeInto(t, rec, &src)
			if src.Kind != up.name || src.Status != store.KnowledgePending || src.Name != up.filename {
				t.Fatalf("upload %s gave %+v", up.name, src)
			}
			ids[up.name] = src.ID
		}
		mustIngest(t, a)
		for _, up := range uploads {
			t.Run("searchable "+up.name, func(t *testing.T) {
				rec := do(t, h, "GET", base+"/sources/"+ids[up.name], key, "")
				if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"done"`) {
					t.Fatalf("source = %d %s", rec.Code, rec.Body)
				}
				rec = do(t, h, "GET", base+"/search?q="+up.word, key, "")
				if rec.Code != 200 || !strings.Contains(rec.Body.String(), ids[up.name]) {
					t.Fatalf("search %s = %d %s", up.word, rec.Code, rec.Body)
				}
			})
		}
		if body := do(t, h, "GET", base+"/search?q=steal", key, "").Body.String(); strings.Contains(body, ids["html"]) {
			t.Fatalf("an HTML page's script was indexed: %s", body)
		}
		if rec := do(t, h, "GET", base+"/sources", key, ""); rec.Code != 200 || strings.Count(rec.Body.String(), `"status":"done"`) != 4 {
			t.Fatalf("sources = %d %s", rec.Code, rec.Body)
		}

		t.Run("disguised PDF refused", func(t *testing.T) {
			for name, data := range map[string][]byte{
				"html.pdf": []byte("<!DOCTYPE html><html><body><form action=https://evil.example>login</form></body></html>"),
				"elf.pdf":  append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 200)...),
				"exe.pdf":  append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00"), make([]byte, 200)...),
			} {
				rec := upload(t, h, key, A.chatbotID, name, data, false)
				if rec.Code != 400 {
					t.Fatalf("%s = %d %s", name, rec.Code, rec.Body)
				}
			}
			// Repeats are damped by the recorder; at least one is stored.
			if securityEventKinds(t, a, A.orgID)[porthole.SecRejectedUpload] == 0 {
				t.Fatal("no rejected_upload security event")
			}
		})
		t.Run("oversized upload", func(t *testing.T) {
			big := bytes.Repeat([]byte("word "), (knowledge.DefaultMaxUploadBytes/5)+1000)
			for _, chunked := range []bool{false, true} {
				if rec := upload(t, h, key, A.chatbotID, "big.txt", big, chunked); rec.Code != 413 {
					t.Fatalf("oversized (chunked %v) = %d %s", chunked, rec.Code, rec.Body)
				}
			}
			// Over the global 1 MB cap but under the upload cap: accepted.
			mid := bytes.Repeat([]byte("medium "), 300_000)
			if rec := upload(t, h, key, A.chatbotID, "mid.txt", mid, true); rec.Code != 201 {
				t.Fatalf("2 MB upload = %d %s", rec.Code, rec.Body)
			}
		})
		t.Run("file name sanitized", func(t *testing.T) {
			rec := upload(t, h, key, A.chatbotID, "../../etc/\u202epasswd.txt", []byte("plain words"), false)
			var src store.KnowledgeSource
			decodeInto(t, rec, &src)
			if rec.Code != 201 || src.Name != "passwd.txt" {
				t.Fatalf("upload = %d, name %q", rec.Code, src.Name)
			}
		})
		t.Run("metadata URL refused", func(t *testing.T) {
			before := securityEventKinds(t, a, A.orgID)[porthole.SecSSRFRefused]
			rec := do(t, h, "POST", base+"/sources", key, `{"url":"http://169.254.169.254/latest/meta-data/"}`)
			if rec.Code != 201 {
				t.Fatalf("add url = %d %s", rec.Code, rec.Body)
			}
			var src store.KnowledgeSource
			decodeInto(t, rec, &src)
			mustIngest(t, a)
			got, err := a.Knowledge.Source(ctx, knowledge.Namespace{OrgID: A.orgID, ChatbotID: A.chatbotID}, src.ID)
			if err != nil || got.Status != store.KnowledgeFailed {
				t.Fatalf("metadata source = %+v, %v; want failed", got, err)
			}
			if after := securityEventKinds(t, a, A.orgID)[porthole.SecSSRFRefused]; after <= before {
				t.Fatal("no ssrf_refused security event")
			}
		})
		t.Run("delete leaves search at once", func(t *testing.T) {
			if rec := do(t, h, "DELETE", base+"/sources/"+ids["text"], key, ""); rec.Code != 204 {
				t.Fatalf("delete = %d %s", rec.Code, rec.Body)
			}
			if body := do(t, h, "GET", base+"/search?q=zanzibarite", key, "").Body.String(); strings.Contains(body, ids["text"]) {
				t.Fatalf("deleted source still found: %s", body)
			}
			if rec := do(t, h, "GET", base+"/sources/"+ids["text"], key, ""); rec.Code != 404 {
				t.Fatalf("deleted source = %d", rec.Code)
			}
		})
		t.Run("reimport", func(t *testing.T) {
			rec := do(t, h, "POST", base+"/sources/"+ids["markdown"]+"/reimport", key, "")
			if rec.Code != 202 || !strings.Contains(rec.Body.String(), `"status":"pending"`) {
				t.Fatalf("reimport = %d %s", rec.Code, rec.Body)
			}
			mustIngest(t, a)
			if body := do(t, h, "GET", base+"/search?q=quetzalcoatlus", key, "").Body.String(); !strings.Contains(body, ids["markdown"]) {
				t.Fatalf("reimported source not found: %s", body)
			}
		})

		srcB, err := a.Knowledge.AddUpload(ctx, knowledge.Namespace{OrgID: B.orgID, ChatbotID: B.chatbotID},
			knowledge.Upload{Kind: store.KnowledgeText, Name: "b.txt", Data: []byte("Beta's private gobbledygookish notes.")})
		if err != nil {
			t.Fatal(err)
		}
		mustIngest(t, a)
		viewer := mustMember(t, a, A.orgID, "viewer@alpha.example", porthole.RoleViewer)
		if err := a.DB.Tenant(A.orgID).SetChatbotGrant(ctx, A.chatbotID, viewer, "read"); err != nil {
			t.Fatal(err)
		}
		viewerToken := mustLogin(t, a, "viewer@alpha.example")
		mustMember(t, a, A.orgID, "agent@alpha.example", porthole.RoleAgent)
		agentToken := mustLogin(t, a, "agent@alpha.example")
		baseB := "/api/v1/chatbots/" + B.chatbotID + "/knowledge"
		runScenarios(t, h, []scenario{
			{name: "url and sitemap together", method: "POST", url: base + "/sources", key: key, body: `{"url":"https://a.example","sitemap":"https://a.example/sitemap.xml"}`, wantStatus: 400},
			{name: "url not http", method: "POST", url: base + "/sources", key: key, body: `{"url":"file:///etc/passwd"}`, wantStatus: 400},
			{name: "crawl cap over the limit", method: "POST", url: base + "/sources", key: key, body: `{"sitemap":"https://a.example/sitemap.xml","max_pages":5000}`, wantStatus: 400},
			{name: "sitemap queued", method: "POST", url: base + "/sources", key: key, body: `{"sitemap":"https://a.example/sitemap.xml","max_pages":10}`, wantStatus: 201, wantBody: []string{`"max_pages":10`}},
			{name: "search needs q", method: "GET", url: base + "/search", key: key, wantStatus: 400},
			{name: "search stays in its namespace", method: "GET", url: base + "/search?q=gobbledygookish", key: key, wantStatus: 200, notBody: []string{srcB.ID}},
			{name: "other tenant's chatbot sources", method: "GET", url: baseB + "/sources", key: key, wantStatus: 404},
			{name: "other tenant's chatbot search", method: "GET", url: baseB + "/search?q=gobbledygookish", key: key, wantStatus: 404},
			{name: "other tenant's source through own chatbot", method: "GET", url: base + "/sources/" + srcB.ID, key: key, wantStatus: 404},
			{name: "other tenant's source delete", method: "DELETE", url: base + "/sources/" + srcB.ID, key: key, wantStatus: 404},
			{name: "other tenant's source reimport", method: "POST", url: base + "/sources/" + srcB.ID + "/reimport", key: key, wantStatus: 404},
			{name: "own chatbot id with another tenant's key", method: "GET", url: base + "/sources", key: keyB, wantStatus: 404},
			{name: "viewer reads sources", method: "GET", url: base + "/sources", key: viewerToken, wantStatus: 200},
			{name: "viewer cannot add", method: "POST", url: base + "/sources", key: viewerToken, body: `{"url":"https://a.example"}`, wantStatus: 403},
			{name: "viewer cannot delete", method: "DELETE", url: base + "/sources/" + ids["pdf"], key: viewerToken, wantStatus: 403},
			{name: "agent without grant", method: "GET", url: base + "/sources", key: agentToken, wantStatus: 404},
			{name: "read-only chatbots key has no knowledge access", method: "GET", url: base + "/sources", key: A.readKey, wantStatus: 403},
		})
		if rec := upload(t, h, viewerToken, A.chatbotID, "v.txt", []byte("viewer"), false); rec.Code != 403 {
			t.Fatalf("viewer upload = %d", rec.Code)
		}
		if rec := upload(t, h, key, B.chatbotID, "x.txt", []byte("cross tenant"), false); rec.Code != 404 {
			t.Fatalf("upload to another tenant's chatbot = %d", rec.Code)
		}
	})
}
