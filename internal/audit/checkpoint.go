package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// checkpointOrigin starts the first line of a checkpoint; the organization
// id follows it, so a checkpoint of one log never verifies another.
const checkpointOrigin = "porthole.audit/"

// tlogTreePrefix is the first line tlog.FormatTree writes, which a
// checkpoint replaces with its origin line.
const tlogTreePrefix = "go.sum database tree\n"

// CheckpointText returns the text a checkpoint signs (version 1):
//
//	porthole.audit/<org id>
//	<tree size, decimal>
//	<root hash, standard base64>
//	<time, Unix milliseconds, decimal>
//
// Lines two and three are tlog.FormatTree's; its first line, which names
// the Go checksum database, is replaced by the origin line.
func CheckpointText(orgID string, size int64, root tlog.Hash, t time.Time) []byte {
	tree := tlog.FormatTree(tlog.Tree{N: size, Hash: root})
	text := make([]byte, 0, len(checkpointOrigin)+len(orgID)+len(tree)+16)
	text = append(text, checkpointOrigin...)
	text = append(text, orgID...)
	text = append(text, '\n')
	text = append(text, bytes.TrimPrefix(tree, []byte(tlogTreePrefix))...)
	text = strconv.AppendInt(text, t.UnixMilli(), 10)
	return append(text, '\n')
}

// ParseCheckpointText parses text made by CheckpointText. It accepts only
// that exact form.
func ParseCheckpointText(text string) (orgID string, size int64, root tlog.Hash, t time.Time, err error) {
	bad := func(why string) error { return fmt.Errorf("malformed checkpoint: %s", why) }
	lines := bytes.SplitAfter([]byte(text), []byte("\n"))
	if len(lines) != 5 || len(lines[4]) != 0 {
		return "", 0, tlog.Hash{}, time.Time{}, bad("want four lines")
	}
	origin := string(bytes.TrimSuffix(lines[0], []byte("\n")))
	org, ok := bytes.CutPrefix([]byte(origin), []byte(checkpointOrigin))
	if !ok || !validOrgID(string(org)) {
		return "", 0, tlog.Hash{}, time.Time{}, bad("bad origin line")
	}
	tree, err := tlog.ParseTree(append([]byte(tlogTreePrefix), append(lines[1], lines[2]...)...))
	if err != nil {
		return "", 0, tlog.Hash{}, time.Time{}, bad("bad size or root")
	}
	ms, err := strconv.ParseInt(string(bytes.TrimSuffix(lines[3], []byte("\n"))), 10, 64)
	if err != nil {
		return "", 0, tlog.Hash{}, time.Time{}, bad("bad time")
	}
	t = time.UnixMilli(ms).UTC()
	if !bytes.Equal(CheckpointText(string(org), tree.N, tree.Hash, t), []byte(text)) {
		return "", 0, tlog.Hash{}, time.Time{}, bad("not in canonical form")
	}
	return string(org), tree.N, tree.Hash, t, nil
}

// CheckpointPolicy says when the Checkpointer signs: after Every new
// entries or Interval after the last checkpoint of a log that grew,
// whichever comes first, looking every Poll.
type CheckpointPolicy struct {
	Every    int64         // default 1000
	Interval time.Duration // default 1 minute
	Poll     time.Duration // default 1 second
}

// Checkpointer signs checkpoints of the organizations' logs.
type Checkpointer struct {
	store  Store
	key    *SigningKey
	policy CheckpointPolicy
	now    func() time.Time
	logger *slog.Logger
	mu     sync.Mutex // one checkpoint at a time, so none is made twice
}

// NewCheckpointer returns a Checkpointer that signs with key (see
// LoadOrCreateSigningKey) and stores checkpoints in store.
func NewCheckpointer(store Store, key *SigningKey, policy CheckpointPolicy) *Checkpointer {
	if policy.Every <= 0 {
		policy.Every = 1000
	}
	if policy.Interval <= 0 {
		policy.Interval = time.Minute
	}
	if policy.Poll <= 0 {
		policy.Poll = time.Second
	}
	return &Checkpointer{store: store, key: key, policy: policy, now: time.Now, logger: slog.Default()}
}

// Run checkpoints, following the policy, every log that grew, until ctx
// ends; then it returns nil. A failure is logged and retried at the next
// poll: a missed checkpoint delays evidence but loses nothing, as the
// entries are already stored.
func (c *Checkpointer) Run(ctx context.Context) error {
	ticker := time.NewTicker(c.policy.Poll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			c.checkpointDue(ctx)
		}
	}
}

func (c *Checkpointer) checkpointDue(ctx context.Context) {
	heads, err := c.store.PendingCheckpoints(ctx)
	if err != nil {
		c.logger.Error("audit: unable to list logs to checkpoint", "err", err)
		return
	}
	now := c.now()
	for _, h := range heads {
		if h.TreeSize-h.CheckpointSize < c.policy.Every && now.Sub(h.CheckpointTime) < c.policy.Interval {
			continue
		}
		if _, err := c.CheckpointNow(ctx, h.OrgID); err != nil && ctx.Err() == nil {
			c.logger.Error("audit: unable to checkpoint", "err", err, "org", h.OrgID)
		}
	}
}

// CheckpointNow returns a signed checkpoint of orgID's whole log as it is
// now: the latest one if it already covers every entry, a new one
// otherwise. Export calls it so a bundle always ends on a fresh checkpoint.
// An empty log has no checkpoint (ENOTFOUND).
func (c *Checkpointer) CheckpointNow(ctx context.Context, orgID string) (Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	size, _, err := c.store.TreeSize(ctx, orgID)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: unable to read the size of log %q: %w", orgID, err)
	}
	if size == 0 {
		return Checkpoint{}, porthole.Errorf(porthole.ENOTFOUND, "audit log of organization %q is empty", orgID)
	}
	latest, err := c.store.LatestCheckpoint(ctx, orgID)
	switch {
	case err == nil && latest.Size >= size:
		return latest, nil
	case err != nil && !porthole.IsCode(err, porthole.ENOTFOUND):
		return Checkpoint{}, fmt.Errorf("audit: unable to read the latest checkpoint of %q: %w", orgID, err)
	}
	root, err := tlog.TreeHash(size, NewHashReader(ctx, c.store, orgID))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: unable to compute the root of log %q: %w", orgID, err)
	}
	cp := Checkpoint{OrgID: orgID, Size: size, Root: root, Time: TimeMillis(c.now())}
	cp.Note, err = note.Sign(&note.Note{Text: string(CheckpointText(orgID, size, root, cp.Time))}, c.key.Signer)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: unable to sign a checkpoint: %w", err)
	}
	if err := c.store.SaveCheckpoint(ctx, cp); err != nil {
		if porthole.IsCode(err, porthole.ECONFLICT) {
			// Another process signed this size first; theirs is as good.
			cps, err2 := c.store.Checkpoints(ctx, orgID, size, size)
			if err2 == nil && len(cps) == 1 {
				return cps[0], nil
			}
			return Checkpoint{}, errors.Join(err, err2)
		}
		return Checkpoint{}, fmt.Errorf("audit: unable to save a checkpoint: %w", err)
	}
	return cp, nil
}

// VerifierKey returns the public key that verifies this Checkpointer's
// checkpoints.
func (c *Checkpointer) VerifierKey() string { return c.key.VerifierKey }
