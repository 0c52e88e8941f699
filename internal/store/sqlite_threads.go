package store

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// sqliteThreads runs SQLite transactions on goroutines locked to threads
// of their own, so that a transaction's CPU work (SQLite is Go code here:
// a chat turn's reads and writes take about a millisecond) never holds
// the scheduler slot (P) of the goroutine that asked for it.
//
// Run on the caller's goroutine, a transaction keeps its P while the
// goroutines queued behind it on that P wait: under a thousand streaming
// replies those are sockets' writers and turns reading their providers,
// so every turn's start and end held up tokens (docs/benchmarks.md,
// "Eleventh session"). Handed to a store thread, the caller parks at once
// and its P goes on with its queue, while the store thread works on a P
// of its own; serve gives the runtime one P more than it has CPUs for
// that (cmd/porthole, serveProcs).
//
// There are as many threads as the runtime has Ps, at least two (so one
// long transaction does not hold up the rest) and at most the pool's
// connections. A transaction waits for a free thread; a transaction's
// function must therefore not begin another transaction (none does:
// every test passes with a single thread, but for the one that holds a
// write open while it reads elsewhere).
type sqliteThreads struct {
	jobs chan *sqliteJob // one slot per thread
	idle chan struct{}   // a token per thread free for a job
	quit chan struct{}
	once sync.Once
}

type sqliteJob struct {
	fn    func() error
	err   error
	panic any  // what fn panicked with, for the caller to panic with
	exit  bool // fn called runtime.Goexit
	done  chan struct{}
}

func newSQLiteThreads(n int) *sqliteThreads {
	t := &sqliteThreads{jobs: make(chan *sqliteJob, n), idle: make(chan struct{}, n), quit: make(chan struct{})}
	for range n {
		t.idle <- struct{}{}
		go t.serve()
	}
	return t
}

// stop waits for the jobs in progress and ends the threads; transactions
// after it run on their callers' goroutines.
func (t *sqliteThreads) stop() {
	t.once.Do(func() {
		for range cap(t.idle) {
			<-t.idle
		}
		close(t.quit)
	})
}

// serve runs jobs on its thread until stop. The thread is never unlocked,
// so it runs nothing else, and it ends with the goroutine.
func (t *sqliteThreads) serve() {
	runtime.LockOSThread()
	for {
		select {
		case j := <-t.jobs:
			t.runJob(j)
		case <-t.quit:
			return
		}
	}
}

func (t *sqliteThreads) runJob(j *sqliteJob) {
	returned := false
	defer func() {
		if !returned {
			if j.panic = recover(); j.panic == nil {
				// runtime.Goexit: this goroutine ends, and its thread with
				// it; another takes its place.
				j.exit = true
				go t.serve()
			}
		}
		t.idle <- struct{}{}
		close(j.done)
	}()
	j.err = j.fn()
	returned = true
}

// run runs fn on a store thread, waiting for one to be free, and returns
// its error. A panic in fn panics the caller with the same value; a
// runtime.Goexit in fn ends the caller's goroutine. After stop, fn runs on
// the caller's goroutine.
func (t *sqliteThreads) run(ctx context.Context, fn func() error) error {
	select {
	case <-t.idle:
	case <-t.quit:
		return fn()
	case <-ctx.Done():
		return fmt.Errorf("store: unable to begin a transaction: %w", ctx.Err())
	}
	j := &sqliteJob{fn: fn, done: make(chan struct{})}
	t.jobs <- j // never blocks: a slot per thread, and this one is reserved
	<-j.done
	switch {
	case j.panic != nil:
		panic(j.panic)
	case j.exit:
		runtime.Goexit()
	}
	return j.err
}
