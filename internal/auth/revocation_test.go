package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/testenv"
)

func mustRedisRevocations(tb testing.TB) RedisRevocations {
	tb.Helper()
	opts, err := redis.ParseURL(testenv.RedisURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	client := redis.NewClient(opts)
	tb.Cleanup(func() { client.Close() })
	if err := client.Ping(context.Background()).Err(); err != nil {
		testenv.Missing(tb, "redis unreachable: "+err.Error())
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return RedisRevocations{Client: client, Prefix: "porthole-test:" + hex.EncodeToString(b[:]) + ":"}
}

func TestRedisRevocations(t *testing.T) {
	rev := mustRedisRevocations(t)
	h := mustSQLiteHarness(t, func(c *Config, d *Deps) {
		rev.Now = c.Now
		d.Revocations = rev
	})
	ctx := context.Background()
	org := h.mustOrg(t, "Org")
	h.mustMember(t, org.ID, "r@example.com", porthole.RoleOwner)
	res := h.mustLogin(t, "r@example.com")
	p := h.mustPrincipal(t, Credentials{Authorization: "Bearer " + res.AccessToken})
	if err := h.svc.Logout(ctx, p); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.Authenticate(ctx, Credentials{Authorization: "Bearer " + res.AccessToken})
	wantCode(t, err, porthole.EUNAUTHORIZED)
	ttl, err := rev.Client.PTTL(ctx, rev.Prefix+"sid:"+p.SessionID).Result()
	if err != nil || ttl <= 0 || ttl > MaxAccessTokenTTL+time.Minute {
		t.Fatalf("revocation key TTL = %v, %v; want it to expire with the tokens", ttl, err)
	}
	if revoked, err := rev.Revoked(ctx, porthole.NewID(), porthole.NewID()); err != nil || revoked {
		t.Fatalf("Revoked(other) = %v, %v", revoked, err)
	}
}
