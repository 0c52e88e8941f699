package audit

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"
)

// sameAsSlowPath checks the fast parser's one promise: whatever it accepts,
// the encoding/json path accepts too, with the same values.
func sameAsSlowPath(tb testing.TB, raw []byte) bool {
	tb.Helper()
	var fast, slow bundleLine
	var enc []byte
	if !parseEntryLineFast(string(raw), &fast, &enc) {
		return false
	}
	if msg := decodeBundleLine(raw, &slow, &enc); msg != "" {
		tb.Fatalf("fast path accepted a line the slow path refuses (%s): %q", msg, raw)
	}
	if len(fast.Payload) == 0 && len(slow.Payload) == 0 {
		fast.Payload, slow.Payload = nil, nil
	}
	if !reflect.DeepEqual(fast, slow) {
		tb.Fatalf("fast and slow paths disagree on %q:\nfast %+v\nslow %+v", raw, fast, slow)
	}
	return true
}

func mustTestBundles(tb testing.TB) [][]byte {
	tb.Helper()
	f := mustFixture(tb)
	var lines [][]byte
	lines = append(lines, bundleLines(f.bundle)...)
	store := NewMemStore()
	cp := NewCheckpointer(store, mustKey(tb), CheckpointPolicy{})
	l := mustRunLog(tb, store, LogOptions{})
	nasty := "\n{\"type\":\"entry\"}\r\x00\x1b\x7f\u2028\u2029\"\\/\b\f\té" + string([]byte{0xff})
	mustAppend(tb, l, Entry{OrgID: testOrg, Actor: Actor{Kind: ActorUser, ID: nasty}, Action: "x", Reason: nasty,
		Payload: Payload([]any{nasty, 1, nil, map[string]any{"a": []int{1, 2}}})})
	mustAppend(tb, l, Entry{OrgID: testOrg, Actor: Actor{Kind: ActorUser}, Action: "y", Payload: []byte(`"just a string"`)})
	mustAppend(tb, l, Entry{OrgID: testOrg, Actor: Actor{Kind: ActorUser}, Action: "z", Payload: []byte(`12.5e3`)})
	if _, err := store.PurgePayloads(context.Background(), testOrg, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		tb.Fatal(err)
	}
	mustAppend(tb, l, Entry{OrgID: testOrg, Actor: Actor{Kind: ActorUser}, Action: "w"})
	lines = append(lines, bundleLines(mustExport(tb, store, cp, ExportRequest{OrgID: testOrg}))...)
	return lines
}

func TestFastEntryParserAgreesWithEncodingJSON(t *testing.T) {
	entries := 0
	for _, raw := range mustTestBundles(t) {
		isEntry := bytes.HasPrefix(raw, []byte(entryLinePrefix))
		if got := sameAsSlowPath(t, raw); got != isEntry {
			t.Fatalf("fast path = %v on %q", got, raw)
		}
		if isEntry {
			entries++
		}
	}
	if entries < 100 {
		t.Fatalf("only %d entry lines tested", entries)
	}
}

func FuzzFastEntryParser(f *testing.F) {
	for _, raw := range mustTestBundles(f) {
		f.Add(raw)
	}
	f.Add([]byte(`{"type":"entry","seq":1,"time":"x","actor_kind":"\u00e9"}` + "\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		sameAsSlowPath(t, raw)
	})
}
