package audit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"golang.org/x/mod/sumdb/tlog"
)

// LogOptions tune a Log. The zero value is usable.
type LogOptions struct {
	// MaxBatch caps the entries written in one store transaction
	// (default 4096). Larger batches raise throughput and the latency of
	// the slowest caller in the batch.
	MaxBatch int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives what the Log cannot return to a caller (default
	// slog.Default()).
	Logger *slog.Logger
}

// Log appends entries to the Wake. One writer goroutine (Run) serializes the
// appends of every organization: callers enqueue entries and wait, the
// writer takes everything queued (up to MaxBatch entries), seals it with
// PrepareBatch and commits it in one Store.AppendBatches transaction. Under
// load, many callers share one transaction, which is what makes SQLite fast
// enough; when idle, an entry is written alone and at once.
//
// Several processes may append to one database: the store refuses a batch
// that does not start at the stored tree size (ECONFLICT), and the Log then
// reloads that organization's head and retries.
type Log struct {
	store    Store
	opts     LogOptions
	requests chan *appendRequest
	stopped  chan struct{}
	once     sync.Once

	// Owned by the writer goroutine.
	orgs map[string]*orgState
}

type appendRequest struct {
	entries []Entry
	err     error
	done    chan struct{}
}

// orgState is the writer's cached head of one organization's log: the size,
// the last entry's time and the stored hashes of the tree's frontier, which
// are all PrepareBatch needs to read.
type orgState struct {
	size     int64
	last     time.Time
	frontier map[int64]tlog.Hash
}

// NewLog returns a Log writing to store. Nothing is written until Run runs.
func NewLog(store Store, opts LogOptions) *Log {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4096
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Log{
		store:    store,
		opts:     opts,
		requests: make(chan *appendRequest), // unbuffered: every request taken is answered
		stopped:  make(chan struct{}),
		orgs:     make(map[string]*orgState),
	}
}

// Append writes entries (of one or several organizations) to the log and
// returns them sealed: Seq, Time, Salt and Commitment set. It returns once
// the store has committed them, or with an error when they were refused or
// could not be written. When ctx ends first, Append returns ctx.Err() and
// the entries may or may not have been written. Append blocks until Run is
// running and fails with EUNAVAILABLE once Run has stopped.
func (l *Log) Append(ctx context.Context, entries ...Entry) ([]Entry, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	req := &appendRequest{entries: make([]Entry, len(entries)), done: make(chan struct{})}
	copy(req.entries, entries)
	// Validate in the caller's goroutine: a bad entry fails only its own
	// caller, and the work is spread over the callers.
	for i := range req.entries {
		if err := req.entries[i].normalize(); err != nil {
			return nil, err
		}
	}
	select {
	case l.requests <- req:
	case <-l.stopped:
		return nil, porthole.Errorf(porthole.EUNAVAILABLE, "audit log is shut down")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if req.err != nil {
		return nil, req.err
	}
	return req.entries, nil
}

// Run is the writer. It returns nil when ctx ends, after writing the
// requests already queued (with a 5 s grace). A failed transaction fails
// the Append calls in it and does not stop Run.
func (l *Log) Run(ctx context.Context) error {
	defer l.once.Do(func() { close(l.stopped) })
	for {
		select {
		case req := <-l.requests:
			l.commit(ctx, l.gather(req))
		case <-ctx.Done():
			l.once.Do(func() { close(l.stopped) })
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			for {
				select {
				case req := <-l.requests:
					l.commit(flushCtx, l.gather(req))
				default:
					return nil
				}
			}
		}
	}
}

// gather takes first and whatever else is queued, up to MaxBatch entries.
func (l *Log) gather(first *appendRequest) []*appendRequest {
	batch := []*appendRequest{first}
	n := len(first.entries)
	for n < l.opts.MaxBatch {
		select {
		case req := <-l.requests:
			batch = append(batch, req)
			n += len(req.entries)
		default:
			return batch
		}
	}
	return batch
}

// commit writes the requests' entries in one transaction and answers them.
func (l *Log) commit(ctx context.Context, reqs []*appendRequest) {
	err := l.tryCommit(ctx, reqs)
	// Changes recorded in their own transactions move the heads too; under
	// that contention a batch may lose the race several times in a row.
	for attempt := 0; attempt < 50 && porthole.IsCode(err, porthole.ECONFLICT); attempt++ {
		if attempt > 2 {
			time.Sleep(time.Duration(attempt) * time.Millisecond)
		}
		err = l.tryCommit(ctx, reqs) // the conflicting heads were dropped: reload and retry
	}
	if err != nil {
		l.opts.Logger.Error("audit: unable to append entries", "err", err, "requests", len(reqs))
	}
	for _, req := range reqs {
		req.err = err
		close(req.done)
	}
}

type entryRef struct {
	req *appendRequest
	i   int
}

func (l *Log) tryCommit(ctx context.Context, reqs []*appendRequest) error {
	// Group by organization, keeping each organization's entries in the
	// order they were queued.
	var orgOrder []string
	groups := make(map[string][]entryRef)
	for _, req := range reqs {
		for i := range req.entries {
			org := req.entries[i].OrgID
			if _, ok := groups[org]; !ok {
				orgOrder = append(orgOrder, org)
			}
			groups[org] = append(groups[org], entryRef{req, i})
		}
	}
	now := l.opts.Now()
	batches := make([]Batch, 0, len(orgOrder))
	for _, org := range orgOrder {
		st, err := l.state(ctx, org)
		if err != nil {
			return err
		}
		refs := groups[org]
		entries := make([]Entry, len(refs))
		for k, ref := range refs {
			entries[k] = ref.req.entries[ref.i]
		}
		b, err := PrepareBatch(org, st.size, st.last, now, entries, l.frontierReader(ctx, org, st))
		if err != nil {
			delete(l.orgs, org)
			return err
		}
		batches = append(batches, b)
	}
	if err := l.store.AppendBatches(ctx, batches); err != nil {
		for _, org := range orgOrder {
			delete(l.orgs, org) // the store may be ahead of the cache or behind it
		}
		return err
	}
	for _, b := range batches {
		l.advance(l.orgs[b.OrgID], b)
		for k, ref := range groups[b.OrgID] {
			ref.req.entries[ref.i] = b.Entries[k]
		}
	}
	return nil
}

// state returns the cached head of org, loading it from the store if needed.
func (l *Log) state(ctx context.Context, org string) (*orgState, error) {
	if st := l.orgs[org]; st != nil {
		return st, nil
	}
	size, last, err := l.store.TreeSize(ctx, org)
	if err != nil {
		return nil, fmt.Errorf("audit: unable to read the size of log %q: %w", org, err)
	}
	idx := frontierIndexes(size)
	hashes, err := l.store.ReadHashes(ctx, org, idx)
	if err != nil {
		return nil, fmt.Errorf("audit: unable to read the frontier of log %q: %w", org, err)
	}
	st := &orgState{size: size, last: last, frontier: make(map[int64]tlog.Hash, len(idx))}
	for i, index := range idx {
		st.frontier[index] = hashes[i]
	}
	l.orgs[org] = st
	return st, nil
}

// frontierReader reads from the cached frontier and, should tlog ask for
// anything else, from the store.
func (l *Log) frontierReader(ctx context.Context, org string, st *orgState) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, idx := range indexes {
			h, ok := st.frontier[idx]
			if !ok {
				return l.store.ReadHashes(ctx, org, indexes)
			}
			out[i] = h
		}
		return out, nil
	})
}

