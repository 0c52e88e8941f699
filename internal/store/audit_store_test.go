package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

func mustSigningKey(tb testing.TB) *audit.SigningKey {
	tb.Helper()
	k, err := audit.LoadOrCreateSigningKey(filepath.Join(tb.TempDir(), "audit-signing.key"))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// mustExport exports orgID's whole log and returns the bundle.
func mustExport(tb testing.TB, db *store.DB, cp *audit.Checkpointer, orgID string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := audit.Export(context.Background(), db.Audit(), cp, audit.ExportRequest{OrgID: orgID}, &buf); err != nil {
		tb.Fatalf("Export: %v", err)
	}
	return buf.Bytes()
}

func mustRunLog(tb testing.TB, db *store.DB) *audit.Log {
	tb.Helper()
	l := audit.NewLog(db.Audit(), audit.LogOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	return l
}

// TestAuditChangesRecordedInTheirTransaction: every change of the foundation
// store appends an entry in the same transaction, attributed to the actor in
// the context; a change that fails records nothing; the exported log verifies.
func TestAuditChangesRecordedInTheirTransaction(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorAPIKey, ID: "key-1"}, "POST /api/v1/chatbots")
		org := mustOrg(t, db, "A")
		tn := db.Tenant(org.ID)
		bot, err := tn.CreateChatbot(ctx, "Front desk")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tn.AddOrigin(ctx, "https://a.example"); err != nil {
			t.Fatal(err)
		}
		_, err = tn.AddOrigin(ctx, "https://a.example") // conflict: nothing recorded
		wantCode(t, err, porthole.ECONFLICT)
		wantCode(t, tn.DeleteChatbot(ctx, porthole.NewID()), porthole.ENOTFOUND)
		db.InsertSecurityEvent(ctx, porthole.SecurityEvent{OrgID: org.ID, Kind: porthole.SecAuthorizationFailed, Detail: "line1\nline2 {\"type\":\"entry\"}"})

		entries, err := tn.AuditEntries(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for i := len(entries) - 1; i >= 0; i-- {
			actions = append(actions, entries[i].Action)
		}
		want := "organization.create chatbot.create origin.add security.authorization_failed"
		if got := strings.Join(actions, " "); got != want {
			t.Fatalf("actions = %q, want %q", got, want)
		}
		create := entries[len(entries)-2]
		if create.Actor.Kind != audit.ActorAPIKey || create.Actor.ID != "key-1" || create.Target != "chatbot:"+bot.ID ||
			create.Reason != "POST /api/v1/chatbots" || !strings.Contains(string(create.Payload), "Front desk") {
			t.Fatalf("chatbot.create entry = %+v", create)
		}
		if other := mustOrg(t, db, "B"); other.ID != "" {
			if list, _ := db.Tenant(other.ID).AuditEntries(ctx, 100); len(list) != 1 {
				t.Fatalf("tenant B sees %d entries; want only its own creation", len(list))
			}
		}

		cp := audit.NewCheckpointer(db.Audit(), mustSigningKey(t), audit.CheckpointPolicy{})
		bundle := mustExport(t, db, cp, org.ID)
		if n := bytes.Count(bundle, []byte("\n")); n < 5 {
			t.Fatalf("bundle has %d lines", n)
		}
		rep, err := audit.Verify(bytes.NewReader(bundle), audit.VerifyOptions{PinnedKey: cp.VerifierKey()})
		if err != nil || rep.Entries != 4 {
			t.Fatalf("Verify = %+v, %v", rep, err)
		}
	})
}

