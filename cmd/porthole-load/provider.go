package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// fakeModel is the model name the fake provider answers as and stream mode
// configures.
const fakeModel = "porthole-load"

// The fixed parts of a content chunk around its text, so a token is written
// without marshaling: the stamp is digits and a space, which JSON needs no
// escaping for. TestTokenChunk checks this is the chunk json.Marshal makes.
const (
	tokenChunkHead = `{"id":"chatcmpl-load","object":"chat.completion.chunk","created":1700000000,"model":"` + fakeModel +
		`","choices":[{"index":0,"delta":{"content":"`
	tokenChunkTail = `"},"logprobs":null,"finish_reason":null}]}`
)

// fakeProvider is a local OpenAI-compatible chat-completions server. Every
// content chunk carries the time it was written ("t<unix nanos> "), taken
// after the pacing wait and right before the write, so a visitor's client
// can tell how long the token took through Porthole without the pacing in
// the figure. Its own write is in the figure: an upper bound on Porthole's
// share, as in internal/assistant's BenchmarkStreamedTokenOverhead.
type fakeProvider struct {
	tokens   int
	interval time.Duration
	// requests counts chat-completions requests; 0 after a failed turn
	// means the server never reached us.
	requests atomic.Int64

	ln                                 net.Listener
	srv                                *http.Server
	served                             chan error
	roleChunk, finishChunk, usageChunk []byte
}

// startFakeProvider listens on addr and serves replies of tokens chunks,
// one every interval.
func startFakeProvider(addr string, tokens int, interval time.Duration) (*fakeProvider, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake provider: %w", err)
	}
	p := &fakeProvider{tokens: tokens, interval: interval, ln: ln, served: make(chan error, 1),
		roleChunk:   chunk(map[string]any{"role": "assistant", "content": ""}, nil),
		finishChunk: chunk(map[string]any{}, "stop"),
		usageChunk: mustJSON(map[string]any{"id": "chatcmpl-load", "object": "chat.completion.chunk", "created": 1700000000,
			"model": fakeModel, "choices": []any{},
			"usage": map[string]any{"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", p.complete)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { p.served <- p.srv.Serve(ln) }()
	return p, nil
}

// baseURL is the base_url the chatbot's assistant is given.
func (p *fakeProvider) baseURL() string { return "http://" + p.ln.Addr().String() + "/v1/" }

// shutdown lets finished streams' connections go, cuts any still running
// after a grace period, and waits for the server to stop.
func (p *fakeProvider) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if p.srv.Shutdown(ctx) != nil {
		_ = p.srv.Close()
	}
	<-p.served
}

// complete answers one streaming chat completion: a role chunk, a random
// phase, then one stamped content chunk per interval, the finish and usage
// chunks and [DONE]. The request is read and ignored.
func (p *fakeProvider) complete(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 4<<20))
	sse := newSSEWriter(w)
	if sse.data(p.roleChunk) != nil {
		return
	}
	// Streams start at random phases, as real replies do; tickers in phase
	// would make every token of a round arrive in one burst and measure
	// that burst's queue instead.
	phase := time.NewTimer(rand.N(p.interval))
	select {
	case <-r.Context().Done():
		phase.Stop()
		return
	case <-phase.C:
	}
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	buf := make([]byte, 0, len(tokenChunkHead)+len(tokenChunkTail)+24)
	for range p.tokens {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
		if sse.data(appendTokenChunk(buf[:0], time.Now().UnixNano())) != nil {
			return
		}
	}
	if sse.data(p.finishChunk) != nil || sse.data(p.usageChunk) != nil {
		return
	}
	_ = sse.data([]byte("[DONE]"))
}

// appendTokenChunk appends the content chunk of the token stamped ns.
func appendTokenChunk(b []byte, ns int64) []byte {
	b = append(b, tokenChunkHead...)
	b = append(b, 't')
	b = strconv.AppendInt(b, ns, 10)
	b = append(b, ' ')
	return append(b, tokenChunkTail...)
}

// chunk is a chat.completion.chunk with one choice.
func chunk(delta map[string]any, finish any) []byte {
	return mustJSON(map[string]any{"id": "chatcmpl-load", "object": "chat.completion.chunk", "created": 1700000000,
		"model": fakeModel, "choices": []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings and numbers are given
	}
	return b
}

// sseWriter writes OpenAI's server-sent events: "data: payload" and a
// blank line, flushed at once so each chunk leaves when it is stamped.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newSSEWriter(w http.ResponseWriter) sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return sseWriter{w: w, rc: http.NewResponseController(w)}
}

var (
	sseDataPrefix = []byte("data: ")
	sseEventEnd   = []byte("\n\n")
)

func (s sseWriter) data(payload []byte) error {
	for _, b := range [][]byte{sseDataPrefix, payload, sseEventEnd} {
		if _, err := s.w.Write(b); err != nil {
			return err
		}
	}
	return s.rc.Flush()
}
