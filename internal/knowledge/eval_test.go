package knowledge_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/knowledge"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// hitAt3Floor is the least hit@3 the labelled clinic set must reach. Set
// after measuring (docs/benchmarks.md, "Knowledge retrieval"), a little below
// the measured figures so that a regression fails and noise does not.
const (
	hitAt3FloorFullText = 0.85
	hitAt3FloorHybrid   = 0.85
)

type labelledQuestion struct {
	question, source string
}

func mustQuestions(tb testing.TB) []labelledQuestion {
	tb.Helper()
	f, err := os.Open("testdata/questions.tsv")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var qs []labelledQuestion
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		q, src, ok := strings.Cut(line, "\t")
		if !ok {
			tb.Fatalf("bad line %q", line)
		}
		qs = append(qs, labelledQuestion{q, src})
	}
	return qs
}

// mustIngestClinic uploads every document of testdata/clinic and runs the
// worker; it returns source ids by file name.
func mustIngestClinic(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	files, err := filepath.Glob("testdata/clinic/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("corpus: %v", err)
	}
	byID := map[string]string{}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		src, err := f.svc.AddUpload(context.Background(), f.ns, knowledge.Upload{Kind: store.KnowledgeMarkdown, Name: filepath.Base(p), Data: data})
		if err != nil {
			t.Fatal(err)
		}
		byID[src.ID] = filepath.Base(p)
	}
	f.mustDrain(t)
	return byID
}

// TestRetrievalHitAt3 measures hit@3 on the labelled question set: the share
// of questions whose labelled source is among the first three passages.
func TestRetrievalHitAt3(t *testing.T) {
	questions := mustQuestions(t)
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		for _, mode := range []struct {
			name  string
			emb   knowledge.Embedder
			floor float64
		}{{"fulltext", nil, hitAt3FloorFullText}, {"hybrid", knowledge.HashEmbedder{}, hitAt3FloorHybrid}} {
			t.Run(mode.name, func(t *testing.T) {
				f := mustFixture(t, db, mode.emb)
				names := mustIngestClinic(t, f)
				hits := 0
				for _, q := range questions {
					ps, err := f.svc.Search(context.Background(), f.ns, q.question, 3)
					if err != nil {
						t.Fatal(err)
					}
					var got []string
					hit := false
					for _, p := range ps {
						got = append(got, names[p.SourceID])
						hit = hit || names[p.SourceID] == q.source
					}
					if hit {
						hits++
					} else {
						t.Logf("miss: %q want %s got %v", q.question, q.source, got)
					}
				}
				rate := float64(hits) / float64(len(questions))
				t.Logf("hit@3 %s/%s = %.3f (%d/%d)", db.Dialect(), mode.name, rate, hits, len(questions))
				if rate < mode.floor {
					t.Fatalf("hit@3 = %.3f, below the floor %.2f", rate, mode.floor)
				}
			})
		}
	})
}
