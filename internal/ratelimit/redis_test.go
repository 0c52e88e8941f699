package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/testenv"
)

// mustRedisClient connects to the test Redis (skipping without one) and
// closes the client when tb ends.
func mustRedisClient(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	opts, err := redis.ParseURL(testenv.RedisURL(tb))
	if err != nil {
		tb.Fatalf("parse PORTHOLE_TEST_REDIS_URL: %v", err)
	}
	client := redis.NewClient(opts)
	tb.Cleanup(func() { _ = client.Close() })
	if err := client.Ping(context.Background()).Err(); err != nil {
		tb.Fatalf("ping Redis: %v", err)
	}
	return client
}

// mustTestPrefix returns a key prefix no other test run uses and deletes
// every key under it when tb ends.
func mustTestPrefix(tb testing.TB, client redis.UniversalClient) string {
	tb.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "porthole-test:rl:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("clean up %s*: %v", prefix, err)
		}
	})
	return prefix
}

func TestRedisConformance(t *testing.T) {
	client := mustRedisClient(t)
	runConformance(t, func(tb testing.TB) harness {
		return harness{
			limiter: NewRedis(client, mustTestPrefix(tb, client)),
			wait:    time.Sleep,
		}
	})
}

func TestRedisKeysExpire(t *testing.T) {
	client := mustRedisClient(t)
	prefix := mustTestPrefix(t, client)
	limiter := NewRedis(client, prefix)
	limit := porthole.Limit{N: 5, Window: time.Minute}
	mustAllow(t, limiter, "login-email:a@example.com", limit, 1)
	keys, err := client.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	if len(keys) != 1 {
		t.Fatalf("got keys %q, want one", keys)
	}
	ttl, err := client.PTTL(context.Background(), keys[0]).Result()
	if err != nil {
		t.Fatalf("PTTL: %v", err)
	}
	if ttl <= limit.Window || ttl > 2*limit.Window {
		t.Fatalf("TTL %s: want in (%s, %s]", ttl, limit.Window, 2*limit.Window)
	}
}

func TestRedisStateKey(t *testing.T) {
	limiter := NewRedis(nil, "p:")
	tests := []struct {
		name     string
		key      string
		windowMS int64
	}{
		{name: "plain", key: "ip:192.0.2.1", windowMS: 60_000},
		{name: "empty", key: "", windowMS: 60_000},
		{name: "separators and globs", key: "a:b*c?[d]\r\n{tag}", windowMS: 60_000},
		{name: "long", key: strings.Repeat("x", 10_000), windowMS: 60_000},
		{name: "plain, another window", key: "ip:192.0.2.1", windowMS: 3_600_000},
	}
	seen := make(map[string]string)
	for _, tt := range tests {
		got := limiter.stateKey(tt.key, tt.windowMS)
		rest, ok := strings.CutPrefix(got, "p:")
		if !ok || len(rest) != 16 || strings.Trim(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Errorf("%s: key %q, want the prefix and 16 base64url characters", tt.name, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%s: key %q also used by %s", tt.name, got, other)
		}
		seen[got] = tt.name
	}
}

func TestRedisUnavailable(t *testing.T) {
	// Nothing listens on port 1; the limiter must say so, not decide.
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	d, err := NewRedis(client, "p:").Allow(context.Background(), "k", porthole.Limit{N: 1, Window: time.Second}, 1)
	if !porthole.IsCode(err, porthole.EUNAVAILABLE) {
		t.Fatalf("got error %v, want code %s", err, porthole.EUNAVAILABLE)
	}
	if d != (porthole.Decision{}) {
		t.Fatalf("got decision %+v with the error, want none", d)
	}
}
