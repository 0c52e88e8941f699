package knowledge

import (
	"strings"
	"unicode"
)

// Chunking defaults, in words (about 0.75 of a model token each).
const (
	DefaultChunkWords   = 180
	DefaultOverlapWords = 40
)

// Chunk is one passage cut from a document.
type Chunk struct {
	Title string
	URL   string
	Text  string
}

// chunkDocument cuts a document into passages of about budget words,
// breaking at paragraph and then sentence boundaries, and starting each
// passage with up to overlap words of the end of the one before, so a fact
// that straddles a cut is whole in at least one passage.
func chunkDocument(doc Document, budget, overlap int) []Chunk {
	if budget <= 0 {
		budget = DefaultChunkWords
	}
	if overlap < 0 || overlap >= budget {
		overlap = budget / 4
	}
	// Units are sentences (or word runs of a sentence longer than the
	// budget); paraEnd marks the last unit of a paragraph.
	type unit struct {
		text    string
		words   int
		paraEnd bool
	}
	var units []unit
	for para := range strings.SplitSeq(doc.Text, "\n\n") {
		sentences := splitSentences(para)
		for i, s := range sentences {
			words := strings.Fields(s)
			for len(words) > budget {
				units = append(units, unit{text: strings.Join(words[:budget], " "), words: budget})
				words = words[budget:]
			}
			if len(words) > 0 {
				units = append(units, unit{text: strings.Join(words, " "), words: len(words), paraEnd: i == len(sentences)-1})
			} else if len(units) > 0 && i == len(sentences)-1 {
				units[len(units)-1].paraEnd = true
			}
		}
	}
	var chunks []Chunk
	emit := func(us []unit) {
		var b strings.Builder
		for i, u := range us {
			b.WriteString(u.text)
			if i < len(us)-1 {
				if u.paraEnd {
					b.WriteString("\n\n")
				} else {
					b.WriteByte(' ')
				}
			}
		}
		chunks = append(chunks, Chunk{Title: doc.Title, URL: doc.URL, Text: b.String()})
	}
	start := 0
	for start < len(units) {
		end, words := start, 0
		for end < len(units) && (end == start || words+units[end].words <= budget) {
			words += units[end].words
			end++
		}
		emit(units[start:end])
		if end >= len(units) {
			break
		}
		// Step back over whole units that fit in the overlap, but always
		// make progress.
		next, back := end, 0
		for next-1 > start && back+units[next-1].words <= overlap {
			back += units[next-1].words
			next--
		}
		start = next
	}
	return chunks
}

// splitSentences splits a paragraph after ., ! or ? followed by a space and
// an upper-case letter or digit; abbreviations rarely meet both.
func splitSentences(para string) []string {
	var out []string
	runes := []rune(para)
	last := 0
	for i := 0; i < len(runes)-2; i++ {
		c := runes[i]
		if (c == '.' || c == '!' || c == '?') && unicode.IsSpace(runes[i+1]) {
			j := i + 1
			for j < len(runes) && unicode.IsSpace(runes[j]) {
				j++
			}
			if j < len(runes) && (unicode.IsUpper(runes[j]) || unicode.IsDigit(runes[j])) {
				out = append(out, strings.TrimSpace(string(runes[last:i+1])))
				last = j
			}
		}
	}
	if rest := strings.TrimSpace(string(runes[last:])); rest != "" {
		out = append(out, rest)
	}
	return out
}

// stopwords are dropped from search queries: they match nearly every chunk
// and carry no meaning for ranking.
var stopwords = map[string]bool{}

func init() {
	for w := range strings.FieldsSeq(`a an and are as at be been but by can could do does did for from had has have
		how i if in into is it its me my of on or our please so that the their them then there these they this to
		us was we were what when where which who whom why will with would you your yours i'm im i've id tell know
		about any some much many get got there's do you're also just like want need`) {
		stopwords[w] = true
	}
}

// queryTerms returns the meaningful words of a query, lower-cased, in order,
// without duplicates.
func queryTerms(q string) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range words(q) {
		if stopwords[w] || seen[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
	}
	return out
}

// words splits text into lower-case runs of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}
