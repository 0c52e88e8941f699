package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/api"
	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// mustAPIKey makes an API key with every scope for the organization, as
// porthole admin create-api-key does.
func mustAPIKey(tb testing.TB, s served) string {
	tb.Helper()
	ctx := audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorSystem}, "porthole-load test")
	key, prefix, hash := auth.NewAPIKey(s.business)
	if _, err := s.app.DB.Tenant(s.business).CreateAPIKey(ctx, porthole.APIKey{Name: "load", Prefix: prefix, Scopes: api.AllScopes()}, hash); err != nil {
		tb.Fatalf("CreateAPIKey: %v", err)
	}
	return key
}

// streamOptions is a small stream run: turns of about 200 ms with a think
// time, so a socket sends fewer than the widget's 20 messages a minute.
func streamOptions(s served, key string) options {
	return options{Target: s.target, Business: s.business, Parent: s.parent, Sockets: 5, Tabs: 1, Concurrency: 5,
		Sources: []string{"127.0.0.1"}, Mode: "stream", Duration: 2 * time.Second, Rate: 1,
		APIKey: key, ProviderListen: "127.0.0.1:0", Tokens: 10, TokenInterval: 20 * time.Millisecond, Think: 300 * time.Millisecond}
}

// TestStreamSmoke runs stream mode against the real app: every turn ends
// done and every measured token's stamp is parsed into a sane latency.
func TestStreamSmoke(t *testing.T) {
	s := mustServeApp(t, "--llm-allow-private-base-urls")
	opts := streamOptions(s, mustAPIKey(t, s))
	if err := opts.validate(); err != nil {
		t.Fatal(err)
	}
	_, st, out := runStreams(t, opts)
	if st.Measured == 0 || st.TurnsDone == 0 || st.Unfinished != 0 {
		t.Errorf("%d tokens measured, %d turns done, %d unfinished; want tokens and turns, none unfinished\n%s",
			st.Measured, st.TurnsDone, st.Unfinished, out.String())
	}
	// A sanity bound on the parsing of stamps, not a speed assertion.
	if st.P50 <= 0 || st.Max < st.P999 || st.P999 < st.P99 || st.Max >= 5*time.Second {
		t.Errorf("latencies p50 %s p99 %s p99.9 %s max %s; want positive, ordered and under 5s", st.P50, st.P99, st.P999, st.Max)
	}
	// Replies' last tokens are among all the tokens, so their figures lie
	// within the tokens' (a reply has one, and ten tokens here).
	if st.LastMeasured == 0 || st.LastMeasured > st.Measured/5 || st.LastP50 <= 0 || st.LastP99 > st.Max {
		t.Errorf("last tokens: %d of %d tokens, p50 %s p99 %s (max %s); want some, at most one a reply, within the tokens' figures",
			st.LastMeasured, st.Measured, st.LastP50, st.LastP99, st.Max)
	}
	if !strings.Contains(out.String(), "stream: each reply's last token") {
		t.Errorf("report lacks the last-token line:\n%s", out.String())
	}
	if st.InFlightSamples == 0 || st.InFlightMedian <= 0 {
		t.Errorf("streams in flight: %d samples, median %d; want some streams", st.InFlightSamples, st.InFlightMedian)
	}
	if !strings.Contains(out.String(), "stream: overhead per token") {
		t.Errorf("report lacks the latency line:\n%s", out.String())
	}
	t.Log(out.String())
}

