package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
)

func TestWriteErrorStatusTable(t *testing.T) {
	tests := []struct {
		name   string
		code   string
		status int
	}{
		{name: "invalid", code: porthole.EINVALID, status: 400},
		{name: "unauthorized", code: porthole.EUNAUTHORIZED, status: 401},
		{name: "forbidden", code: porthole.EFORBIDDEN, status: 403},
		{name: "not found", code: porthole.ENOTFOUND, status: 404},
		{name: "conflict", code: porthole.ECONFLICT, status: 409},
		{name: "too large", code: porthole.ETOOLARGE, status: 413},
		{name: "rate limited", code: porthole.ERATELIMITED, status: 429},
		{name: "unavailable", code: porthole.EUNAVAILABLE, status: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HTTPStatus(tt.code); got != tt.status {
				t.Fatalf("HTTPStatus(%q) = %d, want %d", tt.code, got, tt.status)
			}
			h := HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				return fmt.Errorf("wrapped: %w", porthole.Errorf(tt.code, "the %s message", tt.name))
			})
			rec := mustServe(t, h, httptest.NewRequest("GET", "/x", nil))
			body := mustEnvelope(t, rec, tt.status, tt.code)
			if body.Message != "the "+tt.name+" message" {
				t.Fatalf("message = %q", body.Message)
			}
		})
	}
}

func TestWriteErrorNeverLeaksInternals(t *testing.T) {
	const secret = "password=hunter2 at db.internal:5432"
	tests := []struct {
		name string
		err  error
	}{
		{name: "plain error", err: errors.New(secret)},
		{name: "internal code with message", err: porthole.Errorf(porthole.EINTERNAL, "%s", secret)},
		{name: "wrapped internal cause", err: porthole.WrapError(porthole.EINTERNAL, errors.New(secret), "query failed: %s", secret)},
		{name: "unknown code", err: porthole.Errorf("made_up", "%s", secret)},
		{name: "fmt-wrapped plain error", err: fmt.Errorf("store: unable to load: %w", errors.New(secret))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, logs := newLogger()
			h := Chain(HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return tt.err }),
				RequestIDs, AccessLog(logger))
			req := httptest.NewRequest("GET", "/api/v1/things", nil)
			req.Header.Set(RequestIDHeader, "trace-123")
			rec := mustServe(t, h, req)
			body := mustEnvelope(t, rec, 500, porthole.EINTERNAL)
			if body.Message != "internal error" {
				t.Fatalf("message = %q, want %q", body.Message, "internal error")
			}
			if strings.Contains(rec.Body.String(), "hunter2") {
				t.Fatalf("internal detail sent to client: %s", rec.Body)
			}
			var logged bool
			for _, line := range mustLogLines(t, logs) {
				if line["msg"] == "request failed" {
					logged = true
					if line["request_id"] != "trace-123" || !strings.Contains(fmt.Sprint(line["error"]), "hunter2") {
						t.Fatalf("error log lacks request id or cause: %v", line)
					}
				}
			}
			if !logged {
				t.Fatalf("internal error not logged:\n%s", logs)
			}
		})
	}
}

func TestWriteErrorAfterResponseStartedOnlyLogs(t *testing.T) {
	logger, logs := newLogger()
	h := Chain(HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = w.Write([]byte("partial"))
		return porthole.Errorf(porthole.ECONFLICT, "too late")
	}), AccessLog(logger))
	rec := mustServe(t, h, httptest.NewRequest("GET", "/", nil))
	if rec.Body.String() != "partial" {
		t.Fatalf("body = %q: envelope appended to a started response", rec.Body)
	}
	if !strings.Contains(logs.String(), "after the response started") {
		t.Fatalf("late error not logged:\n%s", logs)
	}
}

func TestWriteJSON(t *testing.T) {
	t.Run("encodes with status and escapes HTML", func(t *testing.T) {
		rec := httptest.NewRecorder()
		if err := WriteJSON(rec, http.StatusCreated, map[string]string{"name": "<script>"}); err != nil {
			t.Fatal(err)
		}
		if rec.Code != 201 || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		if strings.Contains(rec.Body.String(), "<script>") {
			t.Fatalf("HTML not escaped: %s", rec.Body)
		}
	})
	t.Run("unencodable value writes nothing and becomes a 500 envelope", func(t *testing.T) {
		h := HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			return WriteJSON(w, http.StatusOK, map[string]any{"c": make(chan int)})
		})
		rec := mustServe(t, h, httptest.NewRequest("GET", "/", nil))
		mustEnvelope(t, rec, 500, porthole.EINTERNAL)
	})
}
