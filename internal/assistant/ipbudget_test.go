package assistant_test

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/assistant"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/store"
)

// mustAssistantReply sends a visitor message through the chat service and
// waits for the assistant's stored reply.
func mustAssistantReply(tb testing.TB, svc *chat.Service, sess *chat.Session, text string) string {
	tb.Helper()
	ctx := context.Background()
	if _, _, err := svc.SendMessage(ctx, sess, porthole.NewID(), text); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		hist, err := svc.History(ctx, sess, 0, 0)
		if err != nil {
			tb.Fatal(err)
		}
		for _, ev := range hist {
			if ev.Type == chat.FrameMessage && ev.Role == store.RoleAssistant {
				return ev.Text
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatal("no assistant reply")
	return ""
}

// TestVisitorsFromOneIPShareTheIPBudget proves the client IP the transport
// sets on the session reaches the turn: a second visitor from the same
// address (or the same IPv6 /64) finds the IP's message budget spent,
// while a visitor from another address is answered.
func TestVisitorsFromOneIPShareTheIPBudget(t *testing.T) {
	tests := []struct {
		name     string
		first    string
		second   string
		isShared bool
	}{
		{name: "same IPv4 address", first: "203.0.113.7", second: "203.0.113.7", isShared: true},
		{name: "another IPv4 address", first: "203.0.113.7", second: "203.0.113.8"},
		{name: "same IPv6 /64", first: "2001:db8:1:2::1", second: "2001:db8:1:2:ffff::9", isShared: true},
		{name: "another IPv6 /64", first: "2001:db8:1:2::1", second: "2001:db8:1:3::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t)
			fm := mustFakeModel(t, func(n int, body string, w http.ResponseWriter) { replyText(w, 10, 2, "Sure.") })
			cfg := openAIConfig(fm)
			cfg.Budgets = store.AssistantBudgets{IP: store.Budget{Messages: 1, WindowSeconds: 600}}
			e.mustConfig(t, cfg)
			eng := e.engine(func(c *assistant.Config) { c.Limiter = newLimiter() })
			svc := chat.New(chat.Config{DB: e.db, PubSub: pubsub.NewMemory(), Engine: eng})
			t.Cleanup(func() { _ = svc.Shutdown(context.Background()) })

			join := func(ip string) *chat.Session {
				sess, err := svc.Join(context.Background(), e.org.ID, e.bot.ID, porthole.NewID(), nil)
				if err != nil {
					t.Fatal(err)
				}
				// What the widget does with the upgrade request's client IP.
				sess.ClientIP = netip.MustParseAddr(ip)
				return sess
			}
			if got := mustAssistantReply(t, svc, join(tt.first), "hello"); got != "Sure." {
				t.Fatalf("first visitor read %q", got)
			}
			got := mustAssistantReply(t, svc, join(tt.second), "hello")
			want := "Sure."
			if tt.isShared {
				want = assistant.BudgetMessage
			}
			if got != want {
				t.Fatalf("second visitor read %q, want %q", got, want)
			}
			limited := slices.Contains(e.security.kinds(), porthole.SecRateLimited)
			if limited != tt.isShared {
				t.Fatalf("security events %v", e.security.kinds())
			}
			if tt.isShared {
				entries := e.audit(t, assistant.ActionBudgetExhausted)
				if len(entries) != 1 || entries[0].Target != "budget:ip:messages" {
					t.Fatalf("usage entries %+v", entries)
				}
			}
		})
	}
}
