package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// harness is one limiter under the conformance suite, with a way to let time
// pass: Memory's fake clock jumps, Redis's real clock is slept on. The suite
// only asserts what holds however much longer than asked a wait lasts, so it
// is deterministic on Memory and free of timing flakes on Redis.
type harness struct {
	limiter porthole.Limiter
	wait    func(d time.Duration)
}

// runConformance runs the behaviour every porthole.Limiter of this package
// must show. newHarness returns a limiter with no state, for each subtest.
func runConformance(t *testing.T, newHarness func(tb testing.TB) harness) {
	t.Run("allows up to N then refuses", func(t *testing.T) {
		tests := []struct {
			name  string
			limit porthole.Limit
			cost  int64
		}{
			{name: "one per minute", limit: porthole.Limit{N: 1, Window: time.Minute}, cost: 1},
			{name: "five per minute", limit: porthole.Limit{N: 5, Window: time.Minute}, cost: 1},
			{name: "token budget per hour", limit: porthole.Limit{N: 100_000, Window: time.Hour}, cost: 25_000},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t)
				fits := tt.limit.N / tt.cost
				for i := int64(1); i <= fits; i++ {
					d := mustAllow(t, h.limiter, "k", tt.limit, tt.cost)
					if !d.Allowed || d.Remaining != tt.limit.N-i*tt.cost {
						t.Fatalf("request %d: got %+v, want allowed with %d remaining", i, d, tt.limit.N-i*tt.cost)
					}
				}
				// A refusal consumes nothing, so it can be repeated.
				for range 2 {
					d := mustAllow(t, h.limiter, "k", tt.limit, tt.cost)
					if d.Allowed || d.Remaining != 0 {
						t.Fatalf("request %d: got %+v, want refused with 0 remaining", fits+1, d)
					}
					mustRetryAfterWithin(t, d, 2*tt.limit.Window)
				}
			})
		}
	})

	t.Run("costs above one", func(t *testing.T) {
		h := newHarness(t)
		limit := porthole.Limit{N: 10, Window: time.Minute}
		steps := []struct {
			name          string
			cost          int64
			wantAllowed   bool
			wantRemaining int64
		}{
			{name: "first four", cost: 4, wantAllowed: true, wantRemaining: 6},
			{name: "next four", cost: 4, wantAllowed: true, wantRemaining: 2},
			{name: "four more do not fit", cost: 4, wantAllowed: false, wantRemaining: 2},
			{name: "three do not fit either", cost: 3, wantAllowed: false, wantRemaining: 2},
			{name: "the refusals took nothing", cost: 2, wantAllowed: true, wantRemaining: 0},
			{name: "full", cost: 1, wantAllowed: false, wantRemaining: 0},
		}
		for _, step := range steps {
			d := mustAllow(t, h.limiter, "k", limit, step.cost)
			if d.Allowed != step.wantAllowed || d.Remaining != step.wantRemaining {
				t.Fatalf("%s: got %+v, want allowed=%v remaining=%d", step.name, d, step.wantAllowed, step.wantRemaining)
			}
			if !d.Allowed {
				mustRetryAfterWithin(t, d, 2*limit.Window)
			}
		}
	})

	t.Run("window slide frees capacity gradually", func(t *testing.T) {
		h := newHarness(t)
		limit := porthole.Limit{N: 4, Window: 300 * time.Millisecond}
		if d := mustAllow(t, h.limiter, "k", limit, 4); !d.Allowed {
			t.Fatalf("filling: got %+v, want allowed", d)
		}
		one := mustAllow(t, h.limiter, "k", limit, 1)
		all := mustAllow(t, h.limiter, "k", limit, 4)
		if one.Allowed || all.Allowed {
			t.Fatalf("full limiter allowed: one=%+v all=%+v", one, all)
		}
		mustRetryAfterWithin(t, one, 2*limit.Window)
		mustRetryAfterWithin(t, all, 2*limit.Window)
		// The previous window's units leave one by one as the window moves
		// on: one unit frees up a quarter window after the boundary, all
		// four a whole window after it, where a fixed window would free
		// them all at once. (The margin, three quarters of a window, covers
		// the time between the two calls on a real clock.)
		if one.RetryAfter >= all.RetryAfter {
			t.Fatalf("one unit frees after %s, all four after %s: want one before all", one.RetryAfter, all.RetryAfter)
		}
		h.wait(one.RetryAfter)
		if d := mustAllow(t, h.limiter, "k", limit, 1); !d.Allowed {
			t.Fatalf("after waiting RetryAfter %s: got %+v, want allowed", one.RetryAfter, d)
		}
		// Two windows after the last request nothing is counted any more.
		h.wait(2 * limit.Window)
		if d := mustAllow(t, h.limiter, "k", limit, 4); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("after two idle windows: got %+v, want allowed with 0 remaining", d)
		}
	})

	t.Run("RetryAfter is enough", func(t *testing.T) {
		tests := []struct {
			name  string
			limit porthole.Limit
			fill  int64
			cost  int64
		}{
			{name: "next unit", limit: porthole.Limit{N: 3, Window: 200 * time.Millisecond}, fill: 3, cost: 1},
			{name: "whole budget", limit: porthole.Limit{N: 3, Window: 200 * time.Millisecond}, fill: 3, cost: 3},
			{name: "cost larger than what is left", limit: porthole.Limit{N: 10, Window: 200 * time.Millisecond}, fill: 7, cost: 5},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t)
				if d := mustAllow(t, h.limiter, "k", tt.limit, tt.fill); !d.Allowed {
					t.Fatalf("filling: got %+v, want allowed", d)
				}
				d := mustAllow(t, h.limiter, "k", tt.limit, tt.cost)
				if d.Allowed {
					t.Fatalf("got %+v, want refused", d)
				}
				mustRetryAfterWithin(t, d, 2*tt.limit.Window)
				h.wait(d.RetryAfter)
				if d2 := mustAllow(t, h.limiter, "k", tt.limit, tt.cost); !d2.Allowed {
					t.Fatalf("after waiting RetryAfter %s: got %+v, want allowed", d.RetryAfter, d2)
				}
			})
		}
	})

	t.Run("RetryAfter is enough while the previous window weighs", func(t *testing.T) {
		h := newHarness(t)
		limit := porthole.Limit{N: 4, Window: 300 * time.Millisecond}
		mustAllow(t, h.limiter, "k", limit, 4)
		d := mustAllow(t, h.limiter, "k", limit, 1)
		h.wait(d.RetryAfter)
		if d := mustAllow(t, h.limiter, "k", limit, 1); !d.Allowed {
			t.Fatalf("after waiting RetryAfter: got %+v, want allowed", d)
		}
		// Now a quarter into the next window (later on a slow real clock):
		// two more units fit this window but not yet beside the previous
		// window's weight, so the answer is a wait within this window.
		d = mustAllow(t, h.limiter, "k", limit, 2)
		if d.Allowed {
			return // the real clock overslept past the point of interest
		}
		mustRetryAfterWithin(t, d, limit.Window)
		h.wait(d.RetryAfter)
		if d2 := mustAllow(t, h.limiter, "k", limit, 2); !d2.Allowed {
			t.Fatalf("after waiting RetryAfter %s: got %+v, want allowed", d.RetryAfter, d2)
		}
	})

	t.Run("keys are independent", func(t *testing.T) {
		h := newHarness(t)
		limit := porthole.Limit{N: 2, Window: time.Minute}
		for range 2 {
			mustAllow(t, h.limiter, "ip:192.0.2.1", limit, 1)
		}
		if d := mustAllow(t, h.limiter, "ip:192.0.2.1", limit, 1); d.Allowed {
			t.Fatalf("exhausted key: got %+v, want refused", d)
		}
		tests := []struct {
			name  string
			key   string
			limit porthole.Limit
		}{
			{name: "another key", key: "ip:192.0.2.2", limit: limit},
			{name: "a key sharing a prefix", key: "ip:192.0.2.10", limit: limit},
			{name: "the empty key", key: "", limit: limit},
			{name: "the same key with another window", key: "ip:192.0.2.1", limit: porthole.Limit{N: 2, Window: time.Hour}},
		}
		for _, tt := range tests {
			if d := mustAllow(t, h.limiter, tt.key, tt.limit, 1); !d.Allowed || d.Remaining != tt.limit.N-1 {
				t.Fatalf("%s: got %+v, want allowed with %d remaining", tt.name, d, tt.limit.N-1)
			}
		}
	})

	t.Run("concurrent callers never exceed N", func(t *testing.T) {
		h := newHarness(t)
		// An hour-long window: even across a window boundary, no unit frees
		// up during the test, so exactly N requests may pass.
		limit := porthole.Limit{N: 100, Window: time.Hour}
		const callers, attempts = 8, 30
		var allowed atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for range callers {
			wg.Go(func() {
				for range attempts {
					d, err := h.limiter.Allow(context.Background(), "shared", limit, 1)
					if err != nil {
						errs <- err
						return
					}
					if d.Allowed {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Allow: %v", err)
		}
		if got := allowed.Load(); got != limit.N {
			t.Fatalf("%d callers × %d attempts: %d allowed, want exactly %d", callers, attempts, got, limit.N)
		}
	})

	t.Run("invalid limits are refused", func(t *testing.T) {
		h := newHarness(t)
		tests := []struct {
			name  string
			limit porthole.Limit
			cost  int64
		}{
			{name: "zero N", limit: porthole.Limit{N: 0, Window: time.Minute}, cost: 1},
			{name: "negative N", limit: porthole.Limit{N: -1, Window: time.Minute}, cost: 1},
			{name: "N above 2^52", limit: porthole.Limit{N: 1<<52 + 1, Window: time.Minute}, cost: 1},
			{name: "zero window", limit: porthole.Limit{N: 5, Window: 0}, cost: 1},
			{name: "negative window", limit: porthole.Limit{N: 5, Window: -time.Second}, cost: 1},
			{name: "window below a millisecond", limit: porthole.Limit{N: 5, Window: time.Microsecond}, cost: 1},
			{name: "window not in whole milliseconds", limit: porthole.Limit{N: 5, Window: 1500 * time.Microsecond}, cost: 1},
			{name: "zero cost", limit: porthole.Limit{N: 5, Window: time.Minute}, cost: 0},
			{name: "negative cost", limit: porthole.Limit{N: 5, Window: time.Minute}, cost: -1},
			{name: "cost above N can never fit", limit: porthole.Limit{N: 5, Window: time.Minute}, cost: 6},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d, err := h.limiter.Allow(context.Background(), "k", tt.limit, tt.cost)
				if !porthole.IsCode(err, porthole.EINVALID) {
					t.Fatalf("got error %v, want code %s", err, porthole.EINVALID)
				}
				if d != (porthole.Decision{}) {
					t.Fatalf("got decision %+v with the error, want none", d)
				}
				if err := Validate(tt.limit, tt.cost); !porthole.IsCode(err, porthole.EINVALID) {
					t.Fatalf("Validate: got %v, want code %s", err, porthole.EINVALID)
				}
			})
		}
		// The largest accepted values still work.
		if d := mustAllow(t, h.limiter, "k", porthole.Limit{N: 1 << 52, Window: time.Millisecond}, 1<<52); !d.Allowed {
			t.Fatalf("N = cost = 2^52: got %+v, want allowed", d)
		}
	})
}

// mustAllow calls Allow and fails tb on an error.
func mustAllow(tb testing.TB, l porthole.Limiter, key string, limit porthole.Limit, cost int64) porthole.Decision {
	tb.Helper()
	d, err := l.Allow(context.Background(), key, limit, cost)
	if err != nil {
		tb.Fatalf("Allow(%q, %+v, %d): %v", key, limit, cost, err)
	}
	return d
}

// mustRetryAfterWithin fails tb unless the refusal d carries a positive
// RetryAfter no longer than most.
func mustRetryAfterWithin(tb testing.TB, d porthole.Decision, most time.Duration) {
	tb.Helper()
	if d.RetryAfter <= 0 || d.RetryAfter > most {
		tb.Fatalf("RetryAfter %s: want in (0, %s]", d.RetryAfter, most)
	}
}
