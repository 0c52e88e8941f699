package knowledge

import (
	"context"
	"hash/fnv"
	"math"
	"strings"
)

// Embedder turns texts into vectors whose cosine similarity reflects
// meaning. An embeddings provider (OpenAI-compatible, say) implements it;
// the vectors of one namespace must all come from the same model.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// HashEmbedder is a deterministic, local Embedder for tests and offline
// demos: the hashing trick over word unigrams, crude stems and bigrams, L2
// normalized. It captures word overlap, not meaning.
type HashEmbedder struct {
	// Dims is the vector size (256 when zero).
	Dims int
}

// Embed implements Embedder.
func (h HashEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	dims := h.Dims
	if dims <= 0 {
		dims = 256
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, dims)
		ws := words(t)
		add := func(feature string, weight float32) {
			f := fnv.New64a()
			f.Write([]byte(feature))
			sum := f.Sum64()
			sign := float32(1)
			if sum>>63 == 1 {
				sign = -1
			}
			v[sum%uint64(dims)] += sign * weight
		}
		prev := ""
		for _, w := range ws {
			if stopwords[w] {
				prev = ""
				continue
			}
			s := crudeStem(w)
			add("w:"+s, 1)
			if prev != "" {
				add("b:"+prev+" "+s, 0.5)
			}
			prev = s
		}
		var norm float64
		for _, x := range v {
			norm += float64(x) * float64(x)
		}
		if norm > 0 {
			inv := float32(1 / math.Sqrt(norm))
			for j := range v {
				v[j] *= inv
			}
		}
		out[i] = v
	}
	return out, nil
}

// crudeStem strips a few English suffixes so "cleanings" and "cleaning" meet.
func crudeStem(w string) string {
	for _, suf := range []string{"ings", "ing", "ies", "es", "s", "ed"} {
		if len(w) > len(suf)+2 && strings.HasSuffix(w, suf) {
			return w[:len(w)-len(suf)]
		}
	}
	return w
}

// normalized returns v scaled to unit length (nil for a zero vector), so
// that the dot product of two normalized vectors is their cosine.
func normalized(v []float32) []float32 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return nil
	}
	inv := float32(1 / math.Sqrt(sum))
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * inv
	}
	return out
}

// dot returns the dot product of two vectors of the same length.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}
