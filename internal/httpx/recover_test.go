package httpx

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
)

func TestRecover(t *testing.T) {
	logger, logs := newLogger()
	h := Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "999")
		panic("nil map write in chatbot handler")
	}), Recover(logger), RequestIDs)
	req := httptest.NewRequest("GET", "/api/v1/chatbots", nil)
	req.Header.Set(RequestIDHeader, "panic-req")
	rec := mustServe(t, h, req)
	body := mustEnvelope(t, rec, 500, porthole.EINTERNAL)
	if body.Message != "internal error" || strings.Contains(rec.Body.String(), "nil map") {
		t.Fatalf("panic detail sent to client: %s", rec.Body)
	}
	lines := mustLogLines(t, logs)
	if len(lines) != 1 {
		t.Fatalf("want one log line, got:\n%s", logs)
	}
	line := lines[0]
	if line["request_id"] != "panic-req" || line["panic"] != "nil map write in chatbot handler" ||
		!strings.Contains(line["stack"].(string), "recover_test.go") {
		t.Fatalf("panic log lacks request id, value or stack: %v", line)
	}
}

func TestRecoverPassesAbortHandler(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{name: "ErrAbortHandler is not swallowed", handler: func(w http.ResponseWriter, r *http.Request) {
			panic(http.ErrAbortHandler)
		}},
		{name: "panic after the response started aborts the connection", handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"partial":`))
			panic("boom")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := newLogger()
			h := Recover(logger)(tt.handler)
			defer func() {
				if v := recover(); v != http.ErrAbortHandler {
					t.Fatalf("recovered %v, want http.ErrAbortHandler", v)
				}
			}()
			mustServe(t, h, httptest.NewRequest("GET", "/", nil))
		})
	}
}

func TestRecoverKeepsServerServing(t *testing.T) {
	logger, _ := newLogger()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) { panic(errors.New("bug")) })
	mux.Handle("GET /ok", okHandler)
	srv := httptest.NewServer(Chain(mux, Recover(logger), RequestIDs))
	defer srv.Close()
	for _, tc := range []struct {
		path   string
		status int
	}{{"/panic", 500}, {"/ok", 200}, {"/panic", 500}, {"/ok", 200}} {
		resp, err := srv.Client().Get(srv.URL + tc.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("GET %s = %d, want %d", tc.path, resp.StatusCode, tc.status)
		}
	}
}
