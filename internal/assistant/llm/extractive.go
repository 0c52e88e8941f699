package llm

import (
	"context"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Extractive answers tuning. A sentence is used when the question terms it
// contains carry at least minCoverage of the question's weight; at most
// maxSentences are quoted, each scoring at least half the best one.
const (
	minCoverage  = 0.3
	maxSentences = 3
)

// The built-in provider's fixed phrases.
const (
	extractiveIntro   = "Here is what I found:\n\n"
	extractiveNoMatch = "I couldn't find an answer to that in the information I have. Would you like me to connect you with a person?"
)

// extractive is the built-in provider: it quotes the passages' sentences that
// best overlap the visitor's question, cites them, and streams the answer
// word by word. It has no key and never touches the network.
type extractive struct {
	wordDelay time.Duration
}

func newExtractive(cfg Config) *extractive { return &extractive{wordDelay: cfg.WordDelay} }

// Stream implements Provider.
func (e *extractive) Stream(ctx context.Context, req Request) (Stream, error) {
	question := req.LastUserText()
	answer, citations := answerExtractively(question, req.Passages)
	done := Event{Kind: EventDone, StopReason: StopEnd, Citations: citations}
	if answer == "" {
		answer = extractiveNoMatch
		done.OfferHuman = true
	}
	words := strings.SplitAfter(answer, " ")
	input := int64(len(strings.Fields(question)))
	for _, p := range req.Passages {
		input += int64(len(strings.Fields(p.Text)))
	}
	return &extractiveStream{
		ctx:   ctx,
		delay: e.wordDelay,
		words: words,
		tail: []Event{
			{Kind: EventUsage, Usage: Usage{InputTokens: input, OutputTokens: int64(len(words))}},
			done,
		},
	}, nil
}

type extractiveStream struct {
	ctx      context.Context
	delay    time.Duration
	words    []string
	tail     []Event
	sent     int
	finished bool
}

// Next implements Stream.
func (s *extractiveStream) Next() (Event, bool) {
	if s.finished {
		return Event{}, false
	}
	if err := s.ctx.Err(); err != nil {
		return s.fail(err), true
	}
	if len(s.words) > 0 {
		if s.sent > 0 && s.delay > 0 {
			t := time.NewTimer(s.delay)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return s.fail(s.ctx.Err()), true
			case <-t.C:
			}
		}
		w := s.words[0]
		s.words = s.words[1:]
		s.sent++
		return Event{Kind: EventText, Text: w}, true
	}
	ev := s.tail[0]
	s.tail = s.tail[1:]
	if ev.Kind == EventDone {
		s.finished = true
	}
	return ev, true
}

func (s *extractiveStream) fail(err error) Event {
	s.finished = true
	return Event{Kind: EventError, Err: &Error{Kind: ErrCanceled, Attempts: 1, AfterOutput: s.sent > 0, Err: err}}
}

// Close implements Stream.
func (s *extractiveStream) Close() error {
	s.finished = true
	return nil
}

type sentence struct {
	passage int // index in the passages
	order   int // position among all sentences, to quote in reading order
	text    string
	terms   map[string]bool
	score   float64
}

// answerExtractively builds the reply text and its citations, or "" when no
// sentence is close enough to the question.
func answerExtractively(question string, passages []Passage) (string, []Citation) {
	qTerms := uniqueTerms(question)
	if len(qTerms) == 0 || len(passages) == 0 {
		return "", nil
	}
	var sentences []*sentence
	for pi, p := range passages {
		for _, text := range splitSentences(p.Text) {
			sentences = append(sentences, &sentence{passage: pi, order: len(sentences), text: text, terms: termSet(text)})
		}
	}
	if len(sentences) == 0 {
		return "", nil
	}
	// Rare terms say more about a match than common ones: weight each
	// question term by its inverse sentence frequency.
	weight := make(map[string]float64, len(qTerms))
	total := 0.0
	for _, t := range qTerms {
		df := 0
		for _, s := range sentences {
			if s.terms[t] {
				df++
			}
		}
		w := math.Log(1 + float64(len(sentences)+1)/float64(df+1))
		weight[t] = w
		total += w
	}
	for _, s := range sentences {
		for _, t := range qTerms {
			if s.terms[t] {
				s.score += weight[t]
			}
		}
		s.score /= total
	}
	ranked := append([]*sentence(nil), sentences...)
	sort.SliceStable(ranked, func(i, j int) bool { return ranked[i].score > ranked[j].score })
	best := ranked[0].score
	if best < minCoverage {
		return "", nil
	}
	var chosen []*sentence
	for _, s := range ranked {
		if len(chosen) == maxSentences || s.score < best/2 || s.score < minCoverage {
			break
		}
		chosen = append(chosen, s)
	}
	sort.Slice(chosen, func(i, j int) bool { return chosen[i].order < chosen[j].order })

	var b strings.Builder
	b.WriteString(extractiveIntro)
	var citations []Citation
	cited := make(map[int]bool)
	for i, s := range chosen {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(s.text)
		n := s.passage + 1
		b.WriteString(" [" + strconv.Itoa(n) + "]")
		if !cited[n] {
			cited[n] = true
			citations = append(citations, Citation{Number: n, Passage: passages[s.passage]})
		}
	}
	b.WriteString("\n\nSources:")
	for _, c := range citations {
		b.WriteString("\n[" + strconv.Itoa(c.Number) + "] ")
		title := strings.TrimSpace(c.Passage.SourceTitle)
		if title == "" {
			title = "Source"
		}
		b.WriteString(title)
		if c.Passage.URL != "" {
			b.WriteString(" " + c.Passage.URL)
		}
	}
	return b.String(), citations
}

// splitSentences cuts text at sentence ends and line breaks.
func splitSentences(text string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if s := strings.Join(strings.Fields(cur.String()), " "); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	runes := []rune(text)
	for i, r := range runes {
		if r == '\n' {
			flush()
			continue
		}
		cur.WriteRune(r)
		if (r == '.' || r == '!' || r == '?') && (i+1 == len(runes) || unicode.IsSpace(runes[i+1])) {
			flush()
		}
	}
	flush()
	return out
}

// terms splits text into lower-case words without stop words, with a light
// plural folding so "returns" matches "return".
func terms(text string) []string {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	})
	out := words[:0]
	for _, w := range words {
		if stopWords[w] || len([]rune(w)) < 2 {
			continue
		}
		if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
			w = strings.TrimSuffix(w, "s")
		}
		out = append(out, w)
	}
	return out
}

func termSet(text string) map[string]bool {
	set := make(map[string]bool)
	for _, t := range terms(text) {
		set[t] = true
	}
	return set
}

func uniqueTerms(text string) []string {
	seen := make(map[string]bool)
	var out []string
	for _, t := range terms(text) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// stopWords are English function words and question filler that say nothing
// about what is asked.
var stopWords = func() map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(`a an the and or but if then so of to in on at by for with from into about
		as is are was were be been being am do does did done have has had having can could will would shall should
		may might must i me my we our you your he she it its they them their this that these those there here
		what which who whom whose when where why how not no yes please tell know want need like just also
		any some all more most other such than too very hi hello thanks thank get got let us`) {
		m[w] = true
	}
	return m
}()
