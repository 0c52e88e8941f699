package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const testOrg = "0197a3c2-0000-7000-8000-000000000001"

func mustKey(tb testing.TB) *SigningKey {
	tb.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, SigningKeyName)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := ParseSigningKey(skey)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// mustRunLog starts a Log's writer for the duration of the test.
func mustRunLog(tb testing.TB, store Store, opts LogOptions) *Log {
	tb.Helper()
	l := NewLog(store, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Log.Run: %v", err)
		}
	})
	return l
}

func testEntry(org string, i int) Entry {
	return Entry{
		OrgID:          org,
		Actor:          Actor{Kind: ActorAssistant, ID: "chatbot-1"},
		ConversationID: fmt.Sprintf("conv-%d", i%7),
		Action:         ActionToolCall,
		Target:         "tool:lookup_order",
		Reason:         fmt.Sprintf("visitor asked about order %d", i),
		Payload:        Payload(map[string]any{"order": i, "secret": fmt.Sprintf("card-ending-%04d", i)}),
	}
}

func mustAppend(tb testing.TB, l *Log, entries ...Entry) []Entry {
	tb.Helper()
	out, err := l.Append(context.Background(), entries...)
	if err != nil {
		tb.Fatalf("Append: %v", err)
	}
	return out
}

func mustExport(tb testing.TB, store Store, cp *Checkpointer, req ExportRequest) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := Export(context.Background(), store, cp, req, &buf); err != nil {
		tb.Fatalf("Export: %v", err)
	}
	return buf.Bytes()
}

func mustCheckpoint(tb testing.TB, cp *Checkpointer, org string) Checkpoint {
	tb.Helper()
	c, err := cp.CheckpointNow(context.Background(), org)
	if err != nil {
		tb.Fatalf("CheckpointNow: %v", err)
	}
	return c
}

func mustVerify(tb testing.TB, bundle []byte, opts VerifyOptions) Report {
	tb.Helper()
	rep, err := Verify(bytes.NewReader(bundle), opts)
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	return rep
}

// memHashes is a tlog.HashReader over a slice of stored hashes.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if idx >= int64(len(m)) {
			return nil, fmt.Errorf("hash %d not stored", idx)
		}
		out[i] = m[idx]
	}
	return out, nil
}

func TestFrontierRootMatchesTreeHash(t *testing.T) {
	var stored memHashes
	var f merkleFrontier
	sizes := map[int64]bool{1023: true, 1024: true, 1025: true, 2047: true, 4097: true}
	for n := int64(0); n <= 4097; n++ {
		if n <= 300 || sizes[n] {
			want, err := tlog.TreeHash(n, stored)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.root(); got != want {
				t.Fatalf("size %d: incremental root %v, tlog.TreeHash %v", n, got, want)
			}
			// A frontier loaded from stored hashes gives the same root.
			fh, err := stored.ReadHashes(frontierIndexes(n))
			if err != nil {
				t.Fatal(err)
			}
			var g merkleFrontier
			if err := g.reset(n, fh); err != nil {
				t.Fatal(err)
			}
			if g.root() != want {
				t.Fatalf("size %d: root from stored frontier differs", n)
			}
		}
		leaf := tlog.RecordHash([]byte(fmt.Sprint("record ", n)))
		hs, err := tlog.StoredHashesForRecordHash(n, leaf, stored)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		f.append(leaf)
	}
}

func TestLeafHashAndPrepareBatchMatchTlog(t *testing.T) {
	entries := make([]Entry, 50)
	for i := range entries {
		entries[i] = testEntry(testOrg, i)
	}
	var stored memHashes
	// Two batches, so the second reads hashes from below its start.
	b1, err := PrepareBatch(testOrg, 0, time.Time{}, time.Now(), entries[:23], stored)
	if err != nil {
		t.Fatal(err)
	}
	stored = append(stored, b1.Hashes...)
	b2, err := PrepareBatch(testOrg, 23, b1.Entries[22].Time, time.Now(), entries[23:], stored)
	if err != nil {
		t.Fatal(err)
	}
	stored = append(stored, b2.Hashes...)

	var want memHashes
	var lh leafHasher
	for i := range entries {
		e := &entries[i]
		if e.Seq != int64(i) {
			t.Fatalf("entry %d has Seq %d", i, e.Seq)
		}
		leaf := EncodeLeaf(nil, e)
		if lh.hash(e) != tlog.RecordHash(leaf) || LeafHash(e) != tlog.RecordHash(leaf) ||
			lh.hashHead(e.OrgID, e.Seq, e.Time.UnixMilli(), FieldsDigest(e)) != tlog.RecordHash(leaf) {
			t.Fatalf("entry %d: leaf hashes disagree", i)
		}
		if PayloadCommitment(e.Salt, e.Payload) != e.Commitment {
			t.Fatalf("entry %d: commitment mismatch", i)
		}
		hs, err := tlog.StoredHashes(int64(i), leaf, want)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, hs...)
	}
	if len(stored) != len(want) || int64(len(want)) != tlog.StoredHashCount(50) {
		t.Fatalf("stored %d hashes, want %d", len(stored), len(want))
	}
	for i := range want {
		if stored[i] != want[i] {
			t.Fatalf("stored hash %d differs", i)
		}
	}
}

