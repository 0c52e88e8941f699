package assistant_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/porthole-chat/porthole/internal/assistant"
	"github.com/porthole-chat/porthole/internal/assistant/llm/llmtest"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/ratelimit"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/widget"
)

// stampedTokens is a fake OpenAI server whose every text chunk carries the
// time it was written ("t<unix nanos> "), so a client in the same process
// can tell how long the chunk took to reach it. Pacing happens before the
// stamp, so it is not part of any measured interval.
type stampedTokens struct {
	tokens   int
	interval time.Duration
}

func (st stampedTokens) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	sse := llmtest.NewSSE(w)
	if sse.Data(llmtest.OpenAIRole()) != nil {
		return
	}
	// Streams start at random phases, as replies of real visitors do;
	// tickers all in phase would make every token of a round arrive in one
	// burst and measure the queue of that burst instead.
	select {
	case <-r.Context().Done():
		return
	case <-time.After(time.Duration(mrand.Int64N(int64(st.interval)))):
	}
	tick := time.NewTicker(st.interval)
	defer tick.Stop()
	for range st.tokens {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
		if sse.Data(llmtest.OpenAIText("t"+strconv.FormatInt(time.Now().UnixNano(), 10)+" ")) != nil {
			return
		}
	}
	_ = sse.Data(llmtest.OpenAIFinish("stop"))
	_ = sse.Data(llmtest.OpenAIUsage(10, st.tokens))
	_ = sse.Done()
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

var stampPattern = regexp.MustCompile(`t(\d{19}) `)

// BenchmarkStreamedTokenOverhead measures the platform's overhead per
// streamed token: from the moment the fake provider writes a chunk to the
// moment a visitor's WebSocket client reads the delta that carries it,
// through the real path (openai-go over loopback HTTP, the assistant
// engine, the chat service and pubsub, the widget socket). It opens
// PORTHOLE_BENCH_STREAMS sockets (default 1000) through the frame document
// and ticket, starts one turn on each at once, and reports p50/p99/max.
// Run with -benchtime=1x; every iteration is a full run.
func BenchmarkStreamedTokenOverhead(b *testing.B) {
	streams := envInt("PORTHOLE_BENCH_STREAMS", 1000)
	tokens := envInt("PORTHOLE_BENCH_TOKENS", 50)
	interval := time.Duration(envInt("PORTHOLE_BENCH_INTERVAL_MS", 20)) * time.Millisecond
	ctx := context.Background()

	e := mustEnv(b)
	model := httptest.NewServer(stampedTokens{tokens: tokens, interval: interval})
	b.Cleanup(model.Close)
	e.mustConfig(b, store.AssistantConfig{Provider: store.AssistantOpenAI, BaseURL: model.URL + "/v1/", Model: "bench"})
	const parent = "https://shop.example.com"
	if _, err := e.tn.AddOrigin(ctx, parent); err != nil {
		b.Fatal(err)
	}
	eng := assistant.New(assistant.Config{DB: e.db,
		ProviderNetwork: fetch.StreamingOptionsForTest(b, fetch.StreamingOptions{}, model.Listener.Addr().String())})
	bus := pubsub.NewMemory()
	chatSvc := chat.New(chat.Config{DB: e.db, PubSub: bus, Engine: eng})
	b.Cleanup(func() { _ = chatSvc.Shutdown(context.Background()) })

	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.Start()
	b.Cleanup(srv.Close)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	many := porthole.Limit{N: 1 << 30, Window: time.Minute}
	ws, err := widget.New(widget.Deps{DB: e.db, Limiter: ratelimit.NewMemory(), Security: e.security, Chat: chatSvc,
		PublicURL: srv.URL, TicketKey: key,
		Limits: widget.Limits{ConnectsPerIP: many, ConnectsPerSession: many, MessagesPerSession: many}})
	if err != nil {
		b.Fatal(err)
	}
	ws.Routes(mux)
	b.Cleanup(func() { _ = ws.Shutdown(context.Background()) })

	for b.Loop() {
		clients := make([]*benchClient, streams)
		for i := range clients {
			c, err := dialVisitor(ctx, srv.URL, e.org.ID, parent)
			if err != nil {
				b.Fatalf("socket %d: %v", i, err)
			}
			clients[i] = c
		}
		var wg sync.WaitGroup
		lat := make([][]time.Duration, streams)
		sent := make([][]time.Time, streams)
		errs := make(chan error, streams)
		start := time.Now()
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, st, err := c.turn(tokens)
				lat[i], sent[i] = l, st
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		for _, c := range clients {
			c.conn.Close()
		}
		var all, firsts []time.Duration
		for _, l := range lat {
			all = append(all, l...)
			if len(l) > 0 {
				firsts = append(firsts, l[0])
			}
		}
		slices.Sort(firsts)
		if os.Getenv("PORTHOLE_BENCH_DEBUG") != "" {
			b.Logf("first tokens: p50 %s max %s", firsts[len(firsts)/2], firsts[len(firsts)-1])
			for i := 0; i < tokens; i += 10 {
				var col []time.Duration
				for _, l := range lat {
					col = append(col, l[i])
				}
				slices.Sort(col)
				b.Logf("token %d: p50 %s max %s", i, col[len(col)/2], col[len(col)-1])
			}
		}
		slices.Sort(all)
		if len(all) != streams*tokens {
			b.Fatalf("%d tokens measured, want %d", len(all), streams*tokens)
		}
		p := func(q float64) time.Duration { return all[min(len(all)-1, int(q*float64(len(all))))] }
		b.ReportMetric(float64(p(0.50).Microseconds()), "p50-µs/token")
		b.ReportMetric(float64(p(0.99).Microseconds()), "p99-µs/token")
		b.ReportMetric(float64(all[len(all)-1].Microseconds()), "max-µs/token")
		b.Logf("%d streams x %d tokens every %s: %d tokens in %s; overhead per token p50 %s p99 %s p99.9 %s max %s",
			streams, tokens, interval, len(all), elapsed.Round(time.Millisecond), p(0.50), p(0.99), p(0.999), all[len(all)-1])
		// Steady state: only tokens sent while every stream was streaming
		// (after the last turn's first token, before the first turn's last),
		// apart from the start and end of turns, which write to the store.
		var from, to time.Time
		for _, st := range sent {
			if from.IsZero() || st[0].After(from) {
				from = st[0]
			}
			if to.IsZero() || st[len(st)-1].Before(to) {
				to = st[len(st)-1]
			}
		}
		var steady []time.Duration
		for i, st := range sent {
			for j, t := range st {
				if !t.Before(from) && !t.After(to) {
					steady = append(steady, lat[i][j])
				}
			}
		}
		slices.Sort(steady)
		if len(steady) > 0 {
			q := func(f float64) time.Duration { return steady[min(len(steady)-1, int(f*float64(len(steady))))] }
			b.ReportMetric(float64(q(0.50).Microseconds()), "steady-p50-µs/token")
			b.ReportMetric(float64(q(0.99).Microseconds()), "steady-p99-µs/token")
			b.Logf("steady state (%s while all %d streams stream): %d tokens; p50 %s p99 %s max %s",
				to.Sub(from).Round(time.Millisecond), streams, len(steady), q(0.50), q(0.99), steady[len(steady)-1])
		} else {
			b.Logf("no steady state: the turns never all streamed at once (lengthen PORTHOLE_BENCH_TOKENS)")
		}
	}
}

