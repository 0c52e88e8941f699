package knowledge

import (
	"cmp"
	"context"
	"slices"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Retrieval parameters.
const (
	// RRFK is the k of reciprocal rank fusion: score = sum of 1/(k + rank).
	RRFK = 60
	// candidates is how deep each ranking is read before fusion.
	candidates = 50
	// MaxResults caps k of one search.
	MaxResults = 20
	// maxCachedNamespaces bounds the memory the vector cache may hold.
	maxCachedNamespaces = 64
	// maxQueryBytes caps the query text.
	maxQueryBytes = 2000
)

// Passage is one search result: a chunk with its source and score.
type Passage struct {
	ChunkID  string  `json:"chunk_id"`
	SourceID string  `json:"source_id"`
	Title    string  `json:"title,omitempty"`
	URL      string  `json:"url,omitempty"`
	Text     string  `json:"text"`
	Score    float64 `json:"score"`
}

// vectorCache holds a namespace's vectors as of one generation.
type vectorCache struct {
	generation int64
	ids        []string
	vecs       [][]float32
}

// Search returns up to k passages of the namespace for query, best first.
// Full text always ranks; with an Embedder the cosine top hits are fused
// with it by reciprocal rank (k=60). The namespace filter is applied by the
// store inside each query.
func (s *Service) Search(ctx context.Context, ns Namespace, query string, k int) ([]Passage, error) {
	if k <= 0 {
		k = 5
	}
	k = min(k, MaxResults)
	if len(query) > maxQueryBytes {
		query = query[:maxQueryBytes]
	}
	kb := s.kb(ns)
	textHits, err := kb.SearchText(ctx, queryTerms(query), candidates)
	if err != nil {
		return nil, err
	}
	if s.cfg.Embedder == nil {
		return toPassages(textHits, k), nil
	}
	vecIDs, err := s.vectorSearch(ctx, ns, kb, query, candidates)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		// An embeddings outage must not take search down: full text alone
		// still answers.
		s.cfg.Logger.Warn("knowledge: vector search failed; full text only", "org_id", ns.OrgID, "chatbot_id", ns.ChatbotID, "err", err)
		return toPassages(textHits, k), nil
	}
	return s.fuse(ctx, kb, textHits, vecIDs, k)
}

func toPassages(hits []store.KnowledgeHit, k int) []Passage {
	out := make([]Passage, 0, min(k, len(hits)))
	for _, h := range hits[:min(k, len(hits))] {
		out = append(out, Passage{ChunkID: h.ID, SourceID: h.SourceID, Title: h.Title, URL: h.URL, Text: h.Text, Score: h.Score})
	}
	return out
}

// vectorSearch returns the ids of the n chunks closest to the query.
func (s *Service) vectorSearch(ctx context.Context, ns Namespace, kb *store.KnowledgeBase, query string, n int) ([]string, error) {
	qv, err := s.cfg.Embedder.Embed(ctx, []string{query})
	if err != nil || len(qv) != 1 {
		return nil, porthole.WrapError(porthole.EUNAVAILABLE, err, "the embeddings provider failed")
	}
	cache, err := s.namespaceVectors(ctx, ns, kb)
	if err != nil {
		return nil, err
	}
	q := normalized(qv[0])
	if len(q) == 0 {
		return nil, nil
	}
	type scored struct {
		idx   int
		score float32
	}
	// top is kept sorted, best first; most vectors fail the first comparison.
	top := make([]scored, 0, n+1)
	for i, v := range cache.vecs {
		if len(v) != len(q) {
			continue // a vector of another model or size
		}
		sc := dot(q, v)
		if len(top) == n && sc <= top[n-1].score {
			continue
		}
		pos, _ := slices.BinarySearchFunc(top, sc, func(e scored, t float32) int { return cmp.Compare(t, e.score) })
		top = slices.Insert(top, pos, scored{i, sc})
		if len(top) > n {
			top = top[:n]
		}
	}
	ids := make([]string, len(top))
	for i, t := range top {
		ids[i] = cache.ids[t.idx]
	}
	return ids, nil
}

// namespaceVectors returns the namespace's vectors, from memory while the
// namespace's generation is unchanged.
func (s *Service) namespaceVectors(ctx context.Context, ns Namespace, kb *store.KnowledgeBase) (*vectorCache, error) {
	gen, err := kb.Generation(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	c := s.vectors[ns]
	s.mu.Unlock()
	if c != nil && c.generation == gen {
		return c, nil
	}
	gen, list, err := kb.Vectors(ctx)
	if err != nil {
		return nil, err
	}
	c = &vectorCache{generation: gen, ids: make([]string, len(list)), vecs: make([][]float32, len(list))}
	for i, v := range list {
		// Normalized once here, so a search is one dot product per chunk.
		c.ids[i], c.vecs[i] = v.ChunkID, normalized(v.Vector)
	}
	s.mu.Lock()
	if _, ok := s.vectors[ns]; !ok && len(s.vectors) >= maxCachedNamespaces {
		for other := range s.vectors { // evict one arbitrary namespace
			delete(s.vectors, other)
			break
		}
	}
	s.vectors[ns] = c
	s.mu.Unlock()
	return c, nil
}

// fuse merges the full-text and vector rankings by reciprocal rank.
func (s *Service) fuse(ctx context.Context, kb *store.KnowledgeBase, textHits []store.KnowledgeHit, vecIDs []string, k int) ([]Passage, error) {
	scores := map[string]float64{}
	for rank, h := range textHits {
		scores[h.ID] += 1.0 / float64(RRFK+rank+1)
	}
	for rank, id := range vecIDs {
		scores[id] += 1.0 / float64(RRFK+rank+1)
	}
	ids := make([]string, 0, len(scores))
	for id := range scores {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if c := cmp.Compare(scores[b], scores[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	ids = ids[:min(k, len(ids))]
	known := map[string]store.KnowledgeChunk{}
	for _, h := range textHits {
		known[h.ID] = h.KnowledgeChunk
	}
	var missing []string
	for _, id := range ids {
		if _, ok := known[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		chunks, err := kb.Chunks(ctx, missing)
		if err != nil {
			return nil, err
		}
		for _, c := range chunks {
			known[c.ID] = c
		}
	}
	out := make([]Passage, 0, len(ids))
	for _, id := range ids {
		c, ok := known[id]
		if !ok {
			continue // deleted since the vectors were cached
		}
		out = append(out, Passage{ChunkID: c.ID, SourceID: c.SourceID, Title: c.Title, URL: c.URL, Text: c.Text, Score: scores[id]})
	}
	return out, nil
}
