package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// TestRowLevelSecurity proves the second wall on PostgreSQL: queries that
// forgot their tenant filter, run as the server's role, see only the bound
// tenant's rows, and nothing when no tenant is bound.
func TestRowLevelSecurity(t *testing.T) {
	db := storetest.MustOpenPostgres(t)
	ctx := context.Background()
	a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
	ta, tb := db.Tenant(a.ID), db.Tenant(b.ID)
	mustChatbot(t, ta, "a-bot")
	mustChatbot(t, tb, "b-bot")
	if _, err := ta.AddOrigin(ctx, "https://a.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.AddOrigin(ctx, "https://b.example"); err != nil {
		t.Fatal(err)
	}

	role, err := ta.TenantRawStrings(ctx, `SELECT current_user::text`)
	if err != nil || len(role) != 1 || role[0] != store.AppRole {
		t.Fatalf("queries run as %v (%v), want %s", role, err, store.AppRole)
	}
	bypass, err := ta.TenantRawStrings(ctx, `SELECT (rolsuper OR rolbypassrls)::text FROM pg_roles WHERE rolname = current_user`)
	if err != nil || len(bypass) != 1 || bypass[0] != "false" {
		t.Fatalf("app role bypasses RLS? %v %v", bypass, err)
	}

	tables, err := ta.TenantRawStrings(ctx, `SELECT c.relname::text FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND a.attname = 'org_id' ORDER BY 1`)
	if err != nil || len(tables) < 5 {
		t.Fatalf("tenant tables = %v, %v", tables, err)
	}
	tables = append(tables, "organizations")
	for _, table := range tables {
		owner, err := ta.TenantRawStrings(ctx, `SELECT tableowner::text FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?`, table)
		if err != nil || len(owner) != 1 || owner[0] == store.AppRole {
			t.Fatalf("owner of %s = %v, %v; the app role must not own it", table, owner, err)
		}
		rls, err := ta.TenantRawStrings(ctx, `SELECT relrowsecurity::text FROM pg_class WHERE oid = (current_schema() || '.' || ?)::regclass`, table)
		if err != nil || len(rls) != 1 || rls[0] != "true" {
			t.Fatalf("row-level security on %s = %v, %v", table, rls, err)
		}
	}

	tests := []struct {
		name  string
		query string
		a, b  []string
	}{
		{"chatbots without filter", `SELECT name FROM chatbots ORDER BY name`, []string{"a-bot"}, []string{"b-bot"}},
		{"origins without filter", `SELECT origin FROM allowed_origins ORDER BY origin`, []string{"https://a.example", "https://www.a.example"}, []string{"https://b.example", "https://www.b.example"}},
		{"organizations without filter", `SELECT name FROM organizations`, []string{"A"}, []string{"B"}},
		{"settings without filter", `SELECT org_id FROM org_settings`, []string{a.ID}, []string{b.ID}},
		{"explicit other tenant filter", `SELECT name FROM chatbots WHERE org_id = '` + b.ID + `'`, nil, []string{"b-bot"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ta.TenantRawStrings(ctx, tt.query)
			if err != nil || !slices.Equal(got, tt.a) {
				t.Fatalf("as A: %v, %v; want %v", got, err, tt.a)
			}
			if tt.name != "explicit other tenant filter" {
				got, err = tb.TenantRawStrings(ctx, tt.query)
				if err != nil || !slices.Equal(got, tt.b) {
					t.Fatalf("as B: %v, %v; want %v", got, err, tt.b)
				}
			}
			got, err = db.UnboundRawStrings(ctx, tt.query)
			if err != nil || len(got) != 0 {
				t.Fatalf("unbound: %v, %v; want nothing", got, err)
			}
		})
	}

	// Writing a row for another tenant is refused by the policy's check.
	err = ta.TenantRawExec(ctx, `INSERT INTO chatbots (id, org_id, name, created_at, updated_at) VALUES (?, ?, 'planted', 0, 0)`, porthole.NewID(), b.ID)
	if err == nil {
		t.Fatal("tenant A planted a chatbot in tenant B")
	}
	if got, _ := tb.TenantRawStrings(ctx, `SELECT name FROM chatbots WHERE name = 'planted'`); len(got) != 0 {
		t.Fatalf("planted row visible to B: %v", got)
	}
	// Updating or deleting another tenant's rows touches nothing.
	if err := ta.TenantRawExec(ctx, `UPDATE chatbots SET name = 'hijacked'`); err != nil {
		t.Fatal(err)
	}
	if err := ta.TenantRawExec(ctx, `DELETE FROM allowed_origins`); err != nil {
		t.Fatal(err)
	}
	if got, _ := tb.TenantRawStrings(ctx, `SELECT name FROM chatbots`); !slices.Equal(got, []string{"b-bot"}) {
		t.Fatalf("B's chatbots after A's blanket update = %v", got)
	}
	if got, _ := tb.TenantRawStrings(ctx, `SELECT origin FROM allowed_origins`); len(got) != 2 {
		t.Fatalf("B's origins after A's blanket delete = %v", got)
	}
}

// TestReadsDoNotWaitForWriters: a tenant's read methods run in read-only
// transactions, so on SQLite (WAL) a reader is not queued behind an open
// write transaction, and on PostgreSQL a write slipped into one fails.
func TestReadsDoNotWaitForWriters(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		org := mustOrg(t, db, "Readers")
		tn := db.Tenant(org.ID)
		held, release := make(chan struct{}), make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- tn.HoldWriteTx(ctx, held, release) }()
		<-held
		// Without read-only transactions this read would wait in
		// busy_timeout (10 s) for the writer; the deadline only bounds a
		// failing run.
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		got, err := tn.Organization(rctx)
		cancel()
		close(release)
		if err != nil {
			t.Fatalf("read while a write transaction is open: %v", err)
		}
		if got.ID != org.ID {
			t.Fatalf("read organization %s, want %s", got.ID, org.ID)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if db.Dialect() == store.Postgres {
			err := tn.TenantReadExec(ctx, `UPDATE organizations SET name = 'changed' WHERE id = ?`, org.ID)
			if err == nil {
				t.Fatal("a write inside a read-only transaction succeeded on PostgreSQL")
			}
		}
	})
}

// TestWritersQueue: on SQLite, write transactions of this process wait
// their turn in the store rather than polling SQLite's lock; a writer whose
// context ends while it waits gives up with the context's error, and the
// queue moves on after failed and successful transactions alike.
func TestWritersQueue(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		org := mustOrg(t, db, "Writers")
		tn := db.Tenant(org.ID)
		held, release := make(chan struct{}), make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- tn.HoldWriteTx(ctx, held, release) }()
		<-held
		if db.Dialect() == store.SQLite {
			wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			_, err := tn.AddOrigin(wctx, "https://waited.example")
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("a writer behind an open write transaction: %v, want the context's deadline", err)
			}
		}
		// Writers queued behind the open transaction all get their turn.
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for i := range 10 {
			wg.Go(func() {
				_, err := tn.AddOrigin(ctx, fmt.Sprintf("https://w%d.example", i))
				errs <- err
			})
		}
		time.Sleep(50 * time.Millisecond) // let them queue
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// A failed write transaction frees the queue too.
		if _, err := tn.AddOrigin(ctx, "not an origin"); err == nil {
			t.Fatal("an invalid origin was added")
		}
		origins, err := tn.Origins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tn.AddOrigin(ctx, "https://after.example"); err != nil {
			t.Fatal(err)
		}
		if len(origins) != 20 { // each site and its www companion
			t.Fatalf("%d origins, want 20", len(origins))
		}
	})
}
