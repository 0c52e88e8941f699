package audit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"golang.org/x/mod/sumdb/tlog"
)

// ExportRequest says what to export.
type ExportRequest struct {
	OrgID string
	// Since and Until bound the entries' times: Since <= Time < Until. A
	// zero value leaves that side open. Entry times never go backwards in a
	// log, so the entries in range are one contiguous run of Seq.
	Since, Until time.Time
}

// ExportResult describes a written bundle.
type ExportResult struct {
	FirstSeq   int64      // Seq of the first exported entry
	EndSeq     int64      // one past the Seq of the last exported entry
	Checkpoint Checkpoint // the checkpoint the bundle verifies against
}

// exportPage is how many entries Export reads at a time.
const exportPage = 2048

// Export writes a bundle of req.OrgID's entries to w, as documented in
// docs/audit.md. It first asks cp for a checkpoint of the whole log as it is
// now, so the bundle ends on a fresh signed tree head; the bundle carries
// the hashes and consistency proofs that tie a range that does not start at
// entry 0 or end at the head to that checkpoint, and the historic
// checkpoints inside the range.
//
// Export does not record itself: the caller appends an ActionExport entry
// first, so the bundle of a range reaching the present contains it.
func Export(ctx context.Context, store Store, cp *Checkpointer, req ExportRequest, w io.Writer) (ExportResult, error) {
	if !validOrgID(req.OrgID) {
		return ExportResult{}, porthole.Errorf(porthole.EINVALID, "audit: invalid organization id %q", req.OrgID)
	}
	if !req.Since.IsZero() && !req.Until.IsZero() && req.Until.Before(req.Since) {
		return ExportResult{}, porthole.Errorf(porthole.EINVALID, "audit: --until is before --since")
	}
	anchor, err := cp.CheckpointNow(ctx, req.OrgID)
	if err != nil {
		return ExportResult{}, err
	}
	n := anchor.Size
	first, end := int64(0), n
	if !req.Since.IsZero() {
		if first, err = firstAtOrAfter(ctx, store, req.OrgID, n, req.Since); err != nil {
			return ExportResult{}, err
		}
	}
	if !req.Until.IsZero() {
		if end, err = firstAtOrAfter(ctx, store, req.OrgID, n, req.Until); err != nil {
			return ExportResult{}, err
		}
	}
	end = max(end, first)
	hashReader := NewHashReader(ctx, store, req.OrgID)

	bw := bufio.NewWriterSize(w, 1<<20)
	var buf []byte
	writeLine := func(l *bundleLine) error {
		buf = appendLine(buf[:0], l)
		_, err := bw.Write(buf)
		return err
	}
	if err := writeLine(&bundleLine{
		Type:      lineHeader,
		Version:   BundleVersion,
		Org:       req.OrgID,
		PublicKey: cp.VerifierKey(),
		FirstSeq:  first,
		EndSeq:    end,
		Since:     formatBundleTime(req.Since),
		Until:     formatBundleTime(req.Until),
		Created:   formatBundleTime(time.Now()),
	}); err != nil {
		return ExportResult{}, err
	}
	if err := writeLine(&bundleLine{Type: lineCheckpoint, Note: string(anchor.Note)}); err != nil {
		return ExportResult{}, err
	}

	// A range with a since bound starts with a boundary line for the entry
	// just before it, which proves (by its time) that no entry of the range
	// was left out at the start; the prefix then covers the entries before
	// that one.
	prefixSize := first
	var before []Entry
	if !req.Since.IsZero() && first > 0 {
		prefixSize = first - 1
		if before, err = store.ReadEntries(ctx, req.OrgID, prefixSize, first); err != nil || len(before) != 1 {
			return ExportResult{}, fmt.Errorf("audit: unable to read entry %d: %v", prefixSize, err)
		}
	}
	prefix := bundleLine{Type: linePrefix, Size: prefixSize, Hashes: []string{}, Proof: []string{}}
	if prefixSize > 0 {
		frontier, err := store.ReadHashes(ctx, req.OrgID, frontierIndexes(prefixSize))
		if err != nil {
			return ExportResult{}, fmt.Errorf("audit: unable to read the hashes before entry %d: %w", prefixSize, err)
		}
		proof, err := tlog.ProveTree(n, prefixSize, hashReader)
		if err != nil {
			return ExportResult{}, fmt.Errorf("audit: unable to prove the tree of size %d: %w", prefixSize, err)
		}
		prefix.Hashes, prefix.Proof = hashStrings(frontier), hashStrings(proof)
	}
	if err := writeLine(&prefix); err != nil {
		return ExportResult{}, err
	}
	var line bundleLine
	if len(before) == 1 {
		boundaryLine(&line, &before[0])
		if err := writeLine(&line); err != nil {
			return ExportResult{}, err
		}
	}

	// Historic checkpoints inside the range go right after the entry that
	// completes them; the anchor itself is already on line 2.
	inline, err := store.Checkpoints(ctx, req.OrgID, first+1, min(end, n-1))
	if err != nil {
		return ExportResult{}, fmt.Errorf("audit: unable to read checkpoints: %w", err)
	}
	for start := first; start < end; start += exportPage {
		entries, err := store.ReadEntries(ctx, req.OrgID, start, min(start+exportPage, end))
		if err != nil {
			return ExportResult{}, fmt.Errorf("audit: unable to read entries from %d: %w", start, err)
		}
		if len(entries) != int(min(start+exportPage, end)-start) {
			return ExportResult{}, fmt.Errorf("audit: log %q is missing entries after %d", req.OrgID, start)
		}
		// The leaf hash written is the one stored when the entry was
		// appended, not one recomputed from the row: an entry edited in the
		// database then fails verification by name.
		leafIndexes := make([]int64, len(entries))
		for i := range entries {
			leafIndexes[i] = tlog.StoredHashIndex(0, entries[i].Seq)
		}
		storedLeaves, err := store.ReadHashes(ctx, req.OrgID, leafIndexes)
		if err != nil {
			return ExportResult{}, fmt.Errorf("audit: unable to read the leaf hashes from %d: %w", start, err)
		}
		for i := range entries {
			e := &entries[i]
			entryLine(&line, e, storedLeaves[i])
			if err := writeLine(&line); err != nil {
				return ExportResult{}, err
			}
			for len(inline) > 0 && inline[0].Size == e.Seq+1 {
				if err := writeLine(&bundleLine{Type: lineCheckpoint, Note: string(inline[0].Note)}); err != nil {
					return ExportResult{}, err
				}
				inline = inline[1:]
			}
		}
		if err := ctx.Err(); err != nil {
			return ExportResult{}, err
		}
	}

	// Likewise a range with an until bound that stops before the head ends
	// with a boundary line for the entry just after it.
	consistencySize := end
	if !req.Until.IsZero() && end < n {
		after, err := store.ReadEntries(ctx, req.OrgID, end, end+1)
		if err != nil || len(after) != 1 {
			return ExportResult{}, fmt.Errorf("audit: unable to read entry %d: %v", end, err)
		}
		boundaryLine(&line, &after[0])
		if err := writeLine(&line); err != nil {
			return ExportResult{}, err
		}
		consistencySize = end + 1
	}
	consistency := bundleLine{Type: lineConsistency, Size: consistencySize, Proof: []string{}}
	if consistencySize > 0 {
		proof, err := tlog.ProveTree(n, consistencySize, hashReader)
		if err != nil {
			return ExportResult{}, fmt.Errorf("audit: unable to prove the tree of size %d: %w", consistencySize, err)
		}
		consistency.Proof = hashStrings(proof)
	}
	if err := writeLine(&consistency); err != nil {
		return ExportResult{}, err
	}
	if err := writeLine(&bundleLine{Type: lineEnd, Entries: end - first}); err != nil {
		return ExportResult{}, err
	}
	if err := bw.Flush(); err != nil {
		return ExportResult{}, err
	}
	return ExportResult{FirstSeq: first, EndSeq: end, Checkpoint: anchor}, nil
}

// firstAtOrAfter returns the Seq of the first entry among the first n whose
// time is not before t, or n when there is none. Entry times never go
// backwards, so a binary search over single-entry reads finds it.
func firstAtOrAfter(ctx context.Context, store Store, orgID string, n int64, t time.Time) (int64, error) {
	lo, hi := int64(0), n
	for lo < hi {
		mid := lo + (hi-lo)/2
		es, err := store.ReadEntries(ctx, orgID, mid, mid+1)
		if err != nil {
			return 0, fmt.Errorf("audit: unable to read entry %d: %w", mid, err)
		}
		if len(es) != 1 {
			return 0, fmt.Errorf("audit: log %q has no entry %d", orgID, mid)
		}
		if es[0].Time.Before(t) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}
