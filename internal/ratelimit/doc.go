// Package ratelimit is the one rate-limiting mechanism of Porthole: a moving
// (sliding) window limiter behind porthole.Limiter, with an in-process
// implementation (Memory) for a single process and a Redis-backed one (Redis)
// for several processes sharing limits.
//
// # Algorithm
//
// Both implementations run the same sliding-window counter. Time is cut into
// fixed windows of limit.Window; for each key the limiter keeps the number of
// units consumed in the current window and in the previous one. At a moment
// that lies a fraction f of the way into the current window, the units in use
// are estimated as
//
//	used = current + ceil(previous × (1 − f))
//
// and a request of cost units is allowed when used + cost <= limit.N, in which
// case cost is added to current. A refused request consumes nothing. Each
// request may carry its own cost, so the same limiter counts requests (cost 1)
// and token budgets (cost = tokens, limit = for example 100,000 per hour).
//
// # The approximation
//
// The estimate assumes the previous window's units were spread evenly over it.
// Against an exact sliding log this errs both ways:
//
//   - Units taken early in the previous window are still weighted although
//     they have left the moving window, so the limiter may refuse a little
//     earlier than an exact log would. Rounding the weighted part up errs the
//     same, safe, way.
//   - Units taken in a burst at the very end of the previous window are
//     weighted down as the current window advances, so an interval of length
//     Window straddling the boundary can see more than N units: never more
//     than 2N, since no single fixed window ever admits more than N. Under
//     steady traffic the estimate stays close to N.
//
// This trade buys O(1) memory and one small record per key, which is what
// lets the limiter key by IP address, e-mail or organization at scale.
//
// # Decisions
//
// Decision.Remaining is limit.N minus the estimate after the request (for a
// refusal, before it), never negative. When a request is refused,
// Decision.RetryAfter is positive and is the earliest moment, assuming nobody
// else consumes units meanwhile, at which the same request would be allowed;
// by then at least cost units have freed up. Memory computes it exactly to
// the nanosecond, Redis rounds it up to the millisecond. Callers that write a
// Retry-After header must round it up to whole seconds, never down to zero.
//
// # Limits Allow refuses
//
// Allow returns a porthole.EINVALID error, and no decision, when limit.N or
// limit.Window is not positive, when Window is not a whole number of
// milliseconds (the Redis clock's resolution), when N is above 2^52 (the
// largest count Redis's Lua numbers hold exactly with room for a cost), or
// when cost is not positive or is greater than N: such a request could never
// fit, and answering "retry later" would be a lie. Validate checks the same
// rules, so configuration can be checked at start-up.
//
// # Keys
//
// The state is kept per (key, Window): the same key used with two windows
// gives two independent counters, while two limits with the same key and
// Window but a different N share one counter and differ only in threshold.
//
// # What this package must never do
//
// It never decides for the caller whether to fail open or closed when Redis
// is unreachable: Redis returns an EUNAVAILABLE error and the caller chooses.
// It never logs keys, which may carry e-mail or IP addresses, and it never
// starts a goroutine of its own: Memory's sweeper runs only under the
// caller's Run.
package ratelimit
