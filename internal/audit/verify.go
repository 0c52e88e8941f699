package audit

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// PinnedKey, when set, is the verifier key the bundle must carry (as
	// printed by PrintableVerifierKey). Without it, Verify only proves that
	// the bundle is consistent with the key inside it: anyone can make a
	// consistent bundle with a key of their own.
	PinnedKey string
}

// Report describes a bundle that verified.
type Report struct {
	OrgID          string
	PublicKey      string
	KeyPinned      bool      // the key matched VerifyOptions.PinnedKey
	FirstSeq       int64     // Seq of the first entry
	EndSeq         int64     // one past the Seq of the last entry
	Entries        int64     // entries verified
	Purged         int64     // of which purged to their commitments
	Checkpoints    int       // signed checkpoints verified
	TreeSize       int64     // size of the log at the bundle's checkpoint
	Root           tlog.Hash // root hash of the log at the bundle's checkpoint
	CheckpointTime time.Time
}

// String summarizes the report in one line.
func (r Report) String() string {
	pinned := "not pinned"
	if r.KeyPinned {
		pinned = "pinned"
	}
	return fmt.Sprintf("ok: organization %s, entries %d..%d (%d, %d purged), checkpoint of size %d at %s, %d signed checkpoints, key %s (%s)",
		r.OrgID, r.FirstSeq, r.EndSeq-1, r.Entries, r.Purged, r.TreeSize,
		r.CheckpointTime.Format(time.RFC3339), r.Checkpoints, r.PublicKey, pinned)
}

// VerifyError is why a bundle failed. Seq names the first bad entry, or is
// -1 when the fault is not in one entry (a forged checkpoint, a bad header).
type VerifyError struct {
	Line int   // 1-based line of the bundle where the fault was found
	Seq  int64 // the entry at fault, or -1
	Msg  string
}