type benchClient struct {
	conn *websocket.Conn
}

// dialVisitor opens a visitor socket the way the frame does: frame
// document, ticket, Origin, hello, welcome.
func dialVisitor(ctx context.Context, base, business, parent string) (*benchClient, error) {
	resp, err := http.Get(base + "/widget/frame?" + url.Values{"business": {business}, "parent": {parent}}.Encode())
	if err != nil {
		return nil, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`"ticket":"([^"]+)"`).FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		return nil, fmt.Errorf("frame: %d %.200s", resp.StatusCode, page)
	}
	session := porthole.NewID()
	// A UUIDv7 is an RFC 4122 UUID in lower-case canonical form.
	u := strings.Replace(base, "http://", "ws://", 1) + "/widget/ws?" + url.Values{"ticket": {string(m[1])}, "session": {session}}.Encode()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, _, err := d.DialContext(ctx, u, http.Header{"Origin": {base}})
	if err != nil {
		return nil, err
	}
	hello, _ := json.Marshal(map[string]any{"type": "hello", "session": session, "last_seq": 0})
	if err := conn.WriteMessage(websocket.TextMessage, hello); err != nil {
		conn.Close()
		return nil, err
	}
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("welcome: %w", err)
		}
		if strings.Contains(string(msg), `"type":"welcome"`) {
			return &benchClient{conn: conn}, nil
		}
	}
}

// turn sends a message and returns, for every token of the reply, the time
// from the fake provider's write to this client's read.
func (c *benchClient) turn(tokens int) ([]time.Duration, []time.Time, error) {
	msg, _ := json.Marshal(map[string]any{"type": "message", "client_id": strconv.FormatInt(time.Now().UnixNano(), 36), "text": "hi"})
	if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
		return nil, nil, err
	}
	out := make([]time.Duration, 0, tokens)
	sent := make([]time.Time, 0, tokens)
	_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	for {
		_, raw, err := c.conn.ReadMessage()
		now := time.Now()
		if err != nil {
			return out, sent, err
		}
		var f struct{ Type, Text, Status string }
		if err := json.Unmarshal(raw, &f); err != nil {
			return out, sent, err
		}
		switch f.Type {
		case "delta":
			for _, m := range stampPattern.FindAllStringSubmatch(f.Text, -1) {
				ns, _ := strconv.ParseInt(m[1], 10, 64)
				out = append(out, now.Sub(time.Unix(0, ns)))
				sent = append(sent, time.Unix(0, ns))
			}
		case "turn_end":
			if f.Status != "done" {
				return out, sent, fmt.Errorf("turn ended %s", f.Status)
			}
			return out, sent, nil
		}
	}
}
