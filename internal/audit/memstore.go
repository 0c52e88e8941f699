package audit

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"golang.org/x/mod/sumdb/tlog"
)

// MemStore is an in-memory Store for tests, benchmarks and tools. It keeps
// everything until the process ends and is safe for concurrent use.
type MemStore struct {
	mu   sync.RWMutex
	logs map[string]*memLog
}

type memLog struct {
	entries     []Entry
	hashes      []tlog.Hash // by stored-hash index
	checkpoints []Checkpoint
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{logs: make(map[string]*memLog)}
}

func (s *MemStore) log(orgID string) *memLog {
	l := s.logs[orgID]
	if l == nil {
		l = &memLog{}
		s.logs[orgID] = l
	}
	return l
}

// AppendBatches implements Store.
func (s *MemStore) AppendBatches(ctx context.Context, batches []Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Check everything first so a refused call writes nothing.
	sizes := make(map[string]int64)
	for _, b := range batches {
		size, seen := sizes[b.OrgID]
		if !seen {
			if l := s.logs[b.OrgID]; l != nil {
				size = int64(len(l.entries))
			}
		}
		if b.Start != size {
			return porthole.Errorf(porthole.ECONFLICT, "audit: batch starts at %d, log %q has %d entries", b.Start, b.OrgID, size)
		}
		end := b.Start + int64(len(b.Entries))
		if int64(len(b.Hashes)) != tlog.StoredHashCount(end)-tlog.StoredHashIndex(0, b.Start) {
			return fmt.Errorf("audit: batch for entries %d..%d has %d hashes", b.Start, end, len(b.Hashes))
		}
		for i := range b.Entries {
			if b.Entries[i].Seq != b.Start+int64(i) || b.Entries[i].OrgID != b.OrgID {
				return fmt.Errorf("audit: batch entry %d is out of place", i)
			}
		}
		sizes[b.OrgID] = end
	}
	for _, b := range batches {
		l := s.log(b.OrgID)
		for _, e := range b.Entries {
			l.entries = append(l.entries, cloneEntry(e))
		}
		l.hashes = append(l.hashes, b.Hashes...)
	}
	return nil
}

// TreeSize implements Store.
func (s *MemStore) TreeSize(ctx context.Context, orgID string) (int64, time.Time, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := s.logs[orgID]
	if l == nil || len(l.entries) == 0 {
		return 0, time.Time{}, nil
	}
	return int64(len(l.entries)), l.entries[len(l.entries)-1].Time, nil
}

// ReadHashes implements Store.
func (s *MemStore) ReadHashes(ctx context.Context, orgID string, indexes []int64) ([]tlog.Hash, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := s.logs[orgID]
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if l == nil || idx < 0 || idx >= int64(len(l.hashes)) {
			return nil, fmt.Errorf("audit: hash %d of log %q is not stored", idx, orgID)
		}
		out[i] = l.hashes[idx]
	}
	return out, nil
}

// ReadEntries implements Store.
func (s *MemStore) ReadEntries(ctx context.Context, orgID string, start, end int64) ([]Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := s.logs[orgID]
	if l == nil {
		return nil, nil
	}
	start = max(start, 0)
	end = min(end, int64(len(l.entries)))
	var out []Entry
	for i := start; i < end; i++ {
		out = append(out, cloneEntry(l.entries[i]))
	}
	return out, nil
}

// SaveCheckpoint implements Store.
func (s *MemStore) SaveCheckpoint(ctx context.Context, cp Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.log(cp.OrgID)
	i := sort.Search(len(l.checkpoints), func(i int) bool { return l.checkpoints[i].Size >= cp.Size })
	if i < len(l.checkpoints) && l.checkpoints[i].Size == cp.Size {
		return porthole.Errorf(porthole.ECONFLICT, "audit: log %q has a checkpoint of size %d", cp.OrgID, cp.Size)
	}
	cp.Note = slices.Clone(cp.Note)
	l.checkpoints = slices.Insert(l.checkpoints, i, cp)
	return nil
}

// Checkpoints implements Store.
func (s *MemStore) Checkpoints(ctx context.Context, orgID string, minSize, maxSize int64) ([]Checkpoint, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := s.logs[orgID]
	if l == nil {
		return nil, nil
	}
	var out []Checkpoint
	for _, cp := range l.checkpoints {
		if cp.Size >= minSize && cp.Size <= maxSize {
			cp.Note = slices.Clone(cp.Note)
			out = append(out, cp)
		}
	}
	return out, nil
}

// LatestCheckpoint implements Store.
func (s *MemStore) LatestCheckpoint(ctx context.Context, orgID string) (Checkpoint, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := s.logs[orgID]
	if l == nil || len(l.checkpoints) == 0 {
		return Checkpoint{}, porthole.Errorf(porthole.ENOTFOUND, "audit: log %q has no checkpoint", orgID)
	}
	cp := l.checkpoints[len(l.checkpoints)-1]
	cp.Note = slices.Clone(cp.Note)
	return cp, nil
}

// PendingCheckpoints implements Store.
func (s *MemStore) PendingCheckpoints(ctx context.Context) ([]Head, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Head
	for org, l := range s.logs {
		h := Head{OrgID: org, TreeSize: int64(len(l.entries))}
		if n := len(l.checkpoints); n > 0 {
			h.CheckpointSize = l.checkpoints[n-1].Size
			h.CheckpointTime = l.checkpoints[n-1].Time
		}
		if h.TreeSize > h.CheckpointSize {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OrgID < out[j].OrgID })
	return out, nil
}

// PurgePayloads implements Store.
func (s *MemStore) PurgePayloads(ctx context.Context, orgID string, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.logs[orgID]
	if l == nil {
		return 0, nil
	}
	var n int64
	for i := range l.entries {
		e := &l.entries[i]
		if e.Time.Before(before) && !e.Purged {
			e.Payload, e.Salt, e.Purged = nil, nil, true
			n++
		}
	}
	return n, nil
}

func cloneEntry(e Entry) Entry {
	e.Payload = slices.Clone(e.Payload)
	e.Salt = slices.Clone(e.Salt)
	return e
}
