package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
)

func TestRequestIDs(t *testing.T) {
	tests := []struct {
		name     string
		incoming []string
		want     string // "" means a fresh id must be generated
	}{
		{name: "no incoming id", incoming: nil},
		{name: "safe id echoed", incoming: []string{"abc-DEF_123.xyz"}, want: "abc-DEF_123.xyz"},
		{name: "64 characters echoed", incoming: []string{strings.Repeat("a", 64)}, want: strings.Repeat("a", 64)},
		{name: "65 characters replaced", incoming: []string{strings.Repeat("a", 65)}},
		{name: "log injection replaced", incoming: []string{"abc\nlevel=ERROR msg=forged"}},
		{name: "spaces replaced", incoming: []string{"abc def"}},
		{name: "quotes and markup replaced", incoming: []string{`"><script>`}},
		{name: "non-ascii replaced", incoming: []string{"idé"}},
		{name: "empty replaced", incoming: []string{""}},
		{name: "two headers replaced", incoming: []string{"one", "two"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			h := RequestIDs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = RequestID(r.Context())
			}))
			req := httptest.NewRequest("GET", "/", nil)
			for _, v := range tt.incoming {
				req.Header.Add(RequestIDHeader, v)
			}
			rec := mustServe(t, h, req)
			echoed := rec.Header().Get(RequestIDHeader)
			if echoed != seen {
				t.Fatalf("header %q differs from RequestID(ctx) %q", echoed, seen)
			}
			if tt.want != "" {
				if echoed != tt.want {
					t.Fatalf("id = %q, want %q", echoed, tt.want)
				}
				return
			}
			if !porthole.ValidID(echoed) {
				t.Fatalf("generated id %q is not a fresh id", echoed)
			}
		})
	}
}
