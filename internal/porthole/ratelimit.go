package porthole

import (
	"context"
	"time"
)

// Limit is a moving-window rate: at most N units per Window.
type Limit struct {
	N      int64
	Window time.Duration
}

// Decision is what a limiter answered for one request.
type Decision struct {
	Allowed    bool
	Remaining  int64         // units left in the window after this request
	RetryAfter time.Duration // when not allowed: how long until enough units free up
}

// Limiter is the one rate-limiting mechanism of the product: a moving
// (sliding) window keyed by whatever the caller chooses ("ip:1.2.3.4",
// "login-email:a@b.c", "org:ID:tokens"). Allow consumes cost units when the
// request fits and nothing when it does not.
type Limiter interface {
	Allow(ctx context.Context, key string, limit Limit, cost int64) (Decision, error)
}
