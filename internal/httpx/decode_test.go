package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
)

type createChatbot struct {
	Name  string `json:"name"`
	Limit int    `json:"limit"`
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		limit       int64 // BodyLimit; 0 means none
		chunked     bool  // hide the length, as a chunked upload does
		wantCode    string
		wantMessage string // substring
	}{
		{name: "valid", contentType: "application/json", body: `{"name":"Ada","limit":3}`},
		{name: "valid with charset and trailing whitespace", contentType: "application/json; charset=UTF-8", body: "{\"name\":\"Ada\"}\n\t "},
		{name: "missing content type", body: `{"name":"Ada"}`, wantCode: porthole.EINVALID, wantMessage: "Content-Type"},
		{name: "wrong content type", contentType: "text/plain", body: `{"name":"Ada"}`, wantCode: porthole.EINVALID, wantMessage: "Content-Type"},
		{name: "form content type", contentType: "application/x-www-form-urlencoded", body: `name=Ada`, wantCode: porthole.EINVALID, wantMessage: "Content-Type"},
		{name: "non utf-8 charset", contentType: "application/json; charset=latin1", body: `{"name":"Ada"}`, wantCode: porthole.EINVALID, wantMessage: "utf-8"},
		{name: "unknown field", contentType: "application/json", body: `{"name":"Ada","role":"owner"}`, wantCode: porthole.EINVALID, wantMessage: `unknown field "role"`},
		{name: "trailing data", contentType: "application/json", body: `{"name":"Ada"} garbage`, wantCode: porthole.EINVALID, wantMessage: "exactly one JSON value"},
		{name: "second value", contentType: "application/json", body: `{"name":"Ada"}{"name":"Eve"}`, wantCode: porthole.EINVALID, wantMessage: "exactly one JSON value"},
		{name: "empty body", contentType: "application/json", body: ``, wantCode: porthole.EINVALID, wantMessage: "empty"},
		{name: "syntax error", contentType: "application/json", body: `{"name":}`, wantCode: porthole.EINVALID, wantMessage: "malformed JSON"},
		{name: "truncated", contentType: "application/json", body: `{"name":"Ada"`, wantCode: porthole.EINVALID, wantMessage: "truncated"},
		{name: "wrong type", contentType: "application/json", body: `{"limit":"many"}`, wantCode: porthole.EINVALID, wantMessage: `"limit" must be an integer`},
		{name: "not an object", contentType: "application/json", body: `[1,2]`, wantCode: porthole.EINVALID, wantMessage: "must be an object"},
		{name: "declared length over cap", contentType: "application/json", body: `{"name":"` + strings.Repeat("a", 100) + `"}`, limit: 64, wantCode: porthole.ETOOLARGE, wantMessage: "over 64 bytes"},
		{name: "chunked body over cap", contentType: "application/json", body: `{"name":"` + strings.Repeat("a", 100) + `"}`, limit: 64, chunked: true, wantCode: porthole.ETOOLARGE, wantMessage: "over 64 bytes"},
		{name: "chunked trailing data over cap", contentType: "application/json", body: `{"name":"a"}` + strings.Repeat(" ", 100) + "x", limit: 64, chunked: true, wantCode: porthole.ETOOLARGE, wantMessage: "over 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got createChatbot
			var h http.Handler = HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				if err := DecodeJSON(r, &got); err != nil {
					return err
				}
				return WriteJSON(w, http.StatusOK, got)
			})
			if tt.limit > 0 {
				h = BodyLimit(tt.limit)(h)
			}
			req := httptest.NewRequest("POST", "/api/v1/chatbots", strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.chunked {
				req.ContentLength = -1
			}
			rec := mustServe(t, h, req)
			if tt.wantCode == "" {
				if rec.Code != http.StatusOK || got.Name != "Ada" {
					t.Fatalf("status %d, decoded %+v, body %s", rec.Code, got, rec.Body)
				}
				return
			}
			body := mustEnvelope(t, rec, HTTPStatus(tt.wantCode), tt.wantCode)
			if !strings.Contains(body.Message, tt.wantMessage) {
				t.Fatalf("message = %q, want it to contain %q", body.Message, tt.wantMessage)
			}
		})
	}
}
