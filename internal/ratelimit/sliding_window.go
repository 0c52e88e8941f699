package ratelimit

import (
	"math"
	"math/bits"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// maxUnits is the largest limit.N accepted. Redis's Lua numbers are doubles:
// with N and cost at most 2^52 every sum the script forms stays below 2^53
// and is exact.
const maxUnits = 1 << 52

// Validate reports, as a porthole.EINVALID error, why Allow would refuse
// limit and cost; it returns nil when they are acceptable. Configuration uses
// it to reject a bad limit at start-up instead of on the first request.
func Validate(limit porthole.Limit, cost int64) error {
	switch {
	case limit.N <= 0:
		return porthole.Errorf(porthole.EINVALID, "rate limit must allow at least one unit, got %d", limit.N)
	case limit.N > maxUnits:
		return porthole.Errorf(porthole.EINVALID, "rate limit of %d units is above the maximum of 2^52", limit.N)
	case limit.Window <= 0:
		return porthole.Errorf(porthole.EINVALID, "rate limit window must be positive, got %s", limit.Window)
	case limit.Window%time.Millisecond != 0:
		return porthole.Errorf(porthole.EINVALID, "rate limit window must be a whole number of milliseconds, got %s", limit.Window)
	case cost <= 0:
		return porthole.Errorf(porthole.EINVALID, "rate limit cost must be positive, got %d", cost)
	case cost > limit.N:
		return porthole.Errorf(porthole.EINVALID, "cost %d can never fit a limit of %d units per %s", cost, limit.N, limit.Window)
	}
	return nil
}

// windowState is what the limiter remembers for one key: the number of the
// fixed window last written and the units counted in it and in the window
// before it.
type windowState struct {
	index    int64
	current  int64
	previous int64
}

// rollTo brings st forward to window index and returns it with the time
// elapsed in that window. A state written in a later window than index means
// the clock went backwards, or that a caller which read the clock first got
// the lock second; the stored window is kept and taken as just begun, which
// counts the previous window in full, the cautious reading.
func rollTo(st windowState, index, elapsed int64) (windowState, int64) {
	switch {
	case st.index == index:
	case st.index == index-1:
		st = windowState{index: index, previous: st.current}
	case st.index < index-1:
		st = windowState{index: index}
	default:
		elapsed = 0
	}
	return st, elapsed
}

// decide applies the sliding-window rule to st, already rolled to the
// current window, at elapsed nanoseconds into a window of the given length.
// It returns the decision and the state to store when the request was
// allowed. The Lua script in sliding_window.lua is the same rule in
// milliseconds; the two must change together.
func decide(st windowState, elapsed, window, limit, cost int64) (porthole.Decision, windowState) {
	used := st.current + mulDivCeil(st.previous, window-elapsed, window)
	if used+cost <= limit {
		st.current += cost
		return porthole.Decision{Allowed: true, Remaining: limit - used - cost}, st
	}
	var wait int64
	if st.current+cost <= limit {
		// The request fits this window once the previous window's weight
		// drops to room: at elapsed e with ceil(previous×(window−e)/window) <= room.
		room := limit - st.current - cost
		wait = mulDivCeil(window, st.previous-room, st.previous) - elapsed
	} else {
		// Only the next window can hold it, once this window's units,
		// weighted as that window's previous, drop to room.
		room := limit - cost
		wait = addSaturating(window-elapsed, mulDivCeil(window, st.current-room, st.current))
	}
	return porthole.Decision{Remaining: max(0, limit-used), RetryAfter: time.Duration(wait)}, st
}

// mulDivCeil returns ceil(a×b/d) for non-negative a and b and positive d,
// computed in 128 bits so the product cannot overflow. Callers guarantee the
// quotient fits in an int64 (it is at most a or b).
func mulDivCeil(a, b, d int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, r := bits.Div64(hi, lo, uint64(d))
	if r != 0 {
		q++
	}
	return int64(q)
}

// floorDiv divides rounding towards negative infinity, so instants before
// the epoch still fall in the window that contains them.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// addSaturating adds two non-negative durations, stopping at the largest
// Duration instead of wrapping for windows near its range.
func addSaturating(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