// Error implements error: "entry 41: ... (line 45)" or "line 2: ...".
func (e *VerifyError) Error() string {
	if e.Seq >= 0 {
		return fmt.Sprintf("entry %d: %s (line %d)", e.Seq, e.Msg, e.Line)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// VerifyFile opens path and verifies it with Verify.
func VerifyFile(path string, opts VerifyOptions) (Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return Report{}, err
	}
	defer f.Close()
	return Verify(f, opts)
}

// Verify checks a bundle written by Export, offline: the header's key
// (against opts.PinnedKey when set), the signature of every checkpoint, that
// every line is in canonical form, that entries run without a gap from the
// header's first_seq to its end_seq, that each payload matches its salted
// commitment, that each entry matches its leaf hash, and that the leaves,
// with the prefix hashes and consistency proofs, rebuild the signed trees.
// It streams: memory does not grow with the bundle.
//
// On failure the error is a *VerifyError naming the first bad entry where
// one can be named. An edited entry is named exactly when its leaf_hash was
// left as exported; when a forger also recomputed the leaf hash, the fault
// is narrowed to the entries between two signed checkpoints.
func Verify(r io.Reader, opts VerifyOptions) (Report, error) {
	v := verifier{in: bufio.NewReaderSize(r, maxLineBytes+1), opts: opts}
	if err := v.run(); err != nil {
		return Report{}, err
	}
	return v.report, nil
}

type verifier struct {
	in       *bufio.Reader
	opts     VerifyOptions
	lineNo   int
	report   Report
	keys     note.Verifiers
	header   bundleLine
	since    time.Time
	until    time.Time
	anchor   tlog.Hash // root of the bundle's checkpoint
	frontier merkleFrontier
	lastGood int64     // tree size up to which the leaves are proven
	lastTime time.Time // time of the previous entry
	lh       leafHasher
	sawAfter bool // the boundary after the range was read
	line     bundleLine
	enc      []byte
}

func (v *verifier) fail(seq int64, format string, args ...any) error {
	return &VerifyError{Line: v.lineNo, Seq: seq, Msg: fmt.Sprintf(format, args...)}
}

// next reads and decodes the next line into v.line. It returns io.EOF at a
// clean end of input.
func (v *verifier) next() error {
	raw, err := v.in.ReadSlice('\n')
	if err == io.EOF && len(raw) == 0 {
		return io.EOF
	}
	v.lineNo++
	if msg, err := readFault(err); msg != "" || err != nil {
		if err != nil {
			return err
		}
		return v.fail(-1, "%s", msg)
	}
	if msg := decodeBundleLine(raw, &v.line, &v.enc); msg != "" {
		return v.fail(-1, "%s", msg)
	}
	return nil
}

// readFault turns a ReadSlice error into a format fault (a message) or an
// I/O error.
func readFault(err error) (string, error) {
	switch {
	case err == nil:
		return "", nil
	case errors.Is(err, bufio.ErrBufferFull):
		return fmt.Sprintf("line is longer than %d bytes", maxLineBytes), nil
	case err == io.EOF:
		return "last line does not end with a newline (the bundle is truncated)", nil
	}
	return "", fmt.Errorf("audit: unable to read the bundle: %w", err)
}

// decodeBundleLine decodes raw (one line with its newline) into dst and
// checks that it is of a known type and in canonical form. It returns why
// not, or "". enc is scratch space.
func decodeBundleLine(raw []byte, dst *bundleLine, enc *[]byte) string {
	if len(raw) < 2 || raw[0] != '{' {
		return "not a JSON object"
	}
	*dst = bundleLine{}
	if err := json.Unmarshal(raw[:len(raw)-1], dst); err != nil {
		return fmt.Sprintf("not one JSON object: %v", err)
	}
	switch dst.Type {
	case lineHeader, lineCheckpoint, linePrefix, lineEntry, lineBoundary, lineConsistency, lineEnd:
	default:
		return fmt.Sprintf("unknown line type %q", dst.Type)
	}
	*enc = appendLine((*enc)[:0], dst)
	if !bytes.Equal(*enc, raw) {
		return dst.Type + " line is not in canonical form (unknown, missing, duplicate or reordered field, or non-canonical escaping)"
	}
	return ""
}

// expect reads the next line and requires its type.
func (v *verifier) expect(typ string) error {
	if err := v.next(); err != nil {
		if err == io.EOF {
			return v.fail(-1, "bundle is truncated: expected a %s line", typ)
		}
		return err
	}
	if v.line.Type != typ {
		return v.fail(-1, "expected a %s line, found a %s line", typ, v.line.Type)
	}
	return nil
}

func (v *verifier) run() error {
	if err := v.expect(lineHeader); err != nil {
		return err
	}
	if err := v.checkHeader(); err != nil {
		return err
	}
	if err := v.expect(lineCheckpoint); err != nil {
		return err
	}
	size, root, t, err := v.openCheckpoint()
	if err != nil {
		return err
	}
	if size < v.header.EndSeq {
		return v.fail(-1, "checkpoint of size %d does not cover the bundle's entries up to %d", size, v.header.EndSeq)
	}
	// Without a since bound the bundle must start at entry 0, without an
	// until bound it must run to the checkpoint: otherwise removing entries
	// at either end and editing the header would go unnoticed.
	if v.header.Since == "" && v.header.FirstSeq != 0 {
		return v.fail(0, "is missing: the bundle has no since bound, so it must start at entry 0, not %d", v.header.FirstSeq)
	}
	if v.header.Until == "" && v.header.EndSeq != size {
		return v.fail(v.header.EndSeq, "is missing: the bundle has no until bound, so it must run to the checkpoint's size %d", size)
	}
	v.anchor = root
	v.report.TreeSize, v.report.Root, v.report.CheckpointTime = size, root, t
	if err := v.expect(linePrefix); err != nil {
		return err
	}
	if err := v.checkPrefix(); err != nil {
		return err
	}
	if v.frontier.size < v.header.FirstSeq {
		if err := v.expect(lineBoundary); err != nil {
			return err
		}
		if err := v.checkBoundary(); err != nil {
			return err
		}
	}
	// The rest (entries, checkpoints among them, the consistency proof
	// and the end line) is decoded in parallel and checked in order.
	if err := v.runBody(); err != nil {
		return err
	}
	v.report.Entries = v.header.EndSeq - v.header.FirstSeq
	return nil
}

func (v *verifier) checkHeader() error {
	h := v.line
	if h.Version != BundleVersion {
		return v.fail(-1, "unsupported bundle version %d", h.Version)
	}
	if !validOrgID(h.Org) {
		return v.fail(-1, "invalid organization id %q", h.Org)
	}
	if h.FirstSeq < 0 || h.EndSeq < h.FirstSeq {
		return v.fail(-1, "invalid entry range %d..%d", h.FirstSeq, h.EndSeq)
	}
	key, err := note.NewVerifier(h.PublicKey)
	if err != nil {
		return v.fail(-1, "invalid public key: %v", err)
	}
	if v.opts.PinnedKey != "" {
		if h.PublicKey != v.opts.PinnedKey {
			return v.fail(-1, "public key %q does not match the pinned key %q", h.PublicKey, v.opts.PinnedKey)
		}
		v.report.KeyPinned = true
	}
	for _, f := range []struct {
		name, value string
		dst         *time.Time
	}{{"since", h.Since, &v.since}, {"until", h.Until, &v.until}, {"created", h.Created, nil}} {
		if f.value == "" {
			continue
		}
		t, ok := parseBundleTime(f.value)
		if !ok {
			return v.fail(-1, "invalid %s time %q", f.name, f.value)
		}
		if f.dst != nil {
			*f.dst = t
		}
	}
	v.keys = note.VerifierList(key)
	v.header = h
	v.report.OrgID, v.report.PublicKey = h.Org, h.PublicKey
	v.report.FirstSeq, v.report.EndSeq = h.FirstSeq, h.EndSeq
	return nil
}

// openCheckpoint checks the signature and text of the checkpoint line.
func (v *verifier) openCheckpoint() (int64, tlog.Hash, time.Time, error) {
	n, err := note.Open([]byte(v.line.Note), v.keys)
	if err != nil {
		return 0, tlog.Hash{}, time.Time{}, v.fail(-1, "checkpoint signature invalid: %v", err)
	}
	org, size, root, t, err := ParseCheckpointText(n.Text)
	if err != nil {
		return 0, tlog.Hash{}, time.Time{}, v.fail(-1, "%v", err)
	}
	if org != v.header.Org {
		return 0, tlog.Hash{}, time.Time{}, v.fail(-1, "checkpoint is for organization %q, not %q", org, v.header.Org)
	}
	v.report.Checkpoints++
	return size, root, t, nil
}

func (v *verifier) checkPrefix() error {
	p := v.line
	want := v.header.FirstSeq
	if v.header.Since != "" && want > 0 {
		want-- // a boundary line for the entry before the range follows
	}
	if p.Size != want {
		return v.fail(-1, "prefix of size %d, want %d for entries starting at %d", p.Size, want, v.header.FirstSeq)
	}
	hashes, err := parseHashes(p.Hashes)
	if err != nil {
		return v.fail(-1, "prefix: %v", err)
	}
	if err := v.frontier.reset(p.Size, hashes); err != nil {
		return v.fail(-1, "prefix: %v", err)
	}
	proof, err := parseHashes(p.Proof)
	if err != nil {
		return v.fail(-1, "prefix: %v", err)
	}
	if p.Size == 0 {
		if len(proof) != 0 {
			return v.fail(-1, "prefix of size 0 with a proof")
		}
	} else if err := tlog.CheckTree(proof, v.report.TreeSize, v.anchor, p.Size, v.frontier.root()); err != nil {
		return v.fail(-1, "the hashes of the entries before %d do not match the signed checkpoint", p.Size)
	}
	v.lastGood = p.Size
	return nil
}

// entryFacts is what can be checked of an entry line on its own, in any
// order: done by the decoding workers.
type entryFacts struct {
	time  time.Time
	leaf  tlog.Hash // the leaf_hash the line claims, checked to match its fields
	fault string    // why the line is bad on its own, or ""
}

// checkEntryLine checks one entry line on its own: field syntax, the payload
// against its salted commitment, the fields against the leaf hash.
func checkEntryLine(org string, l *bundleLine, lh *leafHasher) entryFacts {
	var f entryFacts
	t, ok := parseBundleTime(l.Time)
	if !ok {
		f.fault = fmt.Sprintf("invalid time %q", l.Time)
		return f
	}
	f.time = t
	e := Entry{
		Seq:            l.Seq,
		Time:           t,
		OrgID:          org,
		Actor:          Actor{Kind: ActorKind(l.ActorKind), ID: l.ActorID},
		ConversationID: l.ConversationID,
		Action:         l.Action,
		Target:         l.Target,
		Reason:         l.Reason,
		Purged:         l.Purged,
	}
	if !e.Actor.Kind.Valid() {
		f.fault = fmt.Sprintf("unknown actor kind %q", l.ActorKind)
		return f
	}
	var err error
	if e.Commitment, err = parseHash(l.Commitment); err != nil {
		f.fault = "invalid commitment"
		return f
	}
	if f.leaf, err = parseHash(l.LeafHash); err != nil {
		f.fault = "invalid leaf_hash"
		return f
	}
	if !l.Purged {
		var salt [saltSize]byte
		if n, err := base64.StdEncoding.Decode(salt[:], []byte(l.Salt)); err != nil || n != saltSize || len(l.Salt) != base64.StdEncoding.EncodedLen(saltSize) {
			f.fault = "invalid salt"
			return f
		}
		if !canonicalPayload(l.Payload, &lh.payload) {
			f.fault = "payload is not compact JSON in canonical form"
			return f
		}
		if lh.commit(salt[:], l.Payload) != e.Commitment {
			f.fault = "payload does not match its commitment (the payload was edited)"
			return f
		}
	}
	if lh.hash(&e) != f.leaf {
		f.fault = "leaf does not match the signed tree (the entry was edited)"
	}
	return f
}

// checkEntry checks an entry line in its place: its Seq, its time against
// its neighbours' and the range, then adds its leaf to the tree.
func (v *verifier) checkEntry(f entryFacts) error {
	l := &v.line
	want := v.frontier.size
	switch {
	case want >= v.header.EndSeq:
		return v.fail(l.Seq, "is beyond the bundle's range, which ends before %d", v.header.EndSeq)
	case l.Seq > want:
		return v.fail(want, "is missing or out of place (found entry %d)", l.Seq)
	case l.Seq < want:
		return v.fail(l.Seq, "is out of place or duplicated (expected entry %d)", want)
	}
	if f.fault != "" {
		return v.fail(l.Seq, "%s", f.fault)
	}
	if f.time.Before(v.lastTime) {
		return v.fail(l.Seq, "time goes backwards")
	}
	if (!v.since.IsZero() && f.time.Before(v.since)) || (!v.until.IsZero() && !f.time.Before(v.until)) {
		return v.fail(l.Seq, "time is outside the bundle's since/until range")
	}
	if l.Purged {
		v.report.Purged++
	}
	v.frontier.append(f.leaf)
	v.lastTime = f.time
	return nil
}

// checkBoundary checks a boundary line: the entry just before the range
// (right after the prefix) or just after it (right before the consistency
// proof). Its time proves the range complete; its leaf, rebuilt from seq,
// time and fields digest, goes into the tree like any other.
func (v *verifier) checkBoundary() error {
	l := &v.line
	before := v.frontier.size < v.header.FirstSeq
	switch {
	case !before && (v.header.Until == "" || v.frontier.size != v.header.EndSeq || v.sawAfter):
		return v.fail(-1, "unexpected boundary line")
	case l.Seq != v.frontier.size:
		return v.fail(v.frontier.size, "is missing or out of place (found boundary entry %d)", l.Seq)
	}
	t, ok := parseBundleTime(l.Time)
	if !ok {
		return v.fail(l.Seq, "invalid time %q", l.Time)
	}
	digest, err := tlog.ParseHash(l.FieldsDigest)
	if err != nil {
		return v.fail(l.Seq, "invalid fields_digest")
	}
	if before && !t.Before(v.since) {
		return v.fail(l.Seq, "the entry before the range is not before its since bound")
	}
	if !before && (t.Before(v.until) || t.Before(v.lastTime)) {
		return v.fail(l.Seq, "the entry after the range is not after its until bound, so the range is incomplete")
	}
	v.frontier.append(v.lh.hashHead(v.header.Org, l.Seq, t.UnixMilli(), digest))
	v.lastTime = t
	v.sawAfter = !before
	return nil
}

func (v *verifier) checkInlineCheckpoint() error {
	size, root, _, err := v.openCheckpoint()
	if err != nil {
		return err
	}
	if size != v.frontier.size || size <= v.header.FirstSeq {
		return v.fail(-1, "checkpoint of size %d is out of place after entry %d", size, v.frontier.size-1)
	}
	if v.frontier.root() != root {
		return v.rangeChanged(size)
	}
	v.lastGood = size
	return nil
}

func (v *verifier) checkConsistency() error {
	c := v.line
	if v.frontier.size < v.header.EndSeq {
		return v.fail(v.frontier.size, "is missing (the bundle ends before it)")
	}
	if v.header.Until != "" && v.header.EndSeq < v.report.TreeSize && !v.sawAfter {
		return v.fail(v.header.EndSeq, "is missing: the boundary line after the range was removed")
	}
	if c.Size != v.frontier.size {
		return v.fail(-1, "consistency proof for size %d after %d entries", c.Size, v.frontier.size)
	}
	proof, err := parseHashes(c.Proof)
	if err != nil {
		return v.fail(-1, "consistency: %v", err)
	}
	if c.Size == 0 {
		if len(proof) != 0 {
			return v.fail(-1, "consistency proof for an empty tree")
		}
		return nil
	}
	if err := tlog.CheckTree(proof, v.report.TreeSize, v.anchor, c.Size, v.frontier.root()); err != nil {
		return v.rangeChanged(v.report.TreeSize)
	}
	return nil
}

// rangeChanged reports that the entries since the last proven tree size do
// not rebuild a signed tree.
func (v *verifier) rangeChanged(signedSize int64) error {
	if v.frontier.size-v.lastGood == 1 {
		return v.fail(v.lastGood, "leaf does not match the signed tree (the entry and its leaf hash were edited)")
	}
	return v.fail(-1, "an entry among %d..%d was edited, inserted or removed: they do not rebuild the signed tree of size %d",
		v.lastGood, v.frontier.size-1, signedSize)
}

func parseHashes(ss []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		h, err := tlog.ParseHash(s)
		if err != nil {
			return nil, fmt.Errorf("invalid hash %d", i)
		}
		out[i] = h
	}
	return out, nil
}

// parseHash is tlog.ParseHash without its allocations: verification parses
// two hashes per entry.
func parseHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	var buf [tlog.HashSize + 2]byte
	if len(s) != base64.StdEncoding.EncodedLen(tlog.HashSize) {
		return h, errors.New("malformed hash")
	}
	n, err := base64.StdEncoding.Decode(buf[:], []byte(s))
	if err != nil || n != tlog.HashSize {
		return h, errors.New("malformed hash")
	}
	copy(h[:], buf[:n])
	return h, nil
}

func parseBundleTime(s string) (time.Time, bool) {
	t, err := time.Parse(bundleTimeLayout, s)
	if err != nil || t.Format(bundleTimeLayout) != s {
		return time.Time{}, false
	}
	return t, true
}
