package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// benchKeys are the keys the benchmarks spread their requests over, as a
// server spreads them over client addresses.
func benchKeys() []string {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "ip:198.51.100." + strconv.Itoa(i)
	}
	return keys
}

// benchLimit is high enough that every benchmarked request is allowed, the
// common and costlier path (it writes).
var benchLimit = porthole.Limit{N: 1 << 40, Window: time.Minute}

func BenchmarkMemoryAllow(b *testing.B) {
	m := NewMemory()
	keys := benchKeys()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := m.Allow(ctx, keys[i%len(keys)], benchLimit, 1); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMemoryAllowParallel(b *testing.B) {
	m := NewMemory()
	keys := benchKeys()
	ctx := context.Background()
	var worker atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(worker.Add(1)) * 97
		for pb.Next() {
			if _, err := m.Allow(ctx, keys[i%len(keys)], benchLimit, 1); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkRedisAllow(b *testing.B) {
	client := mustRedisClient(b)
	r := NewRedis(client, mustTestPrefix(b, client))
	keys := benchKeys()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := r.Allow(ctx, keys[i%len(keys)], benchLimit, 1); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkRedisAllowParallel(b *testing.B) {
	client := mustRedisClient(b)
	r := NewRedis(client, mustTestPrefix(b, client))
	keys := benchKeys()
	ctx := context.Background()
	var worker atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(worker.Add(1)) * 97
		for pb.Next() {
			if _, err := r.Allow(ctx, keys[i%len(keys)], benchLimit, 1); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