// advance moves the cached head past a committed batch.
func (l *Log) advance(st *orgState, b Batch) {
	base := tlog.StoredHashIndex(0, b.Start)
	st.size = b.Start + int64(len(b.Entries))
	if n := len(b.Entries); n > 0 {
		st.last = b.Entries[n-1].Time
	}
	next := make(map[int64]tlog.Hash, len(st.frontier)+1)
	for _, idx := range frontierIndexes(st.size) {
		if idx >= base {
			next[idx] = b.Hashes[idx-base]
		} else {
			next[idx] = st.frontier[idx]
		}
	}
	st.frontier = next
}

// RecordSecurityEvent appends a security event to the Wake, so Log is a
// porthole.SecurityRecorder. It never fails the caller: an event it cannot
// write is logged. It waits for the write, but not for longer than 5 s, and
// does not give up when the request that caused it is cancelled.
func (l *Log) RecordSecurityEvent(ctx context.Context, ev porthole.SecurityEvent) {
	org := ev.OrgID
	if org == "" {
		org = SystemOrgID
	}
	payload := map[string]any{"event_id": ev.ID}
	if ev.IP != "" {
		payload["ip"] = ev.IP
	}
	if ev.RequestID != "" {
		payload["request_id"] = ev.RequestID
	}
	if len(ev.Data) > 0 {
		payload["data"] = ev.Data
	}
	if !ev.CreatedAt.IsZero() {
		payload["created_at"] = ev.CreatedAt.UTC().Format(time.RFC3339Nano)
	}
	e := Entry{
		OrgID:   org,
		Actor:   securityActor(ev.Actor),
		Action:  ActionSecurityPrefix + ev.Kind,
		Reason:  ev.Detail,
		Payload: Payload(payload),
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := l.Append(wctx, e); err != nil {
		l.opts.Logger.Error("audit: unable to record security event", "err", err, "kind", ev.Kind, "org", org, "event_id", ev.ID)
	}
}

// securityActor maps a SecurityEvent actor ("user:ID", "apikey:ID",
// "ip:1.2.3.4", ...) to an Actor. An unidentified remote party counts as a
// visitor; anything unknown is kept whole as the system's.
func securityActor(s string) Actor {
	kind, id, _ := strings.Cut(s, ":")
	switch kind {
	case "user":
		return Actor{Kind: ActorUser, ID: id}
	case "apikey", "api_key":
		return Actor{Kind: ActorAPIKey, ID: id}
	case "visitor":
		return Actor{Kind: ActorVisitor, ID: id}
	case "assistant":
		return Actor{Kind: ActorAssistant, ID: id}
	case "ip":
		return Actor{Kind: ActorVisitor, ID: s}
	}
	return Actor{Kind: ActorSystem, ID: s}
}
