package audit

import (
	"context"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Store is the storage the Wake needs. The SQL stores in internal/store
// implement it for SQLite and PostgreSQL; MemStore implements it in memory.
//
// Entries and stored hashes are immutable once written; the only update is
// PurgePayloads. Errors follow the project's codes: ENOTFOUND for a missing
// checkpoint, ECONFLICT when a batch does not start at the current tree size.
type Store interface {
	// AppendBatches writes every batch in one transaction: each batch's
	// entries (rows keyed by organization and Seq) and its stored hashes
	// (index StoredHashIndex(0, b.Start)+i for b.Hashes[i]), and moves the
	// organization's tree size to b.Start+len(b.Entries). When any batch's
	// Start differs from its organization's current tree size, nothing is
	// written and the error has code ECONFLICT: another writer appended
	// first, and the caller re-reads and retries.
	AppendBatches(ctx context.Context, batches []Batch) error

	// TreeSize returns the number of entries in the organization's log
	// (0 for an organization that has none) and the time of the last one.
	TreeSize(ctx context.Context, orgID string) (size int64, last time.Time, err error)

	// ReadHashes returns the stored hashes with the given indexes, in the
	// order asked. Asking for an index that is not stored is an error.
	ReadHashes(ctx context.Context, orgID string, indexes []int64) ([]tlog.Hash, error)

	// ReadEntries returns the entries with start <= Seq < end, in Seq order.
	// Callers page through large logs; implementations may cap end-start.
	ReadEntries(ctx context.Context, orgID string, start, end int64) ([]Entry, error)

	// SaveCheckpoint stores a signed checkpoint. Saving a second checkpoint
	// of the same size for the same organization is an ECONFLICT error.
	SaveCheckpoint(ctx context.Context, cp Checkpoint) error

	// Checkpoints returns the organization's checkpoints with
	// minSize <= Size <= maxSize, in increasing Size.
	Checkpoints(ctx context.Context, orgID string, minSize, maxSize int64) ([]Checkpoint, error)

	// LatestCheckpoint returns the organization's largest checkpoint, or an
	// ENOTFOUND error when it has none.
	LatestCheckpoint(ctx context.Context, orgID string) (Checkpoint, error)

	// PendingCheckpoints returns the heads of the logs that grew since their
	// latest checkpoint (TreeSize > CheckpointSize).
	PendingCheckpoints(ctx context.Context) ([]Head, error)

	// PurgePayloads deletes Payload and Salt of the organization's entries
	// with Time < before that still have them, keeps their Commitment, marks
	// them Purged and returns how many it purged.
	PurgePayloads(ctx context.Context, orgID string, before time.Time) (int64, error)
}

// Batch is a run of entries appended to one organization's log, with the
// stored tree hashes they add. PrepareBatch makes one.
type Batch struct {
	OrgID   string
	Start   int64       // tree size before the batch; Entries[i].Seq == Start+i
	Entries []Entry     // sealed: Seq, Time, Salt and Commitment set
	Hashes  []tlog.Hash // stored hashes, from index tlog.StoredHashIndex(0, Start)
}

// Head is where one organization's log stands.
type Head struct {
	OrgID          string
	TreeSize       int64
	CheckpointSize int64     // 0 when the log has no checkpoint
	CheckpointTime time.Time // zero when the log has no checkpoint
}

// Checkpoint is a signed statement of an organization's tree: its size and
// root hash at a time. Note is the signed note whose text is
// CheckpointText(OrgID, Size, Root, Time).
type Checkpoint struct {
	OrgID string
	Size  int64
	Root  tlog.Hash
	Time  time.Time
	Note  []byte
}

// NewHashReader returns a tlog.HashReader over one organization's stored
// hashes, for tlog.TreeHash, tlog.ProveTree and PrepareBatch.
func NewHashReader(ctx context.Context, store Store, orgID string) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		return store.ReadHashes(ctx, orgID, indexes)
	})
}
