package llm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/assistant/llm"
)

var shopPassages = []llm.Passage{
	{ID: "p1", SourceTitle: "Shipping", URL: "https://shop.example/shipping",
		Text: "We ship to every country in the European Union. Orders leave our warehouse within two days."},
	{ID: "p2", SourceTitle: "Returns", URL: "https://shop.example/returns",
		Text: "You can return any item within 30 days of delivery for a full refund.\nRefunds reach your card within five business days."},
	{ID: "p3", SourceTitle: "Opening hours",
		Text: "Our shop in Lisbon is open Monday to Saturday from 9:00 to 19:00."},
}

func mustBuiltin(tb testing.TB, delay time.Duration) llm.Provider {
	tb.Helper()
	p, err := llm.NewProvider(context.Background(), llm.Config{Kind: llm.KindBuiltin, WordDelay: delay}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func ask(question string) llm.Request {
	return llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Text: question}}, Passages: shopPassages}
}

func TestExtractiveCitesTheMatchingPassage(t *testing.T) {
	tests := []struct {
		name         string
		question     string
		wantSentence string
		wantCited    []int
	}{
		{"returns", "How many days do I have to return an item?", "You can return any item within 30 days of delivery for a full refund. [2]", []int{2}},
		{"refund timing", "When will my refund reach my card?", "Refunds reach your card within five business days. [2]", []int{2}},
		{"shipping", "Do you ship to Spain? Spain is in the European Union", "We ship to every country in the European Union. [1]", []int{1}},
		{"hours", "what are the opening hours of the Lisbon shop", "Our shop in Lisbon is open Monday to Saturday from 9:00 to 19:00. [3]", []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply, err := llm.Collect(mustStream(t, context.Background(), mustBuiltin(t, 0), ask(tt.question)))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(reply.Text, tt.wantSentence) {
				t.Errorf("reply %q lacks %q", reply.Text, tt.wantSentence)
			}
			if reply.OfferHuman || reply.StopReason != llm.StopEnd {
				t.Errorf("reply %+v", reply)
			}
			var got []int
			for _, c := range reply.Citations {
				got = append(got, c.Number)
				p := shopPassages[c.Number-1]
				if c.Passage.ID != p.ID {
					t.Errorf("citation %d names passage %q", c.Number, c.Passage.ID)
				}
				source := "[" + string(rune('0'+c.Number)) + "] " + p.SourceTitle
				if !strings.Contains(reply.Text, source) || (p.URL != "" && !strings.Contains(reply.Text, p.URL)) {
					t.Errorf("reply %q does not list source %q %s", reply.Text, source, p.URL)
				}
			}
			if len(got) == 0 || got[0] != tt.wantCited[0] {
				t.Errorf("cited %v, want %v first", got, tt.wantCited)
			}
			// The citations the built-in provider reports are the ones in its text.
			if inText := llm.CitationsIn(reply.Text, shopPassages); len(inText) != len(reply.Citations) {
				t.Errorf("CitationsIn found %v, done event %v", inText, reply.Citations)
			}
		})
	}
}

func TestExtractiveOffersAHumanWhenNothingMatches(t *testing.T) {
	tests := []struct {
		name string
		req  llm.Request
	}{
		{"unrelated question", ask("Can I pay with bitcoin?")},
		{"only filler words", ask("Hello, can you tell me something?")},
		{"no knowledge at all", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Text: "How long do returns take?"}}}},
		{"no question", llm.Request{Passages: shopPassages}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply, err := llm.Collect(mustStream(t, context.Background(), mustBuiltin(t, 0), tt.req))
			if err != nil {
				t.Fatal(err)
			}
			if !reply.OfferHuman || len(reply.Citations) != 0 {
				t.Errorf("reply %+v", reply)
			}
			if !strings.Contains(reply.Text, "connect you with a person") {
				t.Errorf("reply %q does not offer a person", reply.Text)
			}
		})
	}
}

func TestExtractiveStreamsWordByWord(t *testing.T) {
	s := mustStream(t, context.Background(), mustBuiltin(t, time.Millisecond), ask("How many days do I have to return an item?"))
	evs := collectEvents(t, s)
	texts := 0
	for _, ev := range evs {
		if ev.Kind == llm.EventText {
			texts++
			if strings.Count(strings.TrimSpace(ev.Text), " ") > 0 {
				t.Errorf("text event %q is more than a word", ev.Text)
			}
		}
	}
	if texts < 10 {
		t.Errorf("%d text events", texts)
	}
	n := len(evs)
	if evs[n-2].Kind != llm.EventUsage || evs[n-2].Usage.OutputTokens != int64(texts) || evs[n-1].Kind != llm.EventDone {
		t.Errorf("tail %+v", evs[n-2:])
	}
}

func TestExtractiveStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := mustStream(t, ctx, mustBuiltin(t, 20*time.Millisecond), ask("How many days do I have to return an item?"))
	if ev, ok := s.Next(); !ok || ev.Kind != llm.EventText {
		t.Fatalf("first event %+v", ev)
	}
	cancel()
	ev, ok := s.Next()
	if !ok || ev.Kind != llm.EventError || ev.Err.Kind != llm.ErrCanceled || !errors.Is(ev.Err, context.Canceled) {
		t.Fatalf("after cancel %+v", ev)
	}
	if _, ok := s.Next(); ok {
		t.Error("events after the error")
	}
}
