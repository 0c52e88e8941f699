package widget_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store/storetest"
	"github.com/porthole-chat/porthole/internal/widget"
)

// TestKeepAliveTicketsSpread: every socket gets a fresh ticket before its
// refresh period is over, and sockets that connected together do not all
// get theirs in the same instant (a thundering herd after a restart).
func TestKeepAliveTicketsSpread(t *testing.T) {
	const refresh = 2 * time.Second
	many := porthole.Limit{N: 1000, Window: time.Minute}
	e := mustEnv(t, storetest.MustOpenSQLite(t), envOptions{limits: widget.Limits{
		ConnectsPerIP: many, ConnectsPerSession: many, TicketRefresh: refresh, PingInterval: time.Minute}})
	const sockets = 16
	var mu sync.Mutex
	var arrivals []time.Duration
	var wg sync.WaitGroup
	for range sockets {
		c, welcome := mustConnect(t, e, porthole.NewID(), 0)
		connected := time.Now()
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*refresh)
			defer cancel()
			for {
				f := readFrameCtx(t, ctx, c)
				if f == nil {
					t.Error("no ticket pushed within twice the refresh period")
					return
				}
				if f.Type == "ticket" {
					if f.Ticket == "" || f.Ticket == welcome.Ticket {
						t.Errorf("pushed ticket %q is not a fresh one", f.Ticket)
					}
					mu.Lock()
					arrivals = append(arrivals, time.Since(connected))
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if len(arrivals) != sockets {
		t.Fatalf("%d tickets pushed, want %d", len(arrivals), sockets)
	}
	slices.Sort(arrivals)
	// The keepalive loop looks every refresh/10, so a push is at most that
	// late; the first push of each socket is up to a quarter early.
	if last := arrivals[len(arrivals)-1]; last > refresh+refresh/10+time.Second {
		t.Errorf("a ticket came %s after its socket connected, refresh is %s", last, refresh)
	}
	if first := arrivals[0]; first < refresh*3/4-refresh/10 {
		t.Errorf("a ticket came %s after its socket connected, earlier than three quarters of %s", first, refresh)
	}
	// Without the spread every socket would get its first ticket a full
	// period after it connected, or later (the loop's tick); with it, some
	// get it earlier.
	if first := arrivals[0]; first > refresh-refresh/20 {
		t.Errorf("every socket's first ticket came a full period (%s) after it connected or later: not spread (earliest %s)", refresh, first)
	}
}

// readFrameCtx reads one frame, or returns nil when ctx ends first.
func readFrameCtx(tb testing.TB, ctx context.Context, c *websocket.Conn) *serverFrame {
	tb.Helper()
	_, b, err := c.Read(ctx)
	if err != nil {
		return nil
	}
	var f serverFrame
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Errorf("frame %s: %v", b, err)
		return nil
	}
	return &f
}
