package dashboard_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/knowledge"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// doBody is session.do with a raw body.
func (s *session) doBody(tb testing.TB, path, contentType string, body []byte) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.RemoteAddr = "203.0.113.9:4000"
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Origin", "http://example.com")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if s.cookie != nil {
		req.AddCookie(s.cookie)
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

func (s *session) upload(tb testing.TB, chatbotID, filename string, data []byte) *httptest.ResponseRecorder {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		tb.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return s.doBody(tb, "/app/chatbots/"+chatbotID+"/knowledge/upload", mw.FormDataContentType(), buf.Bytes())
}

func mustIngestAll(tb testing.TB, a *app.App) {
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

// TestAssistantAndKnowledgePages: the pages are strict-CSP, permissioned
// per role and chatbot grant, keep secrets write-only, refuse bad input on
// the form, ingest uploads and preview retrieval.
func TestAssistantAndKnowledgePages(t *testing.T) {
	forEachDialect(t, func(t *testing.T, a *app.App) {
		ctx := context.Background()
		org, other := mustOrg(t, a, "Alpha"), mustOrg(t, a, "Beta")
		mustMember(t, a, org.ID, "admin@a.example", porthole.RoleAdmin)
		viewer := mustMember(t, a, org.ID, "viewer@a.example", porthole.RoleViewer)
		mustMember(t, a, org.ID, "agent@a.example", porthole.RoleAgent)
		bot := mustChatbot(t, a, org.ID, "Front desk")
		botB := mustChatbot(t, a, other.ID, "Beta bot")
		if err := a.DB.Tenant(org.ID).SetChatbotGrant(ctx, bot.ID, viewer.ID, "read"); err != nil {
			t.Fatal(err)
		}
		admin, view, agent := mustSignIn(t, a, "admin@a.example"), mustSignIn(t, a, "viewer@a.example"), mustSignIn(t, a, "agent@a.example")
		base := "/app/chatbots/" + bot.ID

		const secretKey = "sk-dashboard-PLAINTEXT-999"
		t.Run("save assistant", func(t *testing.T) {
			rec := admin.post(t, base+"/assistant", url.Values{
				"provider": {"openai"}, "base_url": {"https://llm.example/v1"}, "model": {"gpt-4o-mini"}, "temperature": {"0.2"},
				"max_tokens": {"400"}, "system_prompt": {"You are the <b>front desk</b>."}, "api_key": {secretKey},
				"tool_contact_form": {"on"}, "tool_knowledge_search": {"on"},
				"tool_0_name": {"book"}, "tool_0_url": {"https://shop.example/book"}, "tool_0_method": {"POST"},
				"tool_0_schema": {`{"type":"object","properties":{"day":{"type":"string"}}}`}, "tool_0_secret": {"tool-PLAINTEXT-secret"},
				"budget_visitor_messages": {"20"},
			})
			wantStatus(t, rec, http.StatusSeeOther)
			cfg, err := a.DB.Tenant(org.ID).AssistantConfig(ctx, bot.ID)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Model != "gpt-4o-mini" || !cfg.Tools.ContactForm || cfg.Tools.Handoff || len(cfg.Tools.HTTP) != 1 ||
				cfg.Budgets.Visitor.Messages != 20 || bytes.Contains(cfg.APIKeySealed, []byte("PLAINTEXT")) ||
				bytes.Contains(cfg.Tools.HTTP[0].SecretSealed, []byte("PLAINTEXT")) || len(cfg.Tools.HTTP[0].SecretSealed) == 0 {
				t.Fatalf("stored %+v", cfg)
			}
			if key, err := a.Vault.Open(ctx, org.ID, cfg.APIKeySealed); err != nil || string(key) != secretKey {
				t.Fatalf("sealed key opens to %q, %v", key, err)
			}
			body := admin.get(t, base+"/assistant").Body.String()
			if strings.Contains(body, "PLAINTEXT") || !strings.Contains(body, "Currently: <strong>set</strong>") {
				t.Fatalf("assistant page shows a secret or not its state: %s", body)
			}
			// Saving again with the key field empty keeps the key.
			wantStatus(t, admin.post(t, base+"/assistant", url.Values{"provider": {"openai"}, "model": {"gpt-4o"},
				"tool_0_name": {"book"}, "tool_0_url": {"https://shop.example/book"}}), http.StatusSeeOther)
			cfg, _ = a.DB.Tenant(org.ID).AssistantConfig(ctx, bot.ID)
			if len(cfg.APIKeySealed) == 0 || len(cfg.Tools.HTTP) != 1 || len(cfg.Tools.HTTP[0].SecretSealed) == 0 {
				t.Fatalf("a blank field dropped a secret: %+v", cfg)
			}
		})
		bad := []struct {
			name string
			form url.Values
			want string
		}{
			{"schema not JSON", url.Values{"provider": {"builtin"}, "tool_0_name": {"t"}, "tool_0_url": {"https://x.example"}, "tool_0_schema": {"{not json"}}, "not valid JSON"},
			{"schema not an object", url.Values{"provider": {"builtin"}, "tool_0_name": {"t"}, "tool_0_url": {"https://x.example"}, "tool_0_schema": {`{"type":"array"}`}}, "object schema"},
			{"base url not http", url.Values{"provider": {"openai"}, "model": {"m"}, "base_url": {"javascript:alert(1)"}}, "base_url"},
			{"temperature not a number", url.Values{"provider": {"builtin"}, "temperature": {"hot"}}, "temperature"},
			{"budget not a number", url.Values{"provider": {"builtin"}, "budget_org_tokens": {"lots"}}, "budget org tokens"},
		}
		for _, tc := range bad {
			t.Run("refused: "+tc.name, func(t *testing.T) {
				rec := admin.post(t, base+"/assistant", tc.form)
				wantStatus(t, rec, http.StatusBadRequest)
				checkStrictPage(t, base+"/assistant", rec.Header(), rec.Body.String())
				if !strings.Contains(rec.Body.String(), tc.want) {
					t.Fatalf("error page lacks %q: %s", tc.want, rec.Body)
				}
			})
		}

		t.Run("upload and search", func(t *testing.T) {
			wantStatus(t, admin.upload(t, bot.ID, "faq.md", []byte("# Parking\n\nPark in the quixotical courtyard behind the clinic.")), http.StatusSeeOther)
			body := admin.get(t, base+"/knowledge").Body.String()
			if !strings.Contains(body, "faq.md") || !strings.Contains(body, `data-busy="true"`) || !regexp.MustCompile(`src="/app/static/knowledge\.js\?v=[0-9a-f]+"`).MatchString(body) {
				t.Fatalf("knowledge page before ingestion: %s", body)
			}
			mustIngestAll(t, a)
			body = admin.get(t, base+"/knowledge").Body.String()
			if !strings.Contains(body, ">done<") || strings.Contains(body, `data-busy="true"`) {
				t.Fatalf("knowledge page after ingestion: %s", body)
			}
			rec := view.post(t, base+"/preview", url.Values{"message": {"where is the quixotical parking?"}})
			wantStatus(t, rec, http.StatusOK)
			if !strings.Contains(rec.Body.String(), "Retrieval preview") || !strings.Contains(rec.Body.String(), "quixotical courtyard") ||
				!strings.Contains(rec.Body.String(), "faq.md") {
				t.Fatalf("preview: %s", rec.Body)
			}
			checkStrictPage(t, base+"/preview", rec.Header(), rec.Body.String())
		})
		t.Run("disguised PDF refused", func(t *testing.T) {
			rec := admin.upload(t, bot.ID, "invoice.pdf", []byte("<!DOCTYPE html><html><body>phish</body></html>"))
			wantStatus(t, rec, http.StatusBadRequest)
			if !strings.Contains(rec.Body.String(), "not a PDF") {
				t.Fatalf("refusal not shown: %s", rec.Body)
			}
			events, _ := a.DB.Tenant(org.ID).SecurityEvents(ctx, 100)
			found := false
			for _, ev := range events {
				found = found || ev.Kind == porthole.SecRejectedUpload
			}
			if !found {
				t.Fatal("no rejected_upload security event")
			}
		})
		t.Run("oversized upload", func(t *testing.T) {
			rec := admin.upload(t, bot.ID, "big.txt", bytes.Repeat([]byte("word "), knowledge.DefaultMaxUploadBytes/5+1000))
			wantStatus(t, rec, http.StatusRequestEntityTooLarge)
			checkStrictPage(t, base+"/knowledge/upload", rec.Header(), rec.Body.String())
		})
		t.Run("delete and reimport", func(t *testing.T) {
			srcs, err := a.Knowledge.Sources(ctx, knowledge.Namespace{OrgID: org.ID, ChatbotID: bot.ID})
			if err != nil || len(srcs) != 1 {
				t.Fatalf("sources %v %v", srcs, err)
			}
			wantStatus(t, view.post(t, base+"/knowledge/sources/"+srcs[0].ID+"/delete", url.Values{}), http.StatusForbidden)
			wantStatus(t, admin.post(t, base+"/knowledge/sources/"+srcs[0].ID+"/reimport", url.Values{}), http.StatusSeeOther)
			wantStatus(t, admin.post(t, base+"/knowledge/sources/"+srcs[0].ID+"/delete", url.Values{}), http.StatusSeeOther)
			rec := admin.post(t, base+"/preview", url.Values{"message": {"quixotical"}})
			if strings.Contains(rec.Body.String(), "quixotical courtyard") {
				t.Fatalf("deleted source still previewed: %s", rec.Body)
			}
		})

		srcB, err := a.Knowledge.AddUpload(ctx, knowledge.Namespace{OrgID: other.ID, ChatbotID: botB.ID},
			knowledge.Upload{Kind: store.KnowledgeText, Name: "b.txt", Data: []byte("beta words")})
		if err != nil {
			t.Fatal(err)
		}
		pages := []struct {
			name   string
			s      *session
			method string
			path   string
			form   url.Values
			want   int
			body   string
		}{
			{"admin assistant page", admin, "GET", base + "/assistant", nil, 200, `name="api_key"`},
			{"admin knowledge page", admin, "GET", base + "/knowledge", nil, 200, `enctype="multipart/form-data"`},
			{"admin preview page", admin, "GET", base + "/preview", nil, 200, "Retrieval preview"},
			{"viewer with grant reads the assistant", view, "GET", base + "/assistant", nil, 200, "<dt>API key</dt><dd>set</dd>"},
			{"viewer with grant reads knowledge", view, "GET", base + "/knowledge", nil, 200, "Sources"},
			{"viewer cannot save the assistant", view, "POST", base + "/assistant", url.Values{"provider": {"builtin"}}, 403, ""},
			{"viewer cannot add a URL", view, "POST", base + "/knowledge/url", url.Values{"url": {"https://x.example"}}, 403, ""},
			{"agent without grant: assistant", agent, "GET", base + "/assistant", nil, 404, ""},
			{"agent without grant: knowledge", agent, "GET", base + "/knowledge", nil, 404, ""},
			{"agent without grant: preview", agent, "POST", base + "/preview", url.Values{"message": {"hi"}}, 404, ""},
			{"other org's chatbot: assistant", admin, "GET", "/app/chatbots/" + botB.ID + "/assistant", nil, 404, ""},
			{"other org's chatbot: knowledge", admin, "GET", "/app/chatbots/" + botB.ID + "/knowledge", nil, 404, ""},
			{"other org's chatbot: save", admin, "POST", "/app/chatbots/" + botB.ID + "/assistant", url.Values{"provider": {"builtin"}}, 404, ""},
			{"other org's source delete", admin, "POST", base + "/knowledge/sources/" + srcB.ID + "/delete", url.Values{}, 404, ""},
			{"other org's source reimport", admin, "POST", base + "/knowledge/sources/" + srcB.ID + "/reimport", url.Values{}, 404, ""},
			{"metadata URL queued then refused by the fetcher", admin, "POST", base + "/knowledge/url", url.Values{"url": {"http://169.254.169.254/latest/meta-data/"}}, 303, ""},
			{"URL not http", admin, "POST", base + "/knowledge/url", url.Values{"url": {"javascript:alert(1)"}}, 400, "http or https"},
			{"page cap too high", admin, "POST", base + "/knowledge/sitemap", url.Values{"sitemap": {"https://x.example/sitemap.xml"}, "max_pages": {"5000"}}, 400, "at most"},
		}
		for _, tc := range pages {
			t.Run(tc.name, func(t *testing.T) {
				rec := tc.s.do(t, tc.method, tc.path, tc.form, nil)
				wantStatus(t, rec, tc.want)
				if tc.want != 303 {
					checkStrictPage(t, tc.path, rec.Header(), rec.Body.String())
				}
				if tc.body != "" && !strings.Contains(rec.Body.String(), tc.body) {
					t.Fatalf("%s lacks %q: %s", tc.path, tc.body, rec.Body)
				}
			})
		}
		t.Run("viewer sees no write forms", func(t *testing.T) {
			body := view.get(t, base+"/knowledge").Body.String()
			if strings.Contains(body, "/knowledge/upload") || strings.Contains(body, "/delete") {
				t.Fatalf("viewer's knowledge page has write forms: %s", body)
			}
		})
		t.Run("metadata fetch is a security event", func(t *testing.T) {
			mustIngestAll(t, a)
			events, _ := a.DB.Tenant(org.ID).SecurityEvents(ctx, 100)
			found := false
			for _, ev := range events {
				found = found || ev.Kind == porthole.SecSSRFRefused
			}
			if !found {
				t.Fatal("no ssrf_refused security event")
			}
		})
		t.Run("progress script is served", func(t *testing.T) {
			m := regexp.MustCompile(`src="(/app/static/knowledge\.js\?v=[0-9a-f]+)"`).FindStringSubmatch(admin.get(t, base+"/knowledge").Body.String())
			if m == nil {
				t.Fatal("knowledge page does not load knowledge.js")
			}
			rec := admin.get(t, m[1])
			wantStatus(t, rec, 200)
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") || strings.Contains(rec.Body.String(), "innerHTML") {
				t.Fatalf("knowledge.js: %s", rec.Header())
			}
		})
	})
}
