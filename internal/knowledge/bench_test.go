package knowledge_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/knowledge"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// benchVocabulary is a synthetic vocabulary whose words are drawn with a
// Zipf distribution, like words of real text.
func benchVocabulary(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	const letters = "abcdefghijklmnopqrstuvwxyz"
	seen := map[string]bool{}
	var v []string
	for len(v) < n {
		var b strings.Builder
		for range 4 + r.IntN(6) {
			b.WriteByte(letters[r.IntN(len(letters))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			v = append(v, w)
		}
	}
	return v
}

// mustPopulate fills one namespace with n synthetic chunks of about 60 words
// (with hashing-trick vectors), through the store's own job path.
func mustPopulate(b *testing.B, db *store.DB, n int) knowledge.Namespace {
	b.Helper()
	ctx := context.Background()
	org, err := db.CreateOrganization(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	bot, err := db.Tenant(org.ID).CreateChatbot(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	kb := db.Tenant(org.ID).Knowledge(bot.ID)
	vocab := benchVocabulary(20000)
	r := rand.New(rand.NewPCG(3, 4))
	zipf := rand.NewZipf(r, 1.1, 2, uint64(len(vocab)-1))
	const perSource = 10000
	emb := knowledge.HashEmbedder{}
	for start := 0; start < n; start += perSource {
		src, err := kb.CreateSource(ctx, store.NewKnowledgeSource{Kind: store.KnowledgeText, Name: fmt.Sprintf("s%d", start), Content: []byte("x")})
		if err != nil {
			b.Fatal(err)
		}
		job, err := db.ClaimKnowledgeJob(ctx, time.Now().Add(time.Hour), 3)
		if err != nil || job.SourceID != src.ID {
			b.Fatalf("claim: %v", err)
		}
		chunks := make([]store.KnowledgeChunk, 0, perSource)
		texts := make([]string, 0, perSource)
		for range min(perSource, n-start) {
			words := make([]string, 60)
			for i := range words {
				words[i] = vocab[zipf.Uint64()]
			}
			texts = append(texts, strings.Join(words, " "))
		}
		vecs, _ := emb.Embed(ctx, texts)
		for i, t := range texts {
			chunks = append(chunks, store.KnowledgeChunk{Title: "bench", Text: t, Embedding: vecs[i]})
		}
		if err := kb.ReplaceChunks(ctx, job, 1, chunks); err != nil {
			b.Fatal(err)
		}
	}
	// As the worker does when it runs out of jobs.
	if _, err := db.CompactTextIndex(ctx); err != nil {
		b.Fatal(err)
	}
	return knowledge.Namespace{OrgID: org.ID, ChatbotID: bot.ID}
}

// BenchmarkSearch measures one search (k=5) in a namespace of 10k and 100k
// chunks, full text only and hybrid (full text + cosine over every vector of
// the namespace, fused by reciprocal rank), on SQLite and, when
// PORTHOLE_TEST_POSTGRES_URL is set, PostgreSQL. Queries are four words
// from below the corpus's 50 commonest (two drawn with the corpus's Zipf
// distribution, two uniformly). It reports p50 and p99 latency.
func BenchmarkSearch(b *testing.B) {
	dialects := []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"sqlite", storetest.MustOpenSQLite}, {"postgres", storetest.MustOpenPostgres}}
	for _, d := range dialects {
		for _, n := range []int{10000, 100000} {
			b.Run(fmt.Sprintf("%s/%dk", d.name, n/1000), func(b *testing.B) {
				db := d.open(b)
				ns := mustPopulate(b, db, n)
				vocab := benchVocabulary(20000)
				for _, mode := range []struct {
					name string
					emb  knowledge.Embedder
				}{{"fulltext", nil}, {"hybrid", knowledge.HashEmbedder{}}} {
					b.Run(mode.name, func(b *testing.B) {
						svc := knowledge.New(knowledge.Config{DB: db, Fetcher: fetch.New(fetch.Options{}), Embedder: mode.emb})
						r := rand.New(rand.NewPCG(5, 6))
						zipf := rand.NewZipf(r, 1.1, 2, uint64(len(vocab)-51))
						ctx := context.Background()
						if _, err := svc.Search(ctx, ns, "warm up", 5); err != nil { // fills the vector cache
							b.Fatal(err)
						}
						var lat []time.Duration
						for b.Loop() {
							// The 50 commonest words of real text are function words,
							// which the stopword list and the english configuration drop
							// before ranking; query words are drawn like corpus words
							// from rank 50 on.
							q := vocab[50+zipf.Uint64()] + " " + vocab[50+zipf.Uint64()] + " " + vocab[50+r.IntN(5000)] + " " + vocab[50+r.IntN(19000)]
							start := time.Now()
							ps, err := svc.Search(ctx, ns, q, 5)
							lat = append(lat, time.Since(start))
							if err != nil || len(ps) == 0 {
								b.Fatalf("search %q: %d results, %v", q, len(ps), err)
							}
						}
						slices.Sort(lat)
						b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
						b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
					})
				}
			})
		}
	}
}
