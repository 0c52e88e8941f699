package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// benchmarkAuditAppend measures sustained appends through the batching
// writer into a real database: auditBenchCallers callers (a busy server's
// concurrent requests) append one entry each, in a loop,
// to 4 organizations' logs; every Append returns only after its commit.
func benchmarkAuditAppend(b *testing.B, db *store.DB) {
	ctx := context.Background()
	var orgs []string
	for i := 0; i < 4; i++ {
		orgs = append(orgs, mustOrg(b, db, "bench").ID)
	}
	l := audit.NewLog(db.Audit(), audit.LogOptions{})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	payload := audit.Payload(map[string]any{"message_id": "0197a3c2-0000-7000-8000-000000000001", "tokens": 42})
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < auditBenchCallers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				_, err := l.Append(ctx, audit.Entry{OrgID: orgs[w%len(orgs)], Actor: audit.Actor{Kind: audit.ActorAssistant, ID: "bot"},
					ConversationID: "0197a3c2-0000-7000-8000-00000000000a", Action: audit.ActionToolCall, Target: "tool:search",
					Reason: "visitor asked about prices", Payload: payload})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
}

func BenchmarkAuditAppendSQLite(b *testing.B) {
	benchmarkAuditAppend(b, storetest.MustOpenSQLite(b))
}

func BenchmarkAuditAppendPostgres(b *testing.B) {
	benchmarkAuditAppend(b, storetest.MustOpenPostgres(b))
}

// auditBenchCallers is how many goroutines append at once.
const auditBenchCallers = 512
