package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

const (
	// memoryShards spreads keys over independently locked maps so parallel
	// requests for different keys rarely wait on one another.
	memoryShards = 64
	// defaultMinSweep is the size a shard may reach before an insert makes it
	// drop its idle keys; after a sweep the threshold is twice the survivors.
	defaultMinSweep = 1024
	// defaultSweepInterval is how often Run sweeps every shard.
	defaultSweepInterval = time.Minute
)

// Memory is the in-process sliding-window limiter. It is safe for concurrent
// use and its limits hold within one process only.
//
// Memory stays bounded without help: a key whose last write is two windows
// old no longer affects any decision, and such idle keys are dropped from a
// shard whenever an insert finds it grown to twice the size left by its last
// sweep. Run adds a periodic sweep of every shard so memory is also returned
// when traffic stops.
type Memory struct {
	now           func() time.Time
	epoch         time.Time
	sweepInterval time.Duration
	minSweep      int
	seed          maphash.Seed
	shards        [memoryShards]memoryShard
}

type memoryKey struct {
	key    string
	window time.Duration
}

type memoryShard struct {
	mu      sync.Mutex
	entries map[memoryKey]windowState
	sweepAt int
	_       [64]byte // keeps neighbouring shards' locks off one cache line
}

// MemoryOption configures a Memory limiter.
type MemoryOption func(*Memory)

// WithClock makes the limiter read time from now instead of time.Now, so
// tests can move time by hand.
func WithClock(now func() time.Time) MemoryOption {
	return func(m *Memory) { m.now = now }
}

// WithSweepInterval sets how often Run drops idle keys (default one minute).
// A non-positive interval keeps the default.
func WithSweepInterval(d time.Duration) MemoryOption {
	return func(m *Memory) {
		if d > 0 {
			m.sweepInterval = d
		}
	}
}

// NewMemory returns an empty in-process limiter.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{
		now:           time.Now,
		sweepInterval: defaultSweepInterval,
		minSweep:      defaultMinSweep,
		seed:          maphash.MakeSeed(),
	}
	for _, opt := range opts {
		opt(m)
	}
	// Windows are counted from the limiter's creation; with time.Now the
	// offsets use the monotonic clock, so a wall-clock jump moves nothing.
	m.epoch = m.now()
	for i := range m.shards {
		m.shards[i].entries = make(map[memoryKey]windowState)
	}
	return m
}

// Allow implements porthole.Limiter. It consumes cost units of key's budget
// when they fit and nothing when they do not. It never fails except for an
// invalid limit or cost (porthole.EINVALID). ctx is not consulted: a
// decision waits for nothing but one shard's lock.
func (m *Memory) Allow(_ context.Context, key string, limit porthole.Limit, cost int64) (porthole.Decision, error) {
	if err := Validate(limit, cost); err != nil {
		return porthole.Decision{}, err
	}
	offset := int64(m.now().Sub(m.epoch))
	window := int64(limit.Window)
	index := floorDiv(offset, window)
	k := memoryKey{key: key, window: limit.Window}

	shard := &m.shards[maphash.String(m.seed, key)%memoryShards]
	shard.mu.Lock()
	defer shard.mu.Unlock()
	stored, found := shard.entries[k]
	if !found {
		stored = windowState{index: index}
	}
	st, elapsed := rollTo(stored, index, offset-index*window)
	decision, next := decide(st, elapsed, window, limit.N, cost)
	if decision.Allowed {
		if !found {
			shard.makeRoom(offset, m.minSweep)
		}
		shard.entries[k] = next
	}
	return decision, nil
}

// Run sweeps idle keys out of every shard each sweep interval until ctx is
// done, then returns nil. It has no failure mode; running it is optional
// (see Memory) and only returns memory sooner.
func (m *Memory) Run(ctx context.Context) error {
	ticker := time.NewTicker(m.sweepInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			m.sweep()
		}
	}
}

// sweep drops every idle key now.
func (m *Memory) sweep() {
	offset := int64(m.now().Sub(m.epoch))
	for i := range m.shards {
		shard := &m.shards[i]
		shard.mu.Lock()
		shard.dropIdle(offset, m.minSweep)
		shard.mu.Unlock()
	}
}

// len returns the number of keys held, for tests.
func (m *Memory) len() int {
	n := 0
	for i := range m.shards {
		shard := &m.shards[i]
		shard.mu.Lock()
		n += len(shard.entries)
		shard.mu.Unlock()
	}
	return n
}

// makeRoom is called before a new key is inserted; it sweeps the shard when
// it has doubled since the last sweep, which keeps the cost amortised O(1)
// per insert and the shard at most twice its live keys (or minSweep).
func (s *memoryShard) makeRoom(offset int64, minSweep int) {
	if len(s.entries) >= max(s.sweepAt, minSweep) {
		s.dropIdle(offset, minSweep)
	}
}

// dropIdle deletes the keys whose last written window is two or more windows
// old: both of their counts have aged out, so forgetting them is lossless.
// A Go map keeps its buckets after deletes, so when most keys went (the
// tail of a burst of one-off keys, say) the survivors move to a fresh map and
// the old one is left to the garbage collector.
func (s *memoryShard) dropIdle(offset int64, minSweep int) {
	before := len(s.entries)
	for k, st := range s.entries {
		if floorDiv(offset, int64(k.window)) >= st.index+2 {
			delete(s.entries, k)
		}
	}
	if before > minSweep && len(s.entries) < before/4 {
		// Copied by hand: maps.Clone may keep the old map's size.
		fresh := make(map[memoryKey]windowState, len(s.entries))
		for k, st := range s.entries {
			fresh[k] = st
		}
		s.entries = fresh
	}
	s.sweepAt = max(minSweep, 2*len(s.entries))
}
