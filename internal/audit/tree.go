package audit

import (
	"crypto/rand"
	"fmt"
	"math/bits"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"golang.org/x/mod/sumdb/tlog"
)

// PrepareBatch seals entries for appending to the end of orgID's log, whose
// current size is start and whose last entry has time last (zero for an
// empty log). It is a pure function apart from drawing salts: the Log calls
// it, and a SQL store that records an entry in the same transaction as the
// change it describes calls it inside that transaction (with r reading the
// hashes through the transaction, and start and last read under the lock
// that serializes the organization's appends), then writes the result as
// AppendBatches would.
//
// For each entry it checks and normalizes the fields, sets OrgID (when
// empty), Seq = start+i, Time = now truncated to the millisecond but never
// before the previous entry, a fresh 32-byte salt and the payload
// commitment; then it computes the stored tree hashes with
// tlog.StoredHashesForRecordHash. r must return the organization's stored
// hashes below tlog.StoredHashIndex(0, start); hashes made within the batch
// are served from the batch itself. entries is modified in place and shared
// with the returned Batch.
func PrepareBatch(orgID string, start int64, last, now time.Time, entries []Entry, r tlog.HashReader) (Batch, error) {
	if !validOrgID(orgID) {
		return Batch{}, porthole.Errorf(porthole.EINVALID, "audit: invalid organization id %q", orgID)
	}
	if start < 0 {
		return Batch{}, fmt.Errorf("audit: negative tree size %d", start)
	}
	salts := make([]byte, saltSize*len(entries))
	if _, err := rand.Read(salts); err != nil {
		return Batch{}, fmt.Errorf("audit: unable to draw salts: %w", err)
	}
	t := TimeMillis(now)
	if t.Before(last) {
		t = TimeMillis(last)
	}
	base := tlog.StoredHashIndex(0, start)
	b := Batch{OrgID: orgID, Start: start, Entries: entries, Hashes: make([]tlog.Hash, 0, 2*len(entries)+1)}
	reader := batchHashReader{base: base, batch: &b.Hashes, under: r}
	var lh leafHasher
	for i := range entries {
		e := &entries[i]
		if e.OrgID == "" {
			e.OrgID = orgID
		}
		if e.OrgID != orgID {
			return Batch{}, porthole.Errorf(porthole.EINVALID, "audit: entry for organization %q in a batch for %q", e.OrgID, orgID)
		}
		if err := e.normalize(); err != nil {
			return Batch{}, err
		}
		e.Seq = start + int64(i)
		e.Time = t
		e.Salt = salts[i*saltSize : (i+1)*saltSize : (i+1)*saltSize]
		e.Commitment = lh.commit(e.Salt, e.Payload)
		hashes, err := tlog.StoredHashesForRecordHash(e.Seq, lh.hash(e), reader)
		if err != nil {
			return Batch{}, fmt.Errorf("audit: unable to compute tree hashes of entry %d: %w", e.Seq, err)
		}
		b.Hashes = append(b.Hashes, hashes...)
	}
	return b, nil
}

// batchHashReader serves the hashes a batch has made so far and asks the
// underlying reader for older ones.
type batchHashReader struct {
	base  int64
	batch *[]tlog.Hash
	under tlog.HashReader
}

func (r batchHashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var older []int64
	for i, idx := range indexes {
		if idx >= r.base {
			j := idx - r.base
			if j >= int64(len(*r.batch)) {
				return nil, fmt.Errorf("audit: hash %d is not written yet", idx)
			}
			out[i] = (*r.batch)[j]
		} else {
			older = append(older, idx)
		}
	}
	if len(older) == 0 {
		return out, nil
	}
	got, err := r.under.ReadHashes(older)
	if err != nil {
		return nil, err
	}
	if len(got) != len(older) {
		return nil, fmt.Errorf("audit: read %d hashes, want %d", len(got), len(older))
	}
	k := 0
	for i, idx := range indexes {
		if idx < r.base {
			out[i] = got[k]
			k++
		}
	}
	return out, nil
}

// frontierIndexes returns the stored-hash indexes of the perfect subtrees
// that make up a tree of size n, left (largest) to right. They are all that
// is needed to compute the tree's root (tlog.TreeHash) and the hashes of the
// next record (tlog.StoredHashes).
func frontierIndexes(n int64) []int64 {
	out := make([]int64, 0, bits.OnesCount64(uint64(n)))
	for level := 62; level >= 0; level-- {
		if n&(1<<level) != 0 {
			out = append(out, tlog.StoredHashIndex(level, n>>level-1))
		}
	}
	return out
}

// merkleFrontier computes an RFC 6962 tree root (the shape tlog uses)
// incrementally, left to right, in O(log n) memory: it keeps the roots of
// the perfect subtrees the tree decomposes into, largest first, one per set
// bit of the size.
type merkleFrontier struct {
	size   int64
	hashes []tlog.Hash
}

// reset starts from a tree of the given size whose perfect-subtree roots are
// hashes (as frontierIndexes orders them).
func (f *merkleFrontier) reset(size int64, hashes []tlog.Hash) error {
	if size < 0 || bits.OnesCount64(uint64(size)) != len(hashes) {
		return fmt.Errorf("a tree of size %d has %d subtree hashes, not %d", size, bits.OnesCount64(uint64(size)), len(hashes))
	}
	f.size = size
	f.hashes = append(f.hashes[:0], hashes...)
	return nil
}

// append adds a record hash as the next leaf.
func (f *merkleFrontier) append(h tlog.Hash) {
	for n := f.size; n&1 == 1; n >>= 1 {
		h = tlog.NodeHash(f.hashes[len(f.hashes)-1], h)
		f.hashes = f.hashes[:len(f.hashes)-1]
	}
	f.hashes = append(f.hashes, h)
	f.size++
}

// root returns the tree hash, equal to tlog.TreeHash(f.size, ...).
func (f *merkleFrontier) root() tlog.Hash {
	if len(f.hashes) == 0 {
		h, _ := tlog.TreeHash(0, nil) // the empty tree's hash needs no reads
		return h
	}
	h := f.hashes[len(f.hashes)-1]
	for i := len(f.hashes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(f.hashes[i], h)
	}
	return h
}
