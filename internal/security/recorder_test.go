package security

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

type memStore struct {
	mu     sync.Mutex
	events []porthole.SecurityEvent
}

func (m *memStore) InsertSecurityEvent(_ context.Context, ev porthole.SecurityEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, ev)
	return nil
}

func TestRecorderDampsFloodsButKeepsDistinctEvents(t *testing.T) {
	st := &memStore{}
	r := NewRecorder(st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		r.RecordSecurityEvent(ctx, porthole.SecurityEvent{Kind: porthole.SecRateLimited, IP: "203.0.113.9"})
	}
	r.RecordSecurityEvent(ctx, porthole.SecurityEvent{Kind: porthole.SecRateLimited, IP: "203.0.113.10"})
	r.RecordSecurityEvent(ctx, porthole.SecurityEvent{Kind: porthole.SecCORSRefused, IP: "203.0.113.9"})
	now = now.Add(2 * time.Second)
	r.RecordSecurityEvent(ctx, porthole.SecurityEvent{Kind: porthole.SecRateLimited, IP: "203.0.113.9"})
	if len(st.events) != 4 {
		t.Fatalf("stored %d events, want 4 (one per actor and kind per second)", len(st.events))
	}
	if st.events[0].Actor != "ip:203.0.113.9" || st.events[0].ID == "" {
		t.Fatalf("first event = %+v", st.events[0])
	}
}
