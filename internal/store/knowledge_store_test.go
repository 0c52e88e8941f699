package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// mustKnowledgeSource creates a source and ingests chunks through the real
// job path: claim, then replace.
func mustKnowledgeSource(tb testing.TB, db *store.DB, kb *store.KnowledgeBase, name string, texts ...string) store.KnowledgeSource {
	tb.Helper()
	ctx := context.Background()
	s, err := kb.CreateSource(ctx, store.NewKnowledgeSource{Kind: store.KnowledgeText, Name: name, Content: []byte("x")})
	if err != nil {
		tb.Fatalf("CreateSource: %v", err)
	}
	job := mustClaim(tb, db, s.ID)
	var chunks []store.KnowledgeChunk
	for _, t := range texts {
		chunks = append(chunks, store.KnowledgeChunk{Title: name, Text: t, Embedding: []float32{1, 0.5}})
	}
	if err := kb.ReplaceChunks(ctx, job, 1, chunks); err != nil {
		tb.Fatalf("ReplaceChunks: %v", err)
	}
	return s
}

func mustClaim(tb testing.TB, db *store.DB, sourceID string) store.KnowledgeJob {
	tb.Helper()
	job, err := db.ClaimKnowledgeJob(context.Background(), time.Now().Add(time.Minute), 3)
	if err != nil {
		tb.Fatalf("ClaimKnowledgeJob: %v", err)
	}
	if job.SourceID != sourceID {
		tb.Fatalf("claimed %s, want %s", job.SourceID, sourceID)
	}
	return job
}

func searchIDs(tb testing.TB, kb *store.KnowledgeBase, terms ...string) []string {
	tb.Helper()
	hits, err := kb.SearchText(context.Background(), terms, 10)
	if err != nil {
		tb.Fatalf("SearchText(%v): %v", terms, err)
	}
	var texts []string
	for _, h := range hits {
		texts = append(texts, h.Text)
	}
	return texts
}

func TestKnowledgeNamespaceIsolation(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		orgA, orgB := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		ta, tb := db.Tenant(orgA.ID), db.Tenant(orgB.ID)
		botA1, botA2, botB := mustChatbot(t, ta, "a1"), mustChatbot(t, ta, "a2"), mustChatbot(t, tb, "b")
		kbA1, kbA2, kbB := ta.Knowledge(botA1.ID), ta.Knowledge(botA2.ID), tb.Knowledge(botB.ID)
		mustKnowledgeSource(t, db, kbA1, "a1 doc", "orthodontics braces pricing for adults")
		mustKnowledgeSource(t, db, kbA2, "a2 doc", "zirconium crowns secret pricing of chatbot two")
		mustKnowledgeSource(t, db, kbB, "b doc", "zirconium crowns secret pricing of organization b")

		if got := searchIDs(t, kbA1, "zirconium", "crowns", "secret", "pricing"); len(got) != 1 || got[0] != "orthodontics braces pricing for adults" {
			t.Fatalf("A1 searching B's and A2's words: %v; want only its own chunk", got)
		}
		if got := searchIDs(t, kbA2, "zirconium", "organization"); len(got) != 1 || got[0] != "zirconium crowns secret pricing of chatbot two" {
			t.Fatalf("A2: %v", got)
		}
		// A handle of one tenant naming another tenant's chatbot sees nothing and writes nothing.
		cross := ta.Knowledge(botB.ID)
		if got := searchIDs(t, cross, "zirconium"); len(got) != 0 {
			t.Fatalf("tenant A naming B's chatbot found %v", got)
		}
		if _, err := cross.CreateSource(ctx, store.NewKnowledgeSource{Kind: store.KnowledgeText, Name: "x"}); porthole.ErrorCode(err) != porthole.ENOTFOUND {
			t.Fatalf("create source in another tenant's chatbot: %v", err)
		}
		if list, err := cross.Sources(ctx); err != nil || len(list) != 0 {
			t.Fatalf("sources through a cross handle: %v %v", list, err)
		}
		_, vecs, err := cross.Vectors(ctx)
		if err != nil || len(vecs) != 0 {
			t.Fatalf("vectors through a cross handle: %d %v", len(vecs), err)
		}
		bs, _ := kbB.Sources(ctx)
		if _, err := kbA1.Source(ctx, bs[0].ID); porthole.ErrorCode(err) != porthole.ENOTFOUND {
			t.Fatalf("A reads B's source: %v", err)
		}
		if err := kbA1.DeleteSource(ctx, bs[0].ID); porthole.ErrorCode(err) != porthole.ENOTFOUND {
			t.Fatalf("A deletes B's source: %v", err)
		}
		bc, _ := kbB.SourceChunks(ctx, bs[0].ID)
		if got, _ := kbA1.Chunks(ctx, []string{bc[0].ID}); len(got) != 0 {
			t.Fatalf("A reads B's chunk by id: %v", got)
		}
		if got := searchIDs(t, kbB, "zirconium"); len(got) != 1 {
			t.Fatalf("B's own search: %v", got)
		}
		// Query syntax cannot widen the search.
		if got := searchIDs(t, kbA1, `zirconium" OR ns:*`, "NEAR(", "*", `"`); len(got) != 0 {
			t.Fatalf("syntax in terms matched %v", got)
		}
	})
}

