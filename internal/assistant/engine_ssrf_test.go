package assistant_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/assistant"
	"github.com/porthole-chat/porthole/internal/assistant/llm/llmtest"
	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// TestProviderBaseURLGoesThroughTheSSRFGuard proves a base URL a business
// typed in cannot reach internal addresses: the visitor gets the provider
// error and the offer of a human, a ssrf_refused event is recorded, and the
// address is never reached. The operator's setting opens loopback for a
// local model server, but never the metadata service.
func TestProviderBaseURLGoesThroughTheSSRFGuard(t *testing.T) {
	var hits atomic.Int64
	tokens := &llmtest.TokenStream{Tokens: 3}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		tokens.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name         string
		baseURL      string
		allowPrivate bool
		refused      bool
	}{
		{name: "loopback", baseURL: srv.URL + "/v1/", refused: true},
		{name: "metadata", baseURL: "http://169.254.169.254/v1/", refused: true},
		{name: "loopback with the operator's setting", baseURL: srv.URL + "/v1/", allowPrivate: true},
		{name: "metadata with the operator's setting", baseURL: "http://169.254.169.254/v1/", allowPrivate: true, refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t)
			e.mustConfig(t, store.AssistantConfig{Provider: store.AssistantOpenAI, BaseURL: tt.baseURL, Model: "m"})
			eng := e.engine(func(c *assistant.Config) {
				c.ProviderNetwork = fetch.StreamingOptions{AllowPrivate: tt.allowPrivate}
			})
			before := hits.Load()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			reply, _, err := run(ctx, eng, e.mustVisitorSays(t, "what are your opening hours?"))
			refusedEvent := slices.Contains(e.security.kinds(), porthole.SecSSRFRefused)
			if !tt.refused {
				if err != nil || refusedEvent || hits.Load() == before || strings.Contains(reply, assistant.OfferHuman) {
					t.Fatalf("reply %q, err %v, security events %v, model requests %d; want the model's reply",
						reply, err, e.security.kinds(), hits.Load()-before)
				}
				return
			}
			if err == nil || !strings.Contains(reply, "can't answer right now") || !strings.Contains(reply, assistant.OfferHuman) {
				t.Fatalf("visitor read %q (err %v); want the provider error and the offer of a human", reply, err)
			}
			if !refusedEvent {
				t.Errorf("security events %v; want %s", e.security.kinds(), porthole.SecSSRFRefused)
			}
			if n := hits.Load() - before; n != 0 {
				t.Errorf("the refused address got %d requests", n)
			}
			if strings.Contains(reply, "127.0.0.1") || strings.Contains(reply, "169.254") {
				t.Errorf("the address reached the visitor: %q", reply)
			}
		})
	}
}
