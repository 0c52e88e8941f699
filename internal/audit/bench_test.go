package audit

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkAppendMemory measures sustained appends through the Log's
// batching writer into a MemStore, with many concurrent callers each
// appending one entry at a time (the shape of production traffic).
func BenchmarkAppendMemory(b *testing.B) {
	l := mustRunLog(b, NewMemStore(), LogOptions{})
	orgs := []string{"org-a", "org-b", "org-c", "org-d"}
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := l.Append(context.Background(), testEntry(orgs[i%len(orgs)], i)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// writeTestBundle fills a MemStore with n entries of one organization,
// checkpointed every 1000 entries (the default policy), and exports the
// whole log to path. It returns the verifier key.
func writeTestBundle(tb testing.TB, path string, n int) string {
	tb.Helper()
	ctx := context.Background()
	store := NewMemStore()
	key := mustKey(tb)
	cp := NewCheckpointer(store, key, CheckpointPolicy{})
	const batch = 1000
	var last time.Time
	for start := 0; start < n; start += batch {
		entries := make([]Entry, min(batch, n-start))
		for i := range entries {
			entries[i] = testEntry(testOrg, start+i)
		}
		b, err := PrepareBatch(testOrg, int64(start), last, time.Now(), entries, NewHashReader(ctx, store, testOrg))
		if err != nil {
			tb.Fatal(err)
		}
		if err := store.AppendBatches(ctx, []Batch{b}); err != nil {
			tb.Fatal(err)
		}
		last = entries[len(entries)-1].Time
		mustCheckpoint(tb, cp, testOrg)
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := Export(ctx, store, cp, ExportRequest{OrgID: testOrg}, f); err != nil {
		tb.Fatal(err)
	}
	return key.VerifierKey
}

// BenchmarkVerify1M times Verify over a bundle of 1,000,000 entries (with
// 1000 signed checkpoints) read from a file.
func BenchmarkVerify1M(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "bundle.jsonl")
	pinned := writeTestBundle(b, path, n)
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(info.Size())
	runtime.GC() // drop the generator's store, so it does not weigh on Verify
	b.ResetTimer()
	cpuBefore := processCPU()
	for b.Loop() {
		rep, err := VerifyFile(path, VerifyOptions{PinnedKey: pinned})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Entries != n {
			b.Fatalf("verified %d entries", rep.Entries)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/bundle")
	// CPU time says more than wall time on a machine shared with other
	// work: it is what the verification costs, whatever the contention.
	if cpu := processCPU() - cpuBefore; cpu > 0 {
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/bundle")
	}
}
