package assistant_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/assistant"
	"github.com/porthole-chat/porthole/internal/assistant/llm/llmtest"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/store"
)

// burstTokens is a fake OpenAI server that sends its reply's chunks back
// to back, so a turn costs only the work around them. The chunks are
// encoded once, so the fake's own allocations stay out of the figures.
type burstTokens struct{ chunks []string }

func newBurstTokens(n int) burstTokens {
	bt := burstTokens{chunks: []string{llmtest.OpenAIRole()}}
	for i := range n {
		bt.chunks = append(bt.chunks, llmtest.OpenAIText("word"+strconv.Itoa(i)+" "))
	}
	bt.chunks = append(bt.chunks, llmtest.OpenAIFinish("stop"), llmtest.OpenAIUsage(10, n))
	return bt
}

func (bt burstTokens) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	sse := llmtest.NewSSE(w)
	for _, c := range bt.chunks {
		if sse.Data(c) != nil {
			return
		}
	}
	_ = sse.Done()
}

// BenchmarkTurn measures what one whole turn costs the server, one turn at
// a time: the visitor's message stored and routed, the history read, the
// chatbot's configuration, retrieval from a small knowledge base, the
// provider request, 60 streamed tokens published to the session, and the
// reply and turn end stored with their audit entries. The fake provider
// runs in the same process, so its work is in the figures too. Unlike the
// latency figure of BenchmarkStreamedTokenOverhead, time, bytes and
// allocations per turn hardly depend on what else the machine does, so
// this is the benchmark to compare builds with.
func BenchmarkTurn(b *testing.B) {
	ctx := context.Background()
	e := mustEnv(b)
	model := httptest.NewServer(newBurstTokens(60))
	b.Cleanup(model.Close)
	e.mustConfig(b, store.AssistantConfig{Provider: store.AssistantOpenAI, BaseURL: model.URL + "/v1/", Model: "bench",
		SystemPrompt: "You are the front desk of a dental clinic."})
	e.mustKnowledge(b, e.bot.ID, map[string]string{
		"hours.txt":  "We are open Monday to Friday from nine to five, and on Saturdays from ten to two.",
		"prices.txt": "A check-up costs 60 euros. Cleaning costs 80 euros. Whitening costs 250 euros.",
		"parking.txt": "Parking is free behind the building. The entrance is on the side street, " +
			"next to the pharmacy.",
	})
	eng := assistant.New(assistant.Config{DB: e.db, Knowledge: e.ks, Security: e.security,
		ProviderNetwork: fetch.StreamingOptionsForTest(b, fetch.StreamingOptions{}, model.Listener.Addr().String())})
	svc := chat.New(chat.Config{DB: e.db, PubSub: pubsub.NewMemory(), Engine: eng})
	b.Cleanup(func() { _ = svc.Shutdown(context.Background()) })
	sess, err := svc.Join(ctx, e.org.ID, e.bot.ID, porthole.NewID(), nil)
	if err != nil {
		b.Fatal(err)
	}
	sub, err := svc.Subscribe(ctx, sess)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	turn := func() {
		if _, _, err := svc.SendMessage(ctx, sess, porthole.NewID(), "When are you open on Saturday?"); err != nil {
			b.Fatal(err)
		}
		deltas := 0
		timeout := time.After(10 * time.Second)
		for {
			select {
			case raw, ok := <-sub.C():
				if !ok {
					b.Fatalf("subscription ended: %v", sub.Err())
				}
				if chat.IsDelta(raw) {
					deltas++
					continue
				}
				var f chat.Frame
				if err := json.Unmarshal(raw, &f); err != nil {
					b.Fatal(err)
				}
				if f.Type != chat.FrameTurnEnd {
					continue
				}
				if deltas != 60 {
					b.Fatalf("turn ended after %d deltas, want 60", deltas)
				}
				return
			case <-timeout:
				b.Fatal("no turn end")
			}
		}
	}
	for range 30 { // a conversation past the history's 50 messages
		turn()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		turn()
	}
}
