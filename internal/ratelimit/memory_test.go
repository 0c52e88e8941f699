package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMemoryConformance(t *testing.T) {
	runConformance(t, func(tb testing.TB) harness {
		clock := newFakeClock()
		m := NewMemory(WithClock(clock.Now))
		// Start off a window boundary, as a real process would.
		clock.Advance(123 * time.Millisecond)
		return harness{limiter: m, wait: clock.Advance}
	})
}

// TestMemoryWeighting pins the exact numbers of the sliding-window estimate,
// which a real clock cannot: N=10 per second, windows starting at 0s, 1s, ...
func TestMemoryWeighting(t *testing.T) {
	clock := newFakeClock()
	m := NewMemory(WithClock(clock.Now))
	limit := porthole.Limit{N: 10, Window: time.Second}
	steps := []struct {
		name          string
		advance       time.Duration
		cost          int64
		wantAllowed   bool
		wantRemaining int64
		wantRetry     time.Duration
	}{
		{name: "t=0 fill", cost: 10, wantAllowed: true, wantRemaining: 0},
		{name: "t=0 full: one unit frees 1/10 into the next window", cost: 1, wantRetry: 1100 * time.Millisecond},
		{name: "t=0 full: all ten free a window after that", cost: 10, wantRetry: 2 * time.Second},
		{name: "t=1s the previous window still counts in full", advance: time.Second, cost: 1, wantRetry: 100 * time.Millisecond},
		{name: "t=1.099s ceil(10×0.901)=10 still in use", advance: 99 * time.Millisecond, cost: 1, wantRetry: time.Millisecond},
		{name: "t=1.1s ceil(10×0.9)=9 in use", advance: time.Millisecond, cost: 1, wantAllowed: true, wantRemaining: 0},
		{name: "t=1.5s 1+ceil(10×0.5)=6 in use", advance: 400 * time.Millisecond, cost: 4, wantAllowed: true, wantRemaining: 0},
		{name: "t=1.5s full: 5 now, the previous window must weigh at most 4", cost: 1, wantRetry: 100 * time.Millisecond},
		{name: "t=1.5s full: 6 units need the next window", cost: 6, wantRetry: 500*time.Millisecond + 200*time.Millisecond},
		{name: "t=2.5s 5 from the last window weigh ceil(5×0.5)=3", advance: time.Second, cost: 7, wantAllowed: true, wantRemaining: 0},
		{name: "t=4.0s the window of t=2.5s is two windows old", advance: 1500 * time.Millisecond, cost: 10, wantAllowed: true, wantRemaining: 0},
	}
	for _, step := range steps {
		clock.Advance(step.advance)
		d := mustAllow(t, m, "k", limit, step.cost)
		want := porthole.Decision{Allowed: step.wantAllowed, Remaining: step.wantRemaining, RetryAfter: step.wantRetry}
		if d != want {
			t.Fatalf("%s: got %+v, want %+v", step.name, d, want)
		}
	}
}

func TestMemoryRetryAfterIsTight(t *testing.T) {
	tests := []struct {
		name  string
		limit porthole.Limit
		fill  int64
		cost  int64
	}{
		{name: "thirds of a second", limit: porthole.Limit{N: 3, Window: time.Second}, fill: 3, cost: 1},
		{name: "token budget", limit: porthole.Limit{N: 100_000, Window: time.Hour}, fill: 99_000, cost: 7_000},
		{name: "prime window", limit: porthole.Limit{N: 7, Window: 997 * time.Millisecond}, fill: 6, cost: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			m := NewMemory(WithClock(clock.Now))
			clock.Advance(tt.limit.Window / 3)
			mustAllow(t, m, "k", tt.limit, tt.fill)
			d := mustAllow(t, m, "k", tt.limit, tt.cost)
			if d.Allowed || d.RetryAfter <= 0 {
				t.Fatalf("got %+v, want refused with a positive RetryAfter", d)
			}
			clock.Advance(d.RetryAfter - time.Nanosecond)
			if early := mustAllow(t, m, "k", tt.limit, tt.cost); early.Allowed {
				t.Fatalf("a nanosecond before RetryAfter %s: allowed, want refused", d.RetryAfter)
			}
			clock.Advance(time.Nanosecond)
			if late := mustAllow(t, m, "k", tt.limit, tt.cost); !late.Allowed {
				t.Fatalf("at RetryAfter %s: got %+v, want allowed", d.RetryAfter, late)
			}
		})
	}
}

func TestMemoryClockGoingBackwards(t *testing.T) {
	clock := newFakeClock()
	m := NewMemory(WithClock(clock.Now))
	limit := porthole.Limit{N: 2, Window: time.Second}
	clock.Advance(5 * time.Second)
	mustAllow(t, m, "k", limit, 2)
	clock.Advance(-3 * time.Second)
	if d := mustAllow(t, m, "k", limit, 1); d.Allowed {
		t.Fatalf("after the clock went back: got %+v, want the spent budget still counted", d)
	}
}

func TestMemoryEvictsIdleKeys(t *testing.T) {
	tests := []struct {
		name        string
		idle        time.Duration
		wantEvicted bool
	}{
		{name: "idle one window: its count still weighs", idle: time.Second, wantEvicted: false},
		{name: "idle just under two windows", idle: 2*time.Second - time.Millisecond, wantEvicted: false},
		{name: "idle two windows: nothing left to count", idle: 2 * time.Second, wantEvicted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			m := NewMemory(WithClock(clock.Now))
			limit := porthole.Limit{N: 5, Window: time.Second}
			for i := range 100 {
				mustAllow(t, m, fmt.Sprintf("ip:%d", i), limit, 1)
			}
			clock.Advance(tt.idle)
			m.sweep()
			if got, want := m.len(), map[bool]int{true: 0, false: 100}[tt.wantEvicted]; got != want {
				t.Fatalf("after a sweep: %d keys held, want %d", got, want)
			}
		})
	}
}

// TestMemoryBoundedWithoutRun checks the lazy sweep: a stream of one-off
// keys (an attacker rotating addresses, say) never piles up even when Run
// is not running.
func TestMemoryBoundedWithoutRun(t *testing.T) {
	clock := newFakeClock()
	m := NewMemory(WithClock(clock.Now))
	m.minSweep = 8
	limit := porthole.Limit{N: 5, Window: time.Second}
	const perSecond = 2000
	for second := range 10 {
		for i := range perSecond {
			mustAllow(t, m, fmt.Sprintf("ip:%d:%d", second, i), limit, 1)
		}
		clock.Advance(time.Second)
	}
	// Keys of the last two seconds may be live; each shard holds at most
	// twice its live keys, or minSweep.
	if got, most := m.len(), 2*2*perSecond+memoryShards*m.minSweep; got > most {
		t.Fatalf("%d keys held after 10 seconds of %d new keys per second, want at most %d", got, perSecond, most)
	}
}

func TestMemoryRunStopsWithContext(t *testing.T) {
	m := NewMemory(WithSweepInterval(time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v, want nil", err)
	}
}