func TestKnowledgeReplaceDeleteAndJobs(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		org := mustOrg(t, db, "A")
		tn := db.Tenant(org.ID)
		bot := mustChatbot(t, tn, "bot")
		kb := tn.Knowledge(bot.ID)
		s := mustKnowledgeSource(t, db, kb, "hours", "we open at nine on mondays", "closed on sundays")
		gen0, _ := kb.Generation(ctx)

		// Re-import: old chunks stay searchable until the new ones replace them.
		if err := kb.ReimportSource(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		if got := searchIDs(t, kb, "sundays"); len(got) != 1 {
			t.Fatalf("during re-import the old chunks must stay: %v", got)
		}
		job := mustClaim(t, db, s.ID)
		if err := kb.JobProgress(ctx, job, 0, 1, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := kb.ReplaceChunks(ctx, job, 1, []store.KnowledgeChunk{{Text: "open saturdays too"}}); err != nil {
			t.Fatal(err)
		}
		if got := searchIDs(t, kb, "sundays", "mondays"); len(got) != 0 {
			t.Fatalf("old chunks still found after replace: %v", got)
		}
		if got := searchIDs(t, kb, "saturday"); len(got) != 1 {
			t.Fatalf("new chunk (stemmed query) not found: %v", got)
		}
		got, _ := kb.Source(ctx, s.ID)
		if got.Status != store.KnowledgeDone || got.ChunkCount != 1 || got.IngestedAt == nil {
			t.Fatalf("source after replace = %+v", got)
		}
		if gen1, _ := kb.Generation(ctx); gen1 <= gen0 {
			t.Fatalf("generation did not advance: %d -> %d", gen0, gen1)
		}

		// A worker that lost its job cannot write.
		if err := kb.ReimportSource(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		stale := mustClaim(t, db, s.ID)
		if err := kb.ReimportSource(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		if err := kb.ReplaceChunks(ctx, stale, 1, []store.KnowledgeChunk{{Text: "stale"}}); porthole.ErrorCode(err) != porthole.ECONFLICT {
			t.Fatalf("stale replace: %v; want ECONFLICT", err)
		}
		fresh := mustClaim(t, db, s.ID)
		if err := kb.FailJob(ctx, fresh, "boom"); err != nil {
			t.Fatal(err)
		}
		if got, _ := kb.Source(ctx, s.ID); got.Status != store.KnowledgeFailed || got.Error != "boom" {
			t.Fatalf("failed source = %+v", got)
		}
		if _, err := db.ClaimKnowledgeJob(ctx, time.Now().Add(time.Minute), 3); porthole.ErrorCode(err) != porthole.ENOTFOUND {
			t.Fatalf("claim with nothing pending: %v", err)
		}

		// Delete removes from search at once.
		if got := searchIDs(t, kb, "saturday"); len(got) != 1 {
			t.Fatalf("before delete: %v", got)
		}
		if err := kb.DeleteSource(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		if got := searchIDs(t, kb, "saturday"); len(got) != 0 {
			t.Fatalf("after delete: %v", got)
		}
		if _, vecs, _ := kb.Vectors(ctx); len(vecs) != 0 {
			t.Fatalf("vectors after delete: %d", len(vecs))
		}

		// Deleting the chatbot removes its whole namespace, full-text index included.
		mustKnowledgeSource(t, db, kb, "again", "implants and bridges")
		if err := tn.DeleteChatbot(ctx, bot.ID); err != nil {
			t.Fatal(err)
		}
		if got := searchIDs(t, kb, "implants"); len(got) != 0 {
			t.Fatalf("after chatbot delete: %v", got)
		}
		if db.Dialect() == store.SQLite {
			n, err := tn.TenantRawStrings(ctx, `SELECT count(*) FROM knowledge_fts`)
			if err != nil || !slices.Equal(n, []string{"0"}) {
				t.Fatalf("fts rows left: %v %v", n, err)
			}
		}
	})
}

func TestKnowledgeLeaseExpiry(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		org := mustOrg(t, db, "A")
		tn := db.Tenant(org.ID)
		kb := tn.Knowledge(mustChatbot(t, tn, "bot").ID)
		s, err := kb.CreateSource(ctx, store.NewKnowledgeSource{Kind: store.KnowledgeURL, Name: "u", URL: "https://example.com/"})
		if err != nil {
			t.Fatal(err)
		}
		// Two claims whose leases run out, then the third attempt fails the job.
		for i := 1; i <= 2; i++ {
			job, err := db.ClaimKnowledgeJob(ctx, time.Now().Add(-time.Second), 2)
			if err != nil || job.SourceID != s.ID || job.Attempts != i {
				t.Fatalf("claim %d: %+v %v", i, job, err)
			}
		}
		if _, err := db.ClaimKnowledgeJob(ctx, time.Now().Add(time.Minute), 2); porthole.ErrorCode(err) != porthole.ENOTFOUND {
			t.Fatalf("claim after max attempts: %v", err)
		}
		if got, _ := kb.Source(ctx, s.ID); got.Status != store.KnowledgeFailed {
			t.Fatalf("status = %s; want failed", got.Status)
		}
	})
}

func TestVectorEncoding(t *testing.T) {
	v := []float32{0, 1, -1.5, 3.25e-7}
	if got := store.DecodeVector(store.EncodeVector(v)); !slices.Equal(got, v) {
		t.Fatalf("round trip = %v", got)
	}
}
