package httpx

import (
	"net/http"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// recordSecurityEvent sends one event to rec with what the request tells us
// (request id, client IP). A nil recorder records nothing, so tests and
// benchmarks can leave it out.
func recordSecurityEvent(rec porthole.SecurityRecorder, r *http.Request, kind, detail string, data map[string]any) {
	if rec == nil {
		return
	}
	ev := porthole.SecurityEvent{
		ID:        porthole.NewID(),
		Kind:      kind,
		RequestID: RequestID(r.Context()),
		Detail:    detail,
		Data:      data,
		CreatedAt: time.Now().UTC(),
	}
	if ip := clientIPOf(r); ip.IsValid() {
		ev.IP = ip.String()
		ev.Actor = "ip:" + ev.IP
	}
	rec.RecordSecurityEvent(r.Context(), ev)
}