func TestPrepareBatchTimeNeverGoesBackwards(t *testing.T) {
	last := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b, err := PrepareBatch(testOrg, 0, last, last.Add(-time.Hour), []Entry{testEntry(testOrg, 0)}, memHashes{})
	if err != nil {
		t.Fatal(err)
	}
	if !b.Entries[0].Time.Equal(last) {
		t.Fatalf("time %v, want %v", b.Entries[0].Time, last)
	}
}

func TestAppendRefusesBadEntries(t *testing.T) {
	l := mustRunLog(t, NewMemStore(), LogOptions{})
	tests := []struct {
		name  string
		entry Entry
		code  string
	}{
		{"bad org", Entry{OrgID: "a b\n", Actor: Actor{Kind: ActorSystem}, Action: "x"}, porthole.EINVALID},
		{"bad actor", Entry{OrgID: testOrg, Actor: Actor{Kind: "robot"}, Action: "x"}, porthole.EINVALID},
		{"bad action", Entry{OrgID: testOrg, Actor: Actor{Kind: ActorSystem}, Action: "x\ny"}, porthole.EINVALID},
		{"bad payload", Entry{OrgID: testOrg, Actor: Actor{Kind: ActorSystem}, Action: "x", Payload: json.RawMessage(`{"a":`)}, porthole.EINVALID},
		{"big field", Entry{OrgID: testOrg, Actor: Actor{Kind: ActorSystem}, Action: "x", Reason: strings.Repeat("a", MaxFieldBytes+1)}, porthole.ETOOLARGE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.Append(context.Background(), tt.entry)
			if !porthole.IsCode(err, tt.code) {
				t.Fatalf("err %v, want code %s", err, tt.code)
			}
		})
	}
}

// fixture is a log of 100 entries with checkpoints at sizes 30 and 60 and
// a full export.
type fixture struct {
	store  *MemStore
	key    *SigningKey
	cp     *Checkpointer
	log    *Log
	bundle []byte
}

func mustFixture(tb testing.TB) *fixture {
	tb.Helper()
	f := &fixture{store: NewMemStore(), key: mustKey(tb)}
	f.cp = NewCheckpointer(f.store, f.key, CheckpointPolicy{})
	var mu sync.Mutex
	now := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	f.log = mustRunLog(tb, f.store, LogOptions{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second) // one entry per second, so times select entries
		return now
	}})
	for i := 0; i < 100; i++ {
		mustAppend(tb, f.log, testEntry(testOrg, i))
		if i == 29 || i == 59 {
			mustCheckpoint(tb, f.cp, testOrg)
		}
	}
	f.bundle = mustExport(tb, f.store, f.cp, ExportRequest{OrgID: testOrg})
	return f
}

