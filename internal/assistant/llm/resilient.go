package llm

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// attempt is one upstream request in flight, as a provider adapter sees it.
type attempt interface {
	// next returns the next event to hand to the caller, or an event of
	// kind 0 when the chunk it read yields nothing yet (a role chunk, a ping,
	// a tool-call fragment). output reports whether the chunk carried model
	// output (text or tool-call fragments): from then on the stream is never
	// retried. The last event of a complete reply is EventDone; a reply that
	// ends without the upstream saying it is complete yields errTruncated.
	next() (ev Event, output bool, err error)
	// close releases the upstream response.
	close()
}

// adapter speaks one provider's API.
type adapter interface {
	// open sends the request and returns once the upstream answered with
	// its headers; an HTTP error status is an error here.
	open(ctx context.Context, req Request) (attempt, error)
	// classify turns an error from open or next into a failure, knowing the
	// SDK's error types; transport errors go to classifyTransportError.
	classify(err error) failure
}

// resilientStream runs attempts of an adapter under the retry and timeout
// policy. It is the Stream every model provider returns.
type resilientStream struct {
	ctx    context.Context
	req    Request
	ad     adapter
	policy Policy

	cur        attempt
	attemptCtx context.Context
	cancel     context.CancelCauseFunc
	watchdog   *time.Timer
	attempts   int
	output     bool // model output was received; never retry from here on
	finished   bool
}

func newResilientStream(ctx context.Context, ad adapter, req Request, policy Policy) *resilientStream {
	return &resilientStream{ctx: ctx, req: req, ad: ad, policy: policy}
}

// errWatchdog is the cause an attempt is canceled with when its timer fires;
// whether it was the first-token or the idle timeout depends on whether
// output had arrived.
var errWatchdog = errors.New("llm: watchdog fired")

// Next implements Stream.
func (s *resilientStream) Next() (Event, bool) {
	if s.finished {
		return Event{}, false
	}
	for {
		if s.cur == nil {
			if f, ok := s.start(); !ok {
				if s.retry(f) {
					continue
				}
				return s.fail(f), true
			}
		}
		ev, output, err := s.cur.next()
		if err != nil {
			f := s.failureOf(err)
			s.endAttempt()
			if s.retry(f) {
				continue
			}
			return s.fail(f), true
		}
		if output {
			s.output = true
		}
		if s.output {
			// Once output flows, the deadline is the idle timeout,
			// restarted by every chunk.
			s.watchdog.Reset(s.policy.IdleTimeout)
		}
		switch ev.Kind {
		case 0:
			continue
		case EventDone:
			s.finished = true
			s.endAttempt()
		}
		return ev, true
	}
}

// Close implements Stream.
func (s *resilientStream) Close() error {
	s.finished = true
	s.endAttempt()
	return nil
}

// start opens a new attempt under a fresh first-token deadline.
func (s *resilientStream) start() (failure, bool) {
	s.attempts++
	ctx, cancel := context.WithCancelCause(s.ctx)
	s.attemptCtx, s.cancel = ctx, cancel
	s.watchdog = time.AfterFunc(s.policy.FirstTokenTimeout, func() { cancel(errWatchdog) })
	cur, err := s.ad.open(ctx, s.req)
	if err != nil {
		f := s.failureOf(err)
		s.endAttempt()
		return f, false
	}
	s.cur = cur
	return failure{}, true
}

// failureOf classifies err from the current attempt, giving the caller's
// cancellation and our own timeouts precedence over what the SDK says.
func (s *resilientStream) failureOf(err error) failure {
	if ctxErr := s.ctx.Err(); ctxErr != nil {
		return failure{kind: ErrCanceled, err: ctxErr}
	}
	if s.attemptCtx != nil && context.Cause(s.attemptCtx) == errWatchdog {
		if s.output {
			return failure{kind: ErrTimeout, err: errIdleTimeout}
		}
		return failure{kind: ErrTimeout, err: errFirstTokenTimeout}
	}
	return s.ad.classify(err)
}

// endAttempt stops the watchdog, closes the upstream response and cancels
// the attempt's context, which makes the HTTP client drop the connection if
// the body was not read to its end.
func (s *resilientStream) endAttempt() {
	if s.watchdog != nil {
		s.watchdog.Stop()
	}
	if s.cur != nil {
		s.cur.close()
		s.cur = nil
	}
	if s.cancel != nil {
		s.cancel(context.Canceled)
		s.cancel, s.attemptCtx = nil, nil
	}
}

// retry waits before the next attempt and reports true when f may be
// retried: it is transient, no output was received, attempts remain, and
// any Retry-After is within the cap.
func (s *resilientStream) retry(f failure) bool {
	if !f.retryable || s.output || s.attempts >= s.policy.MaxAttempts {
		return false
	}
	if f.retryAfter > s.policy.MaxRetryAfter {
		return false
	}
	delay := f.retryAfter
	if delay <= 0 {
		delay = backoff(s.attempts, s.policy.BaseDelay, s.policy.MaxDelay)
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff returns the delay before retry number n (1-based): base doubled
// each time, capped at max, with "equal jitter" (half fixed, half random)
// so synchronized clients spread out without ever retrying at once.
func backoff(n int, base, max time.Duration) time.Duration {
	d := base << (n - 1)
	if d > max || d <= 0 {
		d = max
	}
	half := d / 2
	return half + rand.N(half+1)
}

// fail ends the stream with an error event for f.
func (s *resilientStream) fail(f failure) Event {
	s.finished = true
	s.endAttempt()
	if s.ctx.Err() != nil && f.kind != ErrCanceled {
		f = failure{kind: ErrCanceled, err: s.ctx.Err()}
	}
	return Event{Kind: EventError, Err: &Error{
		Kind:        f.kind,
		StatusCode:  f.status,
		Attempts:    s.attempts,
		AfterOutput: s.output,
		Err:         f.err,
	}}
}
