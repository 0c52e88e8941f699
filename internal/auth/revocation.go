package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Revocations remembers revoked access tokens, by session id or token id,
// until no token they name can still be valid.
type Revocations interface {
	// Revoke marks tokens with the given session id (kind "sid") or token
	// id (kind "jti") revoked until `until`.
	Revoke(ctx context.Context, kind, value string, until time.Time) error
	// Revoked reports whether a token with session id sid or token id jti
	// was revoked.
	Revoked(ctx context.Context, sid, jti string) (bool, error)
}

// DBRevocations keeps revocations in the database (the default).
type DBRevocations struct{ DB *store.DB }

// Revoke implements Revocations.
func (r DBRevocations) Revoke(ctx context.Context, kind, value string, until time.Time) error {
	return r.DB.RevokeToken(ctx, kind, value, until)
}

// Revoked implements Revocations.
func (r DBRevocations) Revoked(ctx context.Context, sid, jti string) (bool, error) {
	return r.DB.TokenRevoked(ctx, sid, jti)
}

// RedisRevocations keeps revocations in Redis, each as a key that expires
// with the last token it could name; used when Redis is configured, so
// every process sees a revocation at once without a database query per
// request.
type RedisRevocations struct {
	Client redis.UniversalClient
	Prefix string // e.g. "porthole:revoked:"
	// Now is the clock `until` is measured against; nil means time.Now.
	Now func() time.Time
}

// Revoke implements Revocations.
func (r RedisRevocations) Revoke(ctx context.Context, kind, value string, until time.Time) error {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	ttl := until.Sub(now())
	if ttl < time.Second {
		ttl = time.Second
	}
	if err := r.Client.Set(ctx, r.Prefix+kind+":"+value, "1", ttl).Err(); err != nil {
		return porthole.WrapError(porthole.EUNAVAILABLE, fmt.Errorf("redis revoke: %w", err), "revocation store unavailable")
	}
	return nil
}

// Revoked implements Revocations.
func (r RedisRevocations) Revoked(ctx context.Context, sid, jti string) (bool, error) {
	n, err := r.Client.Exists(ctx, r.Prefix+"sid:"+sid, r.Prefix+"jti:"+jti).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		// Fail closed: a token whose revocation cannot be checked is refused.
		return true, porthole.WrapError(porthole.EUNAVAILABLE, fmt.Errorf("redis revoked: %w", err), "revocation store unavailable")
	}
	return n > 0, nil
}