func TestExportVerifyRanges(t *testing.T) {
	store := NewMemStore()
	key := mustKey(t)
	cp := NewCheckpointer(store, key, CheckpointPolicy{})
	base := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	var now time.Time
	var mu sync.Mutex
	l := mustRunLog(t, store, LogOptions{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	for i := 0; i < 200; i++ {
		mu.Lock()
		now = base.Add(time.Duration(i) * time.Second)
		mu.Unlock()
		mustAppend(t, l, testEntry(testOrg, i))
		if i%37 == 36 {
			mustCheckpoint(t, cp, testOrg)
		}
	}
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	tests := []struct {
		name         string
		since, until time.Time
		first, end   int64
	}{
		{"everything", time.Time{}, time.Time{}, 0, 200},
		{"since", at(57), time.Time{}, 57, 200},
		{"until", time.Time{}, at(111), 0, 111},
		{"since and until", at(64), at(128), 64, 128},
		{"one entry", at(99), at(100), 99, 100},
		{"empty inside", at(70), at(70), 70, 70},
		{"after the end", at(500), time.Time{}, 200, 200},
		{"before the start", time.Time{}, base.Add(-time.Hour), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle := mustExport(t, store, cp, ExportRequest{OrgID: testOrg, Since: tt.since, Until: tt.until})
			rep := mustVerify(t, bundle, VerifyOptions{PinnedKey: key.VerifierKey})
			if rep.FirstSeq != tt.first || rep.EndSeq != tt.end || rep.Entries != tt.end-tt.first {
				t.Fatalf("report %+v, want entries %d..%d", rep, tt.first, tt.end)
			}
			if !rep.KeyPinned || rep.TreeSize != 200 || rep.OrgID != testOrg {
				t.Fatalf("report %+v", rep)
			}
		})
	}
}

// bundleLines splits a bundle into lines, each with its newline.
func bundleLines(b []byte) [][]byte {
	return bytes.SplitAfter(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

func joinLines(lines [][]byte) []byte {
	var out []byte
	for _, l := range lines {
		out = append(out, l...)
		if !bytes.HasSuffix(l, []byte("\n")) {
			out = append(out, '\n')
		}
	}
	return out
}

func decodeLine(tb testing.TB, raw []byte) bundleLine {
	tb.Helper()
	var l bundleLine
	if err := json.Unmarshal(raw, &l); err != nil {
		tb.Fatal(err)
	}
	return l
}

// entryIndex returns the index in lines of entry seq.
func entryIndex(tb testing.TB, lines [][]byte, seq int64) int {
	tb.Helper()
	for i, raw := range lines {
		l := decodeLine(tb, raw)
		if l.Type == lineEntry && l.Seq == seq {
			return i
		}
	}
	tb.Fatalf("no entry %d", seq)
	return -1
}

// editEntry re-encodes entry seq after edit, in canonical form.
func editEntry(tb testing.TB, lines [][]byte, seq int64, edit func(*bundleLine)) {
	tb.Helper()
	i := entryIndex(tb, lines, seq)
	l := decodeLine(tb, lines[i])
	edit(&l)
	lines[i] = appendLine(nil, &l)
}

// recomputeLeaf sets an entry line's leaf_hash to match its (edited) fields,
// as a careful forger would.
func recomputeLeaf(l *bundleLine, org string) {
	t, _ := parseBundleTime(l.Time)
	c, _ := tlog.ParseHash(l.Commitment)
	e := Entry{Seq: l.Seq, Time: t, OrgID: org, Actor: Actor{Kind: ActorKind(l.ActorKind), ID: l.ActorID},
		ConversationID: l.ConversationID, Action: l.Action, Target: l.Target, Reason: l.Reason, Commitment: c}
	l.LeafHash = LeafHash(&e).String()
}

func resign(tb testing.TB, raw []byte, signer note.Signer, editText func(string) string) []byte {
	tb.Helper()
	l := decodeLine(tb, raw)
	text, _, _ := strings.Cut(l.Note, "\n\n")
	text = editText(text + "\n")
	signed, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		tb.Fatal(err)
	}
	l.Note = string(signed)
	return appendLine(nil, &l)
}

func TestVerifyDetectsTampering(t *testing.T) {
	f := mustFixture(t)
	mustVerify(t, f.bundle, VerifyOptions{PinnedKey: f.key.VerifierKey})
	attacker := mustKey(t)

	tests := []struct {
		name    string
		tamper  func(tb testing.TB, lines [][]byte) [][]byte
		pinned  bool
		wantSeq int64 // -1: the fault is not in one entry
		want    string
	}{
		{"edit a field", func(tb testing.TB, lines [][]byte) [][]byte {
			editEntry(tb, lines, 41, func(l *bundleLine) { l.Reason = "nothing to see" })
			return lines
		}, false, 41, "leaf does not match the signed tree"},
		{"edit the actor", func(tb testing.TB, lines [][]byte) [][]byte {
			editEntry(tb, lines, 3, func(l *bundleLine) { l.ActorKind = string(ActorUser) })
			return lines
		}, false, 3, "leaf does not match the signed tree"},
		{"edit the time", func(tb testing.TB, lines [][]byte) [][]byte {
			editEntry(tb, lines, 99, func(l *bundleLine) { l.Time = "2099-01-01T00:00:00.000Z" })
			return lines
		}, false, 99, "leaf does not match the signed tree"},
		{"edit a payload", func(tb testing.TB, lines [][]byte) [][]byte {
			editEntry(tb, lines, 17, func(l *bundleLine) { l.Payload = json.RawMessage(`{"order":17,"secret":"forged"}`) })
			return lines
		}, false, 17, "payload does not match its commitment"},
		{"edit a commitment", func(tb testing.TB, lines [][]byte) [][]byte {
			editEntry(tb, lines, 12, func(l *bundleLine) {
				var salt [32]byte
				l.Payload = json.RawMessage(`{"forged":true}`)
				l.Salt = encodeBase64(salt[:])
				l.Commitment = PayloadCommitment(salt[:], l.Payload).String()
			})
			return lines
		}, false, 12, "leaf does not match the signed tree"},
		{"edit an entry and its leaf hash", func(tb testing.TB, lines [][]byte) [][]byte {
			editEntry(tb, lines, 41, func(l *bundleLine) { l.Reason = "nothing to see"; recomputeLeaf(l, testOrg) })
			return lines
		}, false, -1, "an entry among 30..59"},
		{"edit the last entry and its leaf hash", func(tb testing.TB, lines [][]byte) [][]byte {
			editEntry(tb, lines, 99, func(l *bundleLine) { l.Target = "elsewhere"; recomputeLeaf(l, testOrg) })
			return lines
		}, false, -1, "an entry among 60..99"},
		{"remove an entry", func(tb testing.TB, lines [][]byte) [][]byte {
			i := entryIndex(tb, lines, 17)
			return append(lines[:i], lines[i+1:]...)
		}, false, 17, "missing"},
		{"remove the last entry", func(tb testing.TB, lines [][]byte) [][]byte {
			i := entryIndex(tb, lines, 99)
			return append(lines[:i], lines[i+1:]...)
		}, false, 99, "missing"},
		{"reorder two entries", func(tb testing.TB, lines [][]byte) [][]byte {
			i, j := entryIndex(tb, lines, 5), entryIndex(tb, lines, 6)
			lines[i], lines[j] = lines[j], lines[i]
			return lines
		}, false, 5, "missing or out of place"},
		{"reorder two entries and renumber them", func(tb testing.TB, lines [][]byte) [][]byte {
			i, j := entryIndex(tb, lines, 5), entryIndex(tb, lines, 6)
			lines[i], lines[j] = lines[j], lines[i]
			editEntry(tb, lines[i:i+1], 6, func(l *bundleLine) { l.Seq = 5 })
			editEntry(tb, lines[j:j+1], 5, func(l *bundleLine) { l.Seq = 6 })
			return lines
		}, false, 5, "leaf does not match the signed tree"},
		{"insert a copy", func(tb testing.TB, lines [][]byte) [][]byte {
			i := entryIndex(tb, lines, 10)
			return append(lines[:i+1], append([][]byte{lines[i]}, lines[i+1:]...)...)
		}, false, 10, "duplicated"},
		{"insert a forged entry", func(tb testing.TB, lines [][]byte) [][]byte {
			i := entryIndex(tb, lines, 11)
			l := decodeLine(tb, lines[i])
			l.Reason = "forged"
			recomputeLeaf(&l, testOrg)
			return append(lines[:i], append([][]byte{appendLine(nil, &l)}, lines[i:]...)...)
		}, false, 11, "duplicated"},
		{"insert a forged entry and renumber the rest", func(tb testing.TB, lines [][]byte) [][]byte {
			i := entryIndex(tb, lines, 90)
			forged := decodeLine(tb, lines[i])
			forged.Reason = "forged"
			recomputeLeaf(&forged, testOrg)
			var out [][]byte
			out = append(out, lines[:i]...)
			out = append(out, appendLine(nil, &forged))
			for _, raw := range lines[i:] {
				l := decodeLine(tb, raw)
				if l.Type == lineEntry {
					l.Seq++
					recomputeLeaf(&l, testOrg)
					if l.Seq == 100 {
						continue // keep the count
					}
					raw = appendLine(nil, &l)
				}
				out = append(out, raw)
			}
			return out
		}, false, -1, "an entry among 60..99"},
		{"forged checkpoint signed with another key", func(tb testing.TB, lines [][]byte) [][]byte {
			lines[1] = resign(tb, lines[1], attacker.Signer, func(s string) string { return s })
			return lines
		}, false, -1, "checkpoint signature invalid"},
		{"altered root", func(tb testing.TB, lines [][]byte) [][]byte {
			l := decodeLine(tb, lines[1])
			parts := strings.SplitN(l.Note, "\n", 4)
			parts[2] = tlog.Hash{1, 2, 3}.String()
			l.Note = strings.Join(parts, "\n")
			lines[1] = appendLine(nil, &l)
			return lines
		}, false, -1, "checkpoint signature invalid"},
		{"altered inline checkpoint", func(tb testing.TB, lines [][]byte) [][]byte {
			for i, raw := range lines[2:] {
				if l := decodeLine(tb, raw); l.Type == lineCheckpoint {
					lines[i+2] = resign(tb, raw, attacker.Signer, func(s string) string { return s })
					break
				}
			}
			return lines
		}, false, -1, "checkpoint signature invalid"},
		{"whole bundle re-signed with another key, pinned", func(tb testing.TB, lines [][]byte) [][]byte {
			h := decodeLine(tb, lines[0])
			h.PublicKey = attacker.VerifierKey
			lines[0] = appendLine(nil, &h)
			for i, raw := range lines {
				if l := decodeLine(tb, raw); l.Type == lineCheckpoint {
					lines[i] = resign(tb, raw, attacker.Signer, func(s string) string { return s })
				}
			}
			return lines
		}, true, -1, "does not match the pinned key"},
		{"another organization's bundle", func(tb testing.TB, lines [][]byte) [][]byte {
			h := decodeLine(tb, lines[0])
			h.Org = "another-org"
			lines[0] = appendLine(nil, &h)
			return lines
		}, false, -1, "checkpoint is for organization"},
		{"truncated bundle", func(tb testing.TB, lines [][]byte) [][]byte {
			return lines[:len(lines)-20]
		}, false, -1, "truncated"},
		{"truncated mid-line", func(tb testing.TB, lines [][]byte) [][]byte {
			b := joinLines(lines)
			return [][]byte{b[:len(b)-7]}
		}, false, -1, "truncated"},
		{"end line removed", func(tb testing.TB, lines [][]byte) [][]byte {
			return lines[:len(lines)-1]
		}, false, -1, "truncated"},
		{"data after the end", func(tb testing.TB, lines [][]byte) [][]byte {
			return append(lines, lines[len(lines)-1])
		}, false, -1, "data after the end line"},
		{"unknown field", func(tb testing.TB, lines [][]byte) [][]byte {
			i := entryIndex(tb, lines, 8)
			lines[i] = bytes.Replace(lines[i], []byte(`{"type":"entry",`), []byte(`{"type":"entry","note":"x",`), 1)
			return lines
		}, false, -1, "canonical"},
		{"duplicate field", func(tb testing.TB, lines [][]byte) [][]byte {
			i := entryIndex(tb, lines, 8)
			lines[i] = bytes.Replace(lines[i], []byte(`}`+"\n"), []byte(`,"reason":"other"}`+"\n"), 1)
			return lines
		}, false, -1, "canonical"},
		{"not an object", func(tb testing.TB, lines [][]byte) [][]byte {
			i := entryIndex(tb, lines, 8)
			lines[i] = append([]byte(" "), lines[i]...)
			return lines
		}, false, -1, "not a JSON object"},
		{"two objects on a line", func(tb testing.TB, lines [][]byte) [][]byte {
			i := entryIndex(tb, lines, 8)
			lines[i] = append(bytes.TrimSuffix(lines[i], []byte("\n")), lines[i]...)
			return lines
		}, false, -1, "not one JSON object"},
		{"unknown line type", func(tb testing.TB, lines [][]byte) [][]byte {
			i := entryIndex(tb, lines, 8)
			lines[i] = []byte(`{"type":"comment"}` + "\n")
			return lines
		}, false, -1, "unknown line type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := bundleLines(bytes.Clone(f.bundle))
			for i := range lines {
				lines[i] = bytes.Clone(lines[i])
			}
			bundle := joinLines(tt.tamper(t, lines))
			if tt.name == "truncated mid-line" {
				bundle = bundle[:len(bundle)-1] // joinLines added a newline
			}
			opts := VerifyOptions{}
			if tt.pinned {
				opts.PinnedKey = f.key.VerifierKey
			}
			_, err := Verify(bytes.NewReader(bundle), opts)
			var verr *VerifyError
			if !errors.As(err, &verr) {
				t.Fatalf("Verify = %v, want a *VerifyError", err)
			}
			if verr.Seq != tt.wantSeq || !strings.Contains(verr.Error(), tt.want) {
				t.Fatalf("Verify = %q (seq %d), want seq %d and %q", verr.Error(), verr.Seq, tt.wantSeq, tt.want)
			}
		})
	}
}

func TestVerifyDetectsTamperedRangeBundle(t *testing.T) {
	f := mustFixture(t)
	entries, _ := f.store.ReadEntries(context.Background(), testOrg, 40, 41)
	bundle := mustExport(t, f.store, f.cp, ExportRequest{OrgID: testOrg, Since: entries[0].Time})
	rep := mustVerify(t, bundle, VerifyOptions{})
	if rep.FirstSeq != 40 {
		t.Fatalf("range starts at %d, want 40", rep.FirstSeq)
	}
	lines := bundleLines(bundle)
	p := decodeLine(t, lines[2])
	h, _ := tlog.ParseHash(p.Hashes[0])
	h[0] ^= 1
	p.Hashes[0] = h.String()
	lines[2] = appendLine(nil, &p)
	_, err := Verify(bytes.NewReader(joinLines(lines)), VerifyOptions{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("entries before %d do not match", rep.FirstSeq-1)) {
		t.Fatalf("Verify = %v", err)
	}
}

func TestPurgeKeepsVerificationAndRemovesContent(t *testing.T) {
	store := NewMemStore()
	key := mustKey(t)
	cp := NewCheckpointer(store, key, CheckpointPolicy{})
	base := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	var now time.Time
	var mu sync.Mutex
	l := mustRunLog(t, store, LogOptions{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	for i := 0; i < 40; i++ {
		mu.Lock()
		now = base.Add(time.Duration(i) * time.Hour)
		mu.Unlock()
		mustAppend(t, l, testEntry(testOrg, i))
	}
	mustCheckpoint(t, cp, testOrg)
	before := mustExport(t, store, cp, ExportRequest{OrgID: testOrg})

	n, err := store.PurgePayloads(context.Background(), testOrg, base.Add(25*time.Hour))
	if err != nil || n != 25 {
		t.Fatalf("PurgePayloads = %d, %v; want 25", n, err)
	}
	after := mustExport(t, store, cp, ExportRequest{OrgID: testOrg})
	rep := mustVerify(t, after, VerifyOptions{PinnedKey: key.VerifierKey})
	if rep.Purged != 25 || rep.Entries != 40 {
		t.Fatalf("report %+v, want 25 of 40 purged", rep)
	}
	entries, _ := store.ReadEntries(context.Background(), testOrg, 0, 40)
	for _, e := range entries[:25] {
		if !e.Purged || e.Payload != nil || e.Salt != nil {
			t.Fatalf("entry %d not purged: %+v", e.Seq, e)
		}
		secret := fmt.Sprintf("card-ending-%04d", e.Seq)
		if !bytes.Contains(before, []byte(secret)) || bytes.Contains(after, []byte(secret)) {
			t.Fatalf("entry %d: payload still exported after purge", e.Seq)
		}
	}
	for _, e := range entries[25:] {
		if e.Purged || e.Payload == nil {
			t.Fatalf("entry %d purged too early", e.Seq)
		}
	}
	// The commitment is salted: hashing the known payload without the salt
	// does not give it.
	e := entries[0]
	guess := []byte(`{"order":0,"secret":"card-ending-0000"}`)
	if PayloadCommitment(nil, guess) == e.Commitment || PayloadCommitment(make([]byte, 32), guess) == e.Commitment {
		t.Fatal("commitment can be confirmed without the salt")
	}
	// The tree did not change.
	cps, _ := store.Checkpoints(context.Background(), testOrg, 40, 40)
	if len(cps) != 1 || cps[0].Root != rep.Root {
		t.Fatalf("root changed after purge")
	}
}

func TestValuesCannotSplitLines(t *testing.T) {
	store := NewMemStore()
	key := mustKey(t)
	cp := NewCheckpointer(store, key, CheckpointPolicy{})
	l := mustRunLog(t, store, LogOptions{})
	forged := "\n{\"type\":\"entry\",\"seq\":1,\"reason\":\"forged\"}\n"
	nasty := forged + "\r\x00\x01\x1b[31m\x7f\u2028\u2029\"\\" + string([]byte{0xff, 0xfe}) + "</script>"
	mustAppend(t, l,
		Entry{OrgID: testOrg, Actor: Actor{Kind: ActorVisitor, ID: nasty}, ConversationID: nasty, Action: ActionAgentReply,
			Target: nasty, Reason: nasty, Payload: Payload(map[string]string{"text": nasty})},
		Entry{OrgID: testOrg, Actor: Actor{Kind: ActorSystem}, Action: ActionAdmin,
			Payload: json.RawMessage("{\n  \"multi\": \"line\"\n}\n")},
	)
	bundle := mustExport(t, store, cp, ExportRequest{OrgID: testOrg})
	lines := bundleLines(bundle)
	// header, checkpoint, prefix, 2 entries, consistency, end.
	if len(lines) != 7 {
		t.Fatalf("bundle has %d lines, want 7:\n%s", len(lines), bundle)
	}
	for i, raw := range lines {
		if bytes.ContainsAny(raw[:len(raw)-1], "\n\r\x00\x7f") || bytes.Contains(raw, []byte("\u2028")) {
			t.Fatalf("line %d holds a raw control character: %q", i+1, raw)
		}
		if !json.Valid(raw) {
			t.Fatalf("line %d is not JSON", i+1)
		}
	}
	rep := mustVerify(t, bundle, VerifyOptions{PinnedKey: key.VerifierKey})
	if rep.Entries != 2 {
		t.Fatalf("report %+v", rep)
	}
	e := decodeLine(t, lines[3])
	if !strings.HasPrefix(e.Reason, forged) || !strings.Contains(e.Reason, "\uFFFD") {
		t.Fatalf("reason did not round-trip: %q", e.Reason)
	}
}

func TestConcurrentAppendsMakeConsistentLogs(t *testing.T) {
	store := NewMemStore()
	key := mustKey(t)
	cp := NewCheckpointer(store, key, CheckpointPolicy{})
	l := mustRunLog(t, store, LogOptions{MaxBatch: 64})
	orgs := []string{"org-a", "org-b", "org-c"}
	const workers, perWorker = 8, 150
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				org := orgs[(w+i)%len(orgs)]
				if _, err := l.Append(context.Background(), testEntry(org, w*perWorker+i)); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					if _, err := cp.CheckpointNow(context.Background(), org); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	// A second Log (another process, say) continues the same logs from the
	// store, while the first one still has its heads cached.
	l2 := mustRunLog(t, store, LogOptions{})
	for _, org := range orgs {
		mustAppend(t, l2, testEntry(org, -1))
		mustAppend(t, l, testEntry(org, -2))
	}
	var total int64
	for _, org := range orgs {
		rep := mustVerify(t, mustExport(t, store, cp, ExportRequest{OrgID: org}), VerifyOptions{PinnedKey: key.VerifierKey})
		total += rep.Entries
	}
	if want := int64(workers*perWorker + 2*len(orgs)); total != want {
		t.Fatalf("%d entries in all logs, want %d", total, want)
	}
}

func TestAppendAfterShutdown(t *testing.T) {
	l := NewLog(NewMemStore(), LogOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	mustAppend(t, l, testEntry(testOrg, 0))
	cancel()
	<-done
	if _, err := l.Append(context.Background(), testEntry(testOrg, 1)); !porthole.IsCode(err, porthole.EUNAVAILABLE) {
		t.Fatalf("Append after Run = %v, want EUNAVAILABLE", err)
	}
}

func TestRecordSecurityEvent(t *testing.T) {
	store := NewMemStore()
	l := mustRunLog(t, store, LogOptions{})
	var rec porthole.SecurityRecorder = l
	rec.RecordSecurityEvent(context.Background(), porthole.SecurityEvent{
		ID: "ev1", Kind: porthole.SecCORSRefused, Actor: "ip:203.0.113.9", IP: "203.0.113.9", Detail: "origin not allowed\nforged line",
	})
	rec.RecordSecurityEvent(context.Background(), porthole.SecurityEvent{
		ID: "ev2", OrgID: testOrg, Kind: porthole.SecBadSignature, Actor: "apikey:k1", Detail: "bad signature",
	})
	sys, _ := store.ReadEntries(context.Background(), SystemOrgID, 0, 10)
	org, _ := store.ReadEntries(context.Background(), testOrg, 0, 10)
	if len(sys) != 1 || sys[0].Action != "security.cors_refused" || sys[0].Actor.Kind != ActorVisitor {
		t.Fatalf("system log: %+v", sys)
	}
	if len(org) != 1 || org[0].Action != "security.bad_signature" || org[0].Actor != (Actor{Kind: ActorAPIKey, ID: "k1"}) {
		t.Fatalf("org log: %+v", org)
	}
}

func TestCheckpointText(t *testing.T) {
	root := tlog.Hash{9, 8, 7}
	at := time.UnixMilli(1893456000123).UTC()
	text := CheckpointText(testOrg, 42, root, at)
	want := "porthole.audit/" + testOrg + "\n42\n" + root.String() + "\n1893456000123\n"
	if string(text) != want {
		t.Fatalf("text %q, want %q", text, want)
	}
	org, size, gotRoot, gotTime, err := ParseCheckpointText(string(text))
	if err != nil || org != testOrg || size != 42 || gotRoot != root || !gotTime.Equal(at) {
		t.Fatalf("parse = %v %v %v %v %v", org, size, gotRoot, gotTime, err)
	}
	for _, bad := range []string{
		strings.Replace(want, "porthole.audit/", "go.sum database tree/", 1),
		strings.Replace(want, "\n42\n", "\n042\n", 1),
		strings.Replace(want, "\n42\n", "\n-1\n", 1),
		want + "extra\n",
		strings.TrimSuffix(want, "\n"),
		strings.Replace(want, testOrg, "a b", 1),
	} {
		if _, _, _, _, err := ParseCheckpointText(bad); err == nil {
			t.Errorf("ParseCheckpointText(%q) accepted", bad)
		}
	}
}

func TestCheckpointerPolicy(t *testing.T) {
	store := NewMemStore()
	cp := NewCheckpointer(store, mustKey(t), CheckpointPolicy{Every: 10, Interval: time.Hour, Poll: time.Millisecond})
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cp.now = func() time.Time { return now }
	l := mustRunLog(t, store, LogOptions{})
	ctx := context.Background()
	latest := func() int64 {
		c, err := store.LatestCheckpoint(ctx, testOrg)
		if err != nil {
			return 0
		}
		return c.Size
	}
	mustAppend(t, l, testEntry(testOrg, 0))
	cp.checkpointDue(ctx) // a log with no checkpoint is due at once
	if latest() != 1 {
		t.Fatalf("first checkpoint at %d, want 1", latest())
	}
	for i := 1; i < 8; i++ {
		mustAppend(t, l, testEntry(testOrg, i))
	}
	cp.checkpointDue(ctx)
	if latest() != 1 {
		t.Fatalf("checkpoint at %d after 7 entries, want none", latest())
	}
	for i := 8; i < 11; i++ {
		mustAppend(t, l, testEntry(testOrg, i))
	}
	cp.checkpointDue(ctx)
	if latest() != 11 {
		t.Fatalf("checkpoint at %d after 10 entries, want 11", latest())
	}
	mustAppend(t, l, testEntry(testOrg, 11))
	now = now.Add(2 * time.Hour)
	cp.checkpointDue(ctx)
	if latest() != 12 {
		t.Fatalf("checkpoint at %d after the interval, want 12", latest())
	}
	// Run stops cleanly.
	rctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := cp.Run(rctx); err != nil {
		t.Fatal(err)
	}
}

func TestSigningKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := DefaultSigningKeyPath(filepath.Join(dir, "data"))
	k1, err := LoadOrCreateSigningKey(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	k2, err := LoadOrCreateSigningKey(path)
	if err != nil || k2.VerifierKey != k1.VerifierKey {
		t.Fatalf("second load gave another key: %v", err)
	}
	printed, err := PrintableVerifierKey(path)
	if err != nil || printed != k1.VerifierKey || !strings.HasPrefix(printed, SigningKeyName+"+") {
		t.Fatalf("PrintableVerifierKey = %q, %v", printed, err)
	}
	// The key signs what its verifier key verifies.
	signed, err := note.Sign(&note.Note{Text: "hello\n"}, k1.Signer)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := note.NewVerifier(k1.VerifierKey)
	if _, err := note.Open(signed, note.VerifierList(v)); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateSigningKey(path); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("group-readable key accepted: %v", err)
	}
	after, _ := os.ReadFile(path)
	if k, err := ParseSigningKey(strings.TrimSpace(string(after))); err != nil || k.VerifierKey != k1.VerifierKey {
		t.Fatal("key file was overwritten")
	}
}

func TestExportEmptyLog(t *testing.T) {
	store := NewMemStore()
	cp := NewCheckpointer(store, mustKey(t), CheckpointPolicy{})
	_, err := Export(context.Background(), store, cp, ExportRequest{OrgID: testOrg}, &bytes.Buffer{})
	if !porthole.IsCode(err, porthole.ENOTFOUND) {
		t.Fatalf("Export of an empty log = %v, want ENOTFOUND", err)
	}
}

// fixtureTime is the time of entry i of mustFixture's log.
func fixtureTime(i int) time.Time {
	return time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i+1) * time.Second)
}

func setHeader(tb testing.TB, lines [][]byte, edit func(*bundleLine)) {
	tb.Helper()
	h := decodeLine(tb, lines[0])
	edit(&h)
	lines[0] = appendLine(nil, &h)
}

// TestVerifyDetectsIncompleteRanges covers a forger who holds the whole log
// and cuts entries off either end of a bundle, fixing up the header and the
// proofs: the bundle must still not verify as complete for its bounds.
func TestVerifyDetectsIncompleteRanges(t *testing.T) {
	f := mustFixture(t)
	ctx := context.Background()
	export := func(since, until time.Time) [][]byte {
		return bundleLines(mustExport(t, f.store, f.cp, ExportRequest{OrgID: testOrg, Since: since, Until: until}))
	}
	proveTree := func(n int64) []string {
		p, err := tlog.ProveTree(100, n, NewHashReader(ctx, f.store, testOrg))
		if err != nil {
			t.Fatal(err)
		}
		return hashStrings(p)
	}
	tests := []struct {
		name    string
		bundle  func() [][]byte
		wantSeq int64
		want    string
	}{
		{"tail cut from a full export", func() [][]byte {
			lines := export(time.Time{}, time.Time{})
			setHeader(t, lines, func(h *bundleLine) { h.EndSeq = 95 })
			var out [][]byte
			for _, raw := range lines {
				l := decodeLine(t, raw)
				switch {
				case l.Type == lineEntry && l.Seq >= 95:
					continue
				case l.Type == lineConsistency:
					l.Size, l.Proof = 95, proveTree(95)
					raw = appendLine(nil, &l)
				case l.Type == lineEnd:
					l.Entries = 95
					raw = appendLine(nil, &l)
				}
				out = append(out, raw)
			}
			return out
		}, 95, "no until bound"},
		{"head cut from a full export", func() [][]byte {
			lines := export(fixtureTime(10), time.Time{})
			setHeader(t, lines, func(h *bundleLine) { h.Since = "" })
			return lines
		}, 0, "no since bound"},
		{"since moved earlier", func() [][]byte {
			lines := export(fixtureTime(20), time.Time{})
			setHeader(t, lines, func(h *bundleLine) { h.Since = fixtureTime(10).Format(bundleTimeLayout) })
			return lines
		}, 19, "not before its since bound"},
		{"until moved later", func() [][]byte {
			lines := export(time.Time{}, fixtureTime(50))
			setHeader(t, lines, func(h *bundleLine) { h.Until = fixtureTime(70).Format(bundleTimeLayout) })
			return lines
		}, 50, "not after its until bound"},
		{"boundary after the range removed", func() [][]byte {
			lines := export(time.Time{}, fixtureTime(50))
			var out [][]byte
			for _, raw := range lines {
				if decodeLine(t, raw).Type != lineBoundary {
					out = append(out, raw)
				}
			}
			return out
		}, 50, "boundary line after the range was removed"},
		{"boundary before the range removed", func() [][]byte {
			lines := export(fixtureTime(20), time.Time{})
			var out [][]byte
			for _, raw := range lines {
				if decodeLine(t, raw).Type != lineBoundary {
					out = append(out, raw)
				}
			}
			return out
		}, -1, "expected a boundary line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(joinLines(tt.bundle())), VerifyOptions{})
			var verr *VerifyError
			if !errors.As(err, &verr) {
				t.Fatalf("Verify = %v, want a *VerifyError", err)
			}
			if verr.Seq != tt.wantSeq || !strings.Contains(verr.Error(), tt.want) {
				t.Fatalf("Verify = %q (seq %d), want seq %d and %q", verr.Error(), verr.Seq, tt.wantSeq, tt.want)
			}
		})
	}
	// The untampered range bundles verify, boundaries included.
	for _, b := range [][][]byte{export(fixtureTime(20), fixtureTime(50)), export(fixtureTime(20), time.Time{}), export(time.Time{}, fixtureTime(50))} {
		mustVerify(t, joinLines(b), VerifyOptions{PinnedKey: f.key.VerifierKey})
	}
}
