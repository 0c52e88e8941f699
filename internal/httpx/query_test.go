package httpx

import (
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
)

func TestRejectDuplicateQuery(t *testing.T) {
	tests := []struct {
		name      string
		target    string
		refused   bool
		parameter string // expected in the event, for duplicates
	}{
		{name: "no query", target: "/api/v1/ping"},
		{name: "distinct keys", target: "/api/v1/ping?a=1&b=2&c="},
		{name: "same key twice", target: "/api/v1/ping?a=1&a=2", refused: true, parameter: "a"},
		{name: "same key, empty values", target: "/api/v1/ping?a&a", refused: true, parameter: "a"},
		{name: "percent-encoded twin", target: "/api/v1/ping?role=viewer&%72ole=owner", refused: true, parameter: "role"},
		{name: "semicolon separator", target: "/api/v1/ping?a=1;a=2", refused: true},
		{name: "bad escape", target: "/api/v1/ping?a=%zz", refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := &eventLog{}
			rec := mustServe(t, RejectDuplicateQuery(events)(okHandler), httptest.NewRequest("GET", tt.target, nil))
			if !tt.refused {
				if rec.Code != 200 || len(events.kinds()) != 0 {
					t.Fatalf("status %d, events %v; want 200 and none", rec.Code, events.kinds())
				}
				return
			}
			mustEnvelope(t, rec, 400, porthole.EINVALID)
			if !slices.Equal(events.kinds(), []string{porthole.SecParameterPollution}) {
				t.Fatalf("events = %v, want one %s", events.kinds(), porthole.SecParameterPollution)
			}
			if tt.parameter != "" && events.events[0].Data["parameter"] != tt.parameter {
				t.Fatalf("event data = %v, want parameter %q", events.events[0].Data, tt.parameter)
			}
		})
	}
}