// runStreams runs a small stream or floor run and checks what every such
// run must show: all its sockets open, no failure, a stream report. out is
// what the run printed, its report included.
func runStreams(t *testing.T, opts options) (report, *streamReport, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	r, err := run(context.Background(), opts, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	r.print(&out)
	if r.Opened != opts.Sockets || len(r.Failures) != 0 || r.Stream == nil {
		t.Fatalf("opened %d of %d, failures %v, stream report %v\n%s", r.Opened, opts.Sockets, r.Failures, r.Stream, out.String())
	}
	return r, r.Stream, &out
}

// TestStreamNeedsPrivateBaseURLs: a server that may not reach loopback
// providers fails the run with an error that names the flag.
func TestStreamNeedsPrivateBaseURLs(t *testing.T) {
	s := mustServeApp(t)
	opts := streamOptions(s, mustAPIKey(t, s))
	opts.Sockets, opts.Concurrency = 1, 1
	var out bytes.Buffer
	_, err := run(context.Background(), opts, &out)
	if !errors.Is(err, errPrivateBaseURL) || !strings.Contains(err.Error(), "--llm-allow-private-base-urls") {
		t.Fatalf("run: %v, want the private base URL error\n%s", err, out.String())
	}
}

func TestStreamFlags(t *testing.T) {
	base := []string{"--business", "b", "--mode", "stream", "--api-key", "ph_x"}
	tests := []struct {
		name  string
		flags []string
		want  string // in the error; "" for none
	}{
		{name: "defaults", flags: nil},
		{name: "no warm-up", flags: []string{"--warmup", "0"}},
		{name: "no api key", flags: []string{"--api-key", ""}, want: "--api-key"},
		{name: "two tabs", flags: []string{"--tabs", "2", "--sockets", "4"}, want: "--tabs must be 1"},
		{name: "no tokens", flags: []string{"--tokens", "0"}, want: "--tokens"},
		{name: "too many tokens", flags: []string{"--tokens", "3001"}, want: "--tokens"},
		{name: "interval too short", flags: []string{"--token-interval", "500us"}, want: "--token-interval"},
		{name: "interval too long", flags: []string{"--token-interval", "11s"}, want: "--token-interval"},
		{name: "turn too long", flags: []string{"--tokens", "3000", "--token-interval", "1s"}, want: "at most 10m"},
		{name: "negative warm-up", flags: []string{"--warmup", "-1s"}, want: "--warmup"},
		{name: "long think", flags: []string{"--think", "2m"}, want: "--think"},
		{name: "remote provider", flags: []string{"--provider-listen", "0.0.0.0:0"}, want: "--provider-listen"},
		{name: "provider without port", flags: []string{"--provider-listen", "127.0.0.1"}, want: "--provider-listen"},
		{name: "too many streams", flags: []string{"--sockets", "5001"}, want: "--sockets"},
		{name: "metrics", flags: []string{"--metrics", "http://127.0.0.1:1/metrics"}, want: "--metrics"},
		{name: "bad chatbot", flags: []string{"--chatbot", "x"}, want: "--chatbot"},
		{name: "stray word", flags: []string{"ph_second_key", "--sockets", "10"}, want: "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(append(append([]string{}, base...), tt.flags...))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("parseFlags: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("parseFlags: %v, want an error about %s", err, tt.want)
			}
		})
	}
}

func TestNextStamp(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []int64
	}{
		{name: "one", text: "t1732212345678901234 ", want: []int64{1732212345678901234}},
		{name: "two in one delta", text: "t1732212345678901234 t1732212345678901299 ", want: []int64{1732212345678901234, 1732212345678901299}},
		{name: "text around", text: "the t1732212345678901234 end", want: []int64{1732212345678901234}},
		{name: "too short", text: "t173221234567890123 "},
		{name: "no space", text: "t1732212345678901234"},
		{name: "not digits", text: "t17322123456789012x4 "},
		{name: "empty", text: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			for text := tt.text; ; {
				ns, rest, ok := nextStamp(text)
				if !ok {
					break
				}
				got, text = append(got, ns), rest
			}
			if len(got) != len(tt.want) {
				t.Fatalf("stamps %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("stamps %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestTokenChunk: the hand-built content chunk is what json.Marshal makes.
func TestTokenChunk(t *testing.T) {
	got := appendTokenChunk(nil, 1732212345678901234)
	want := chunk(map[string]any{"content": "t1732212345678901234 "}, nil)
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("chunk %s is not JSON: %v", got, err)
	}
	_ = json.Unmarshal(want, &w)
	gj, _ := json.Marshal(g)
	wj, _ := json.Marshal(w)
	if !bytes.Equal(gj, wj) {
		t.Errorf("chunk\n%s\nwant\n%s", got, want)
	}
}
