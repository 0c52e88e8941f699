package ratelimit

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/porthole-chat/porthole/internal/porthole"
)

//go:embed sliding_window.lua
var slidingWindowLua string

// Redis is the sliding-window limiter shared by every process using the same
// Redis database. Each decision is one script call (EVALSHA, falling back to
// EVAL once after a script cache flush) that reads, checks and increments
// atomically against the server's clock. It is safe for concurrent use.
type Redis struct {
	client redis.UniversalClient
	prefix string
	script *redis.Script
}

// NewRedis returns a limiter keeping its state in client under keys that
// start with prefix (for example "porthole:rl:"); no other data in that
// database should use the prefix. The rest of each key is 16 characters
// derived from the caller's key and the window by SHA-256, so no caller key,
// whatever its characters or length, can reach outside the prefix or
// collide with another. Keys expire on their own once idle for two windows.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix, script: redis.NewScript(slidingWindowLua)}
}

// Allow implements porthole.Limiter. It returns porthole.EINVALID for an
// invalid limit or cost, and porthole.EUNAVAILABLE, wrapping the cause, when
// Redis cannot be reached or ctx ends: whether to let the request through
// then is the caller's decision.
func (r *Redis) Allow(ctx context.Context, key string, limit porthole.Limit, cost int64) (porthole.Decision, error) {
	if err := Validate(limit, cost); err != nil {
		return porthole.Decision{}, err
	}
	windowMS := limit.Window.Milliseconds()
	reply, err := r.script.Run(ctx, r.client, []string{r.stateKey(key, windowMS)}, limit.N, windowMS, cost).Int64Slice()
	if err != nil {
		return porthole.Decision{}, porthole.WrapError(porthole.EUNAVAILABLE, err, "rate limiter unavailable")
	}
	if len(reply) != 3 {
		return porthole.Decision{}, porthole.WrapError(porthole.EINTERNAL,
			fmt.Errorf("ratelimit: script returned %d values, want 3", len(reply)), "rate limiter failed")
	}
	return porthole.Decision{
		Allowed:    reply[0] == 1,
		Remaining:  reply[1],
		RetryAfter: time.Duration(reply[2]) * time.Millisecond,
	}, nil
}

// stateKey returns the Redis key holding key's state for one window length:
// the prefix and 96 bits of SHA-256 over the window and the key, in unpadded
// base64url. The window comes first at a fixed width, so (window, key) pairs
// map one-to-one onto hash inputs.
func (r *Redis) stateKey(key string, windowMS int64) string {
	var window [8]byte
	binary.BigEndian.PutUint64(window[:], uint64(windowMS))
	h := sha256.New()
	h.Write(window[:])
	_, _ = io.WriteString(h, key)
	var sum [sha256.Size]byte
	return r.prefix + base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0])[:12])
}