// TestAuditTamperingInTheDatabaseIsDetected edits a stored entry behind the
// store's back (as an attacker with database access would) and checks that
// the next export fails verification naming that entry; then purges payloads
// and checks that the log still verifies without them.
func TestAuditTamperingInTheDatabaseIsDetected(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		org := mustOrg(t, db, "A")
		l := mustRunLog(t, db)
		for i := 0; i < 20; i++ {
			if _, err := l.Append(ctx, audit.Entry{OrgID: org.ID, Actor: audit.Actor{Kind: audit.ActorUser, ID: "u"},
				Action: audit.ActionAgentReply, Target: fmt.Sprintf("conversation:%d", i), Payload: audit.Payload(map[string]int{"n": i})}); err != nil {
				t.Fatal(err)
			}
		}
		key := mustSigningKey(t)
		cp := audit.NewCheckpointer(db.Audit(), key, audit.CheckpointPolicy{})
		if _, err := audit.Verify(bytes.NewReader(mustExport(t, db, cp, org.ID)), audit.VerifyOptions{PinnedKey: key.VerifierKey}); err != nil {
			t.Fatalf("untouched log: %v", err)
		}

		purged, err := db.Audit().PurgePayloads(ctx, org.ID, time.Now().Add(time.Hour))
		if err != nil || purged != 21 {
			t.Fatalf("PurgePayloads = %d, %v", purged, err)
		}
		bundle := mustExport(t, db, cp, org.ID)
		if bytes.Contains(bundle, []byte(`"n":7`)) {
			t.Fatal("a purged payload is still exported")
		}
		rep, err := audit.Verify(bytes.NewReader(bundle), audit.VerifyOptions{PinnedKey: key.VerifierKey})
		if err != nil || rep.Purged < 21 {
			t.Fatalf("after purge Verify = %+v, %v", rep, err)
		}

		// The attacker rewrites entry 7's target directly in the database.
		if err := db.Tenant(org.ID).TenantRawExec(ctx, `UPDATE audit_entries SET target = 'conversation:forged' WHERE org_id = ? AND seq = 8`, org.ID); err != nil {
			t.Fatal(err)
		}
		_, err = audit.Verify(bytes.NewReader(mustExport(t, db, cp, org.ID)), audit.VerifyOptions{PinnedKey: key.VerifierKey})
		var ve *audit.VerifyError
		if !errors.As(err, &ve) || ve.Seq != 8 {
			t.Fatalf("Verify after tampering = %v; want a VerifyError naming entry 8", err)
		}
	})
}

func TestAuditConcurrentWritersKeepOneLog(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		org := mustOrg(t, db, "A")
		l := mustRunLog(t, db)
		tn := db.Tenant(org.ID)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(2)
			go func() { // the batching writer
				defer wg.Done()
				for i := 0; i < 25; i++ {
					if _, err := l.Append(ctx, audit.Entry{OrgID: org.ID, Actor: audit.Actor{Kind: audit.ActorSystem}, Action: "test.append"}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			go func() { // changes recorded in their own transactions
				defer wg.Done()
				for i := 0; i < 5; i++ {
					if _, err := tn.CreateChatbot(ctx, "bot"); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		size, _, err := db.Audit().TreeSize(ctx, org.ID)
		if err != nil || size != 1+100+20 {
			t.Fatalf("TreeSize = %d, %v; want 121", size, err)
		}
		cp := audit.NewCheckpointer(db.Audit(), mustSigningKey(t), audit.CheckpointPolicy{})
		if _, err := audit.Verify(bytes.NewReader(mustExport(t, db, cp, org.ID)), audit.VerifyOptions{}); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})
}

// TestAuditLargeBatchInOneTransaction: a transaction that records more
// entries than one INSERT holds (a turn's end with 40 decisions, after a
// log of 7 entries, so the hashes start mid-tree) stores them all in order,
// and the exported log verifies.
func TestAuditLargeBatchInOneTransaction(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		org := mustOrg(t, db, "A")
		tn := db.Tenant(org.ID)
		bot := mustChatbot(t, tn, "bot")
		_, conv := mustConversation(t, tn, bot.ID)
		for i := range 5 {
			if _, err := tn.CreateChatbot(ctx, fmt.Sprint("bot", i)); err != nil {
				t.Fatal(err)
			}
		}
		before, _, err := db.Audit().TreeSize(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		var decisions []audit.Entry
		for i := range 40 {
			decisions = append(decisions, audit.Entry{Actor: audit.Actor{Kind: audit.ActorAssistant, ID: bot.ID},
				Action: audit.ActionToolCall, Target: fmt.Sprint("tool:t", i), Reason: "large batch"})
		}
		if _, err := tn.EndTurn(ctx, conv.ID, store.TurnEnd{Decisions: decisions}); err != nil {
			t.Fatal(err)
		}
		size, _, err := db.Audit().TreeSize(ctx, org.ID)
		if err != nil || size != before+40 {
			t.Fatalf("TreeSize = %d, %v; want %d", size, err, before+40)
		}
		entries, err := tn.AuditEntries(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range entries[:40] { // newest first
			if want := fmt.Sprint("tool:t", 39-i); e.Target != want || e.Seq != size-1-int64(i) {
				t.Fatalf("entry %d: seq %d target %q, want seq %d target %q", i, e.Seq, e.Target, size-1-int64(i), want)
			}
		}
		cp := audit.NewCheckpointer(db.Audit(), mustSigningKey(t), audit.CheckpointPolicy{})
		rep, err := audit.Verify(bytes.NewReader(mustExport(t, db, cp, org.ID)), audit.VerifyOptions{PinnedKey: cp.VerifierKey()})
		if err != nil || rep.Entries != size {
			t.Fatalf("Verify: %d entries, %v; want %d", rep.Entries, err, size)
		}
	})
}
