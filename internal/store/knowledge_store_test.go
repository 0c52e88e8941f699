package store_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
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

// mustNamespace creates an organization with one chatbot and returns the
// tenant, the chatbot's id and the chatbot's knowledge namespace.
func mustNamespace(tb testing.TB, db *store.DB) (*store.Tenant, string, *store.KnowledgeBase) {
	tb.Helper()
	tn := db.Tenant(mustOrg(tb, db, "A").ID)
	bot := mustChatbot(tb, tn, "bot")
	return tn, bot.ID, tn.Knowledge(bot.ID)
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
		tn, botID, kb := mustNamespace(t, db)
		s := mustKnowledgeSource(t, db, kb, "hours", "we open at nine on mondays", "closed on sundays")
		gen0, _ := kb.Generation(ctx)
		other := mustKnowledgeSource(t, db, kb, "late", "open on holidays")
		wantLexemes(t, db, tn, botID, 3, "close:1 holiday:1 hour:2 late:1 monday:1 nine:1 open:2 sunday:1")

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
		wantLexemes(t, db, tn, botID, 2, "holiday:1 late:1 open:2 saturday:1")
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
		wantLexemes(t, db, tn, botID, 1, "holiday:1 late:1 open:1")
		if err := kb.DeleteSource(ctx, other.ID); err != nil {
			t.Fatal(err)
		}
		wantLexemes(t, db, tn, botID, 0, "")
		if err := kb.DeleteSource(ctx, other.ID); porthole.ErrorCode(err) != porthole.ENOTFOUND {
			t.Fatalf("deleting a deleted source: %v", err)
		}
		if _, vecs, _ := kb.Vectors(ctx); len(vecs) != 0 {
			t.Fatalf("vectors after delete: %d", len(vecs))
		}

		// Deleting the chatbot removes its whole namespace, full-text index included.
		mustKnowledgeSource(t, db, kb, "again", "implants and bridges")
		if err := tn.DeleteChatbot(ctx, botID); err != nil {
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
		} else {
			n, err := tn.TenantRawStrings(ctx, `SELECT count(*) FROM knowledge_lexemes`)
			if err != nil || !slices.Equal(n, []string{"0"}) {
				t.Fatalf("lexeme counts left: %v %v", n, err)
			}
		}
	})
}

