package httpx

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
)

func TestBodyLimit(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		chunked bool
		status  int
	}{
		{name: "under the cap", body: strings.Repeat("a", 16), status: 200},
		{name: "exactly the cap", body: strings.Repeat("a", 32), status: 200},
		{name: "declared length over the cap refused before the handler", body: strings.Repeat("a", 33), status: 413},
		{name: "chunked body over the cap refused while reading", body: strings.Repeat("a", 33), chunked: true, status: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := BodyLimit(32)(HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				if _, err := io.ReadAll(r.Body); err != nil {
					return decodeError(err)
				}
				w.WriteHeader(http.StatusOK)
				return nil
			}))
			req := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.chunked {
				req.ContentLength = -1
			}
			rec := mustServe(t, h, req)
			if tt.status == 413 {
				mustEnvelope(t, rec, 413, porthole.ETOOLARGE)
				return
			}
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.status)
			}
		})
	}
}
