package store

import (
	"context"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// onStoreThreads runs n read transactions at once, each from a goroutine
// locked to its own thread, and reports for each whether its function ran
// on a thread other than its caller's. The transactions wait for each
// other inside, so n of them hold n store threads at once.
func onStoreThreads(t *testing.T, db *DB, n int) []bool {
	t.Helper()
	elsewhere := make([]bool, n)
	var inside, wg sync.WaitGroup
	inside.Add(n)
	for i := range n {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			caller := syscall.Gettid()
			err := db.inTx(context.Background(), scope{readOnly: true}, func(tx *Tx) error {
				elsewhere[i] = syscall.Gettid() != caller
				inside.Done()
				inside.Wait()
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	return elsewhere
}

// A SQLite transaction's work runs on a store thread, not on the thread of
// the goroutine that asked for it, as many at once as there are threads;
// the same few threads serve every transaction.
func TestSQLiteTransactionsRunOnStoreThreads(t *testing.T) {
	db := openSQLiteForTest(t)
	n := cap(db.threads.idle)
	for i, ok := range onStoreThreads(t, db, n) {
		if !ok {
			t.Fatalf("transaction %d of %d at once ran on its caller's thread", i+1, n)
		}
	}
	threads := map[int]bool{}
	for range 50 {
		if err := db.inTx(context.Background(), scope{readOnly: true}, func(tx *Tx) error {
			threads[syscall.Gettid()] = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(threads) > n {
		t.Fatalf("50 transactions ran on %d threads, want at most %d", len(threads), n)
	}
}

// A panic in a transaction's function reaches its caller with its value,
// and runtime.Goexit (t.FailNow) ends the caller's goroutine; the store
// threads are all there afterwards.
func TestSQLiteThreadsPassOnPanicAndGoexit(t *testing.T) {
	db := openSQLiteForTest(t)
	type boom struct{ n int }
	got := func() (v any) {
		defer func() { v = recover() }()
		_ = db.inTx(context.Background(), scope{}, func(tx *Tx) error { panic(boom{7}) })
		return nil
	}()
	if got != (boom{7}) {
		t.Fatalf("caller recovered %v, want boom{7}", got)
	}

	var wg sync.WaitGroup
	after := false
	wg.Go(func() {
		_ = db.inTx(context.Background(), scope{}, func(tx *Tx) error { runtime.Goexit(); return nil })
		after = true
	})
	wg.Wait()
	if after {
		t.Fatal("the caller went on after runtime.Goexit in the transaction")
	}

	n := cap(db.threads.idle)
	for i, ok := range onStoreThreads(t, db, n) {
		if !ok {
			t.Fatalf("after the panic and the Goexit, transaction %d of %d at once ran on its caller's thread", i+1, n)
		}
	}
}