// TestKnowledgeMatchingStaysInTenant: the function that finds a large
// namespace's matches through the GIN index runs as the tables' owner,
// outside row-level security; it must apply the tenant filter itself.
func TestKnowledgeMatchingStaysInTenant(t *testing.T) {
	db := storetest.MustOpenPostgres(t)
	ctx := context.Background()
	orgA, orgB := mustOrg(t, db, "A"), mustOrg(t, db, "B")
	ta, tb := db.Tenant(orgA.ID), db.Tenant(orgB.ID)
	botA, botB := mustChatbot(t, ta, "a"), mustChatbot(t, tb, "b")
	mustKnowledgeSource(t, db, ta.Knowledge(botA.ID), "a doc", "zirconium crowns")
	mustKnowledgeSource(t, db, tb.Knowledge(botB.ID), "b doc", "zirconium crowns")
	const q = `SELECT count(*) FROM knowledge_chunks_matching(?, 'zirconium', 100)`
	tests := []struct {
		name string
		run  func() ([]string, error)
		want string
	}{
		{"own chatbot", func() ([]string, error) { return ta.TenantRawStrings(ctx, q, botA.ID) }, "1"},
		{"other tenant's chatbot", func() ([]string, error) { return ta.TenantRawStrings(ctx, q, botB.ID) }, "0"},
		{"no tenant bound", func() ([]string, error) { return db.UnboundRawStrings(ctx, q, botA.ID) }, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.run()
			if err != nil || !slices.Equal(got, []string{tt.want}) {
				t.Fatalf("matches = %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// wantLexemes checks, on PostgreSQL, the namespace's document frequencies
// ("lexeme:chunks" in lexeme order) and chunk count against want, and
// against a count made afresh from the chunks themselves.
func wantLexemes(tb testing.TB, db *store.DB, tn *store.Tenant, chatbotID string, chunks int, want string) {
	tb.Helper()
	if db.Dialect() != store.Postgres {
		return
	}
	ctx := context.Background()
	got, err := tn.TenantRawStrings(ctx, `SELECT lexeme || ':' || chunks FROM knowledge_lexemes WHERE chatbot_id = ? ORDER BY lexeme`, chatbotID)
	if err != nil {
		tb.Fatal(err)
	}
	fresh, err := tn.TenantRawStrings(ctx, `SELECT u.lexeme || ':' || count(*) FROM knowledge_chunks c, unnest(c.tsv) u
		WHERE c.chatbot_id = ? GROUP BY u.lexeme ORDER BY u.lexeme`, chatbotID)
	if err != nil {
		tb.Fatal(err)
	}
	if strings.Join(got, " ") != want || !slices.Equal(got, fresh) {
		tb.Fatalf("lexeme counts = %q; want %q (counted afresh: %q)", strings.Join(got, " "), want, strings.Join(fresh, " "))
	}
	n, err := tn.TenantRawStrings(ctx, `SELECT COALESCE((SELECT chunk_count FROM knowledge_namespaces WHERE chatbot_id = ?), 0)::text`, chatbotID)
	if err != nil || !slices.Equal(n, []string{strconv.Itoa(chunks)}) {
		tb.Fatalf("chunk count = %v, %v; want %d", n, err, chunks)
	}
}

// TestKnowledgeSearchRanksRareTerms: a passage with the query's rare word
// ranks above passages that only have its common word, however often.
func TestKnowledgeSearchRanksRareTerms(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		_, _, kb := mustNamespace(t, db)
		var common []string
		for i := range 30 {
			common = append(common, fmt.Sprintf("book an appointment online; appointment number %d", i))
		}
		mustKnowledgeSource(t, db, kb, "appointments", common...)
		mustKnowledgeSource(t, db, kb, "payment", "spread the cost with interest-free financing")
		got := searchIDs(t, kb, "appointment", "financing")
		if len(got) != 10 || got[0] != "spread the cost with interest-free financing" {
			t.Fatalf("search = %q; want the financing passage first, then nine others", got)
		}
	})
}

// TestKnowledgeSearchCommonWords searches a namespace in which one word is
// in more passages than a PostgreSQL search ranks at once (2,000): a rare
// word's passages still come first, and a query of common words still
// finds passages, those with all of its words first.
func TestKnowledgeSearchCommonWords(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		tn, botID, kb := mustNamespace(t, db)
		var texts []string
		for i := range 2500 {
			text := fmt.Sprintf("clinic appointment note %d", i)
			if i%500 == 7 {
				text += " with parking"
			}
			texts = append(texts, text)
		}
		mustKnowledgeSource(t, db, kb, "notes", texts...)
		rare := mustKnowledgeSource(t, db, kb, "rare", "appointment financing plan", "financing for braces")

		tests := []struct {
			name     string
			terms    []string
			wantHits int
			wantTop  []string // the first hits, in order
			wantAll  string   // a word every hit has
		}{
			{"rare and common", []string{"appointment", "financing"}, 10,
				[]string{"appointment financing plan", "financing for braces"}, ""},
			{"only common", []string{"clinic"}, 10, nil, "clinic"},
			{"common and less common", []string{"appointment", "parking"}, 10,
				[]string{"clinic appointment note 7 with parking", "clinic appointment note 507 with parking"}, ""},
			{"two common", []string{"clinic", "appointment"}, 10, nil, "clinic appointment"},
			{"absent word only", []string{"zebra"}, 0, nil, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := searchIDs(t, kb, tt.terms...)
				if len(got) != tt.wantHits {
					t.Fatalf("%d hits %q; want %d", len(got), got, tt.wantHits)
				}
				for i, want := range tt.wantTop {
					if !slices.Contains(got[:len(tt.wantTop)], want) {
						t.Fatalf("hits %q; want %q among the first %d (%d)", got, want, len(tt.wantTop), i)
					}
				}
				for _, h := range got {
					if !strings.Contains(h, tt.wantAll) {
						t.Fatalf("hit %q lacks %q", h, tt.wantAll)
					}
				}
			})
		}
		wantLexemeTotal(t, db, tn, botID, 2502)
		if err := kb.DeleteSource(context.Background(), rare.ID); err != nil {
			t.Fatal(err)
		}
		if got := searchIDs(t, kb, "financing"); len(got) != 0 {
			t.Fatalf("after delete: %q", got)
		}
		wantLexemeTotal(t, db, tn, botID, 2500)
	})
}

// wantLexemeTotal is wantLexemes for a namespace too big to spell out: the
// counts must equal a count made afresh.
func wantLexemeTotal(tb testing.TB, db *store.DB, tn *store.Tenant, chatbotID string, chunks int) {
	tb.Helper()
	if db.Dialect() != store.Postgres {
		return
	}
	got, err := tn.TenantRawStrings(context.Background(), `SELECT string_agg(lexeme || ':' || chunks, ' ' ORDER BY lexeme) FROM knowledge_lexemes WHERE chatbot_id = ?`, chatbotID)
	if err != nil || len(got) != 1 {
		tb.Fatalf("lexeme counts: %v %v", got, err)
	}
	wantLexemes(tb, db, tn, chatbotID, chunks, got[0])
}

// TestKnowledgeConcurrentWritesKeepCounts replaces and deletes sources of
// one namespace concurrently: no write fails (no deadlock between the
// writers of the lexeme counts) and the counts stay exact.
func TestKnowledgeConcurrentWritesKeepCounts(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tn, botID, kb := mustNamespace(t, db)
		words := []string{"crowns", "bridges", "implants", "braces", "fillings", "whitening", "cleaning", "veneers"}
		texts := func(i int) []store.KnowledgeChunk {
			var cs []store.KnowledgeChunk
			for j := range 20 {
				cs = append(cs, store.KnowledgeChunk{Title: words[i%len(words)],
					Text: fmt.Sprintf("%s %s %s visit %d", words[(i+j)%len(words)], words[(i+2*j)%len(words)], words[j%len(words)], i*100+j)})
			}
			return cs
		}
		var jobs []store.KnowledgeJob
		for i := range 6 {
			s, err := kb.CreateSource(ctx, store.NewKnowledgeSource{Kind: store.KnowledgeText, Name: fmt.Sprintf("s%d", i), Content: []byte("x")})
			if err != nil {
				t.Fatal(err)
			}
			jobs = append(jobs, mustClaim(t, db, s.ID))
		}
		runAll := func(fns ...func() error) {
			t.Helper()
			errs := make(chan error, len(fns))
			for _, fn := range fns {
				go func() { errs <- fn() }()
			}
			for range fns {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		}
		var fns []func() error
		for i, job := range jobs {
			fns = append(fns, func() error { return kb.ReplaceChunks(ctx, job, 1, texts(i)) })
		}
		runAll(fns...)
		wantLexemeTotal(t, db, tn, botID, 120)

		// Re-import the first three while the last three are deleted.
		fns = nil
		for i, job := range jobs[:3] {
			if err := kb.ReimportSource(ctx, job.SourceID); err != nil {
				t.Fatal(err)
			}
			again := mustClaim(t, db, job.SourceID)
			fns = append(fns, func() error { return kb.ReplaceChunks(ctx, again, 1, texts(i + 3)[:10]) })
		}
		for _, job := range jobs[3:] {
			fns = append(fns, func() error { return kb.DeleteSource(ctx, job.SourceID) })
		}
		runAll(fns...)
		wantLexemeTotal(t, db, tn, botID, 30)
	})
}

func TestKnowledgeLeaseExpiry(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		_, _, kb := mustNamespace(t, db)
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

// TestCompactTextIndex: SQLite's full-text index, one segment per ingested
// source, is merged into one, and searches find and rank the same passages
// as before. On PostgreSQL it is a no-op.
func TestCompactTextIndex(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		_, _, kb := mustNamespace(t, db)
		_, _, other := mustNamespace(t, db)
		var sources []store.KnowledgeSource
		for i := range 5 {
			sources = append(sources, mustKnowledgeSource(t, db, kb, fmt.Sprint("source ", i), fmt.Sprintf("opening hours of clinic %d: monday to friday", i),
				fmt.Sprintf("parking garage %d is free for patients", i)))
		}
		mustKnowledgeSource(t, db, other, "other", "opening hours of another business")
		before := searchIDs(t, kb, "opening", "parking", "3")
		segments := func() string {
			if db.Dialect() != store.SQLite {
				return ""
			}
			n, err := db.UnboundRawStrings(ctx, `SELECT count(DISTINCT segid) FROM knowledge_fts_idx`)
			if err != nil {
				t.Fatal(err)
			}
			return n[0]
		}
		if db.Dialect() == store.SQLite && segments() == "1" {
			t.Fatal("six ingestions left one segment: the test would not see a merge")
		}
		steps, err := db.CompactTextIndex(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if db.Dialect() == store.SQLite && (steps == 0 || segments() != "1") {
			t.Fatalf("after %d steps: %s segments, want 1", steps, segments())
		}
		if db.Dialect() == store.Postgres && steps != 0 {
			t.Fatalf("PostgreSQL compaction took %d steps", steps)
		}
		if after := searchIDs(t, kb, "opening", "parking", "3"); !slices.Equal(after, before) || len(after) != 10 {
			t.Fatalf("search after compaction = %q, before %q", after, before)
		}
		if steps, err := db.CompactTextIndex(ctx); err != nil || steps != 0 {
			t.Fatalf("compacting a compacted index: %d steps, %v", steps, err)
		}
		// The other namespace still finds only its own; a source deleted
		// after compaction is gone from search at once.
		if got := searchIDs(t, other, "opening"); len(got) != 1 || got[0] != "opening hours of another business" {
			t.Fatalf("other namespace finds %q", got)
		}
		if err := kb.DeleteSource(ctx, sources[3].ID); err != nil {
			t.Fatal(err)
		}
		for _, text := range searchIDs(t, kb, "opening", "parking", "3") {
			if strings.Contains(text, " 3") {
				t.Fatalf("a deleted source's passage is still found: %q", text)
			}
		}
	})
}
