package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Bounds of stream mode.
const (
	// maxStreams: each stream holds a visitor socket and a provider
	// connection in this process, and the tool must stay light beside the
	// server it measures.
	maxStreams = 5000
	// maxStreamTokens keeps a reply under the store's 64 KiB cap on one
	// event's text (store.MaxEventText) at 21 bytes a stamp; a longer reply
	// would end every turn in error.
	maxStreamTokens = 3000
	// maxTurnLength bounds one reply (tokens x interval), and with it how
	// long the end of a run waits for the turns still streaming.
	maxTurnLength = 10 * time.Minute
	// widgetMessagesPerMinute is the widget's limit of messages per session
	// (internal/widget DefaultLimits().MessagesPerSession), which has no
	// setting: shorter turns than it allows are refused.
	widgetMessagesPerMinute = 20
	// refusedBackoff is the least pause after the server refused a message.
	refusedBackoff = time.Second
)

// errPrivateBaseURL is the likeliest reason a turn fails before the server
// ever reached the fake provider.
var errPrivateBaseURL = errors.New("a turn ended in error before the fake provider got any request: " +
	"the server refuses loopback provider base URLs unless serve runs with --llm-allow-private-base-urls")

func (o *options) validateStream() error {
	switch {
	case o.APIKey == "" && o.Mode == "stream":
		return errors.New("--mode stream needs --api-key (porthole admin create-api-key --org ID --name load --data-dir DIR)")
	case o.Tabs != 1:
		return fmt.Errorf("--mode %s opens one tab per visitor: --tabs must be 1", o.Mode)
	case o.Sockets > maxStreams:
		return fmt.Errorf("--mode %s: --sockets must be at most %d", o.Mode, maxStreams)
	case o.Metrics != "":
		return errors.New("--metrics is for idle and fanout modes (stream mode measures latency, not memory)")
	case o.Chatbot != "" && !porthole.ValidID(o.Chatbot):
		return errors.New("--chatbot is not a chatbot id")
	case o.Tokens < 1 || o.Tokens > maxStreamTokens:
		return fmt.Errorf("--tokens must be from 1 to %d (a reply is at most 64 KiB)", maxStreamTokens)
	case o.TokenInterval < time.Millisecond || o.TokenInterval > 10*time.Second:
		return errors.New("--token-interval must be from 1ms to 10s")
	case time.Duration(o.Tokens)*o.TokenInterval > maxTurnLength:
		return fmt.Errorf("--tokens x --token-interval must be at most %s", maxTurnLength)
	case o.Warmup < 0 || o.Warmup > 10*time.Minute:
		return errors.New("--warmup must be from 0 to 10m")
	case o.Think < 0 || o.Think > time.Minute:
		return errors.New("--think must be from 0 to 1m")
	}
	host, _, err := net.SplitHostPort(o.ProviderListen)
	if err != nil || !loopback(host) {
		return fmt.Errorf("--provider-listen %q must be host:port on 127.0.0.0/8", o.ProviderListen)
	}
	return nil
}

// streamRun is the shared state of one stream-mode run.
type streamRun struct {
	l        *loader
	provider *fakeProvider
	abort    context.CancelCauseFunc
	// Tokens stamped in [from, to) are measured; turns that end done in it
	// are counted.
	from, to     time.Time
	fromNS, toNS int64
	think        time.Duration

	inFlight  atomic.Int64 // turns sent and not yet ended
	turnsDone atomic.Int64
}

// nextTurnDelay is the think time before a socket's next turn.
func (r *streamRun) nextTurnDelay() time.Duration { return randomBelow(r.think) }

func randomBelow(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// streamSocket is one visitor socket of stream mode. Its reader runs for
// the socket's life, so pings are answered during think times too; each
// turn is sent from a timer the reader sets when the previous one ends.
type streamSocket struct {
	run  *streamRun
	conn *websocket.Conn
	name string // prefix of its client ids

	mu      sync.Mutex // orders sends against stop; one write at a time
	stopped bool
	timer   *time.Timer
	turns   int

	inFlight atomic.Bool

	latMu     sync.Mutex
	latencies []time.Duration // of its tokens stamped in the window
	// The running turn's newest measured token, and that token of every
	// turn ended: a reply's last token is the one the turn's end (stored
	// right after it) can hold up, so it is reported on its own too.
	turnLast    time.Duration
	turnHasLast bool
	lastOfTurns []time.Duration
}

// schedule sends the next turn after d, unless the run stopped turns.
func (s *streamSocket) schedule(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.timer = time.AfterFunc(d, s.send)
	}
}

// stop starts no more turns on this socket; the running one may finish.
func (s *streamSocket) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.timer != nil {
		s.timer.Stop()
	}
}

// send starts a turn: one visitor message with a fresh client id.
func (s *streamSocket) send() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.turns++
	msg := fmt.Appendf(nil, `{"type":"message","client_id":"%s-%d","text":"hi"}`, s.name, s.turns)
	s.inFlight.Store(true)
	s.run.inFlight.Add(1)
	_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := s.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
		s.endTurn()
		if !s.run.l.closing.Load() {
			s.run.l.fail("send")
		}
	}
}

// endTurn marks the socket's turn over; it reports whether one was running.
func (s *streamSocket) endTurn() bool {
	if s.inFlight.CompareAndSwap(true, false) {
		s.run.inFlight.Add(-1)
		return true
	}
	return false
}

// streamFrame is the part of a server frame stream mode reads.
type streamFrame struct {
	Type    string `json:"type"`
	Text    string `json:"text"`
	Status  string `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// read consumes the socket's frames until it ends: it times the stamped
// tokens of deltas and starts the next turn when one ends.
func (s *streamSocket) read() {
	r := s.run
	defer r.l.readers.Done()
	for {
		_, raw, err := s.conn.ReadMessage()
		now := time.Now() // the receive time of every token in the frame
		if err != nil {
			if !r.l.closing.Load() {
				r.l.fail("dropped by the server: " + closeText(err))
			}
			s.endTurn()
			return
		}
		var f streamFrame
		if json.Unmarshal(raw, &f) != nil {
			r.l.fail("frame is not JSON")
			continue
		}
		switch f.Type {
		case "delta":
			s.record(now, f.Text)
		case "turn_end":
			s.turnEnded(now, f.Status)
		case "error": // the server refused the message (rate limit, ...)
			r.l.fail("error frame: " + f.Code + " " + f.Message)
			s.endTurn()
			s.schedule(max(refusedBackoff, r.nextTurnDelay()))
		}
	}
}

// record keeps the latency of each token in text stamped in the window.
func (s *streamSocket) record(now time.Time, text string) {
	r := s.run
	nowNS := now.UnixNano()
	for {
		ns, rest, ok := nextStamp(text)
		if !ok {
			return
		}
		text = rest
		if ns < r.fromNS || ns >= r.toNS {
			continue
		}
		lat := time.Duration(nowNS - ns)
		s.latMu.Lock()
		s.latencies = append(s.latencies, lat)
		s.turnLast, s.turnHasLast = lat, true
		s.latMu.Unlock()
	}
}

func (s *streamSocket) turnEnded(now time.Time, status string) {
	r := s.run
	s.latMu.Lock()
	if s.turnHasLast && status == "done" {
		s.lastOfTurns = append(s.lastOfTurns, s.turnLast)
	}
	s.turnHasLast = false
	s.latMu.Unlock()
	running := s.endTurn()
	switch {
	case status != "done":
		r.l.fail("turn ended " + status)
		if status == "error" && r.provider.requests.Load() == 0 {
			r.abort(errPrivateBaseURL)
			return
		}
	case running && !now.Before(r.from) && now.Before(r.to):
		r.turnsDone.Add(1)
	}
	s.schedule(r.nextTurnDelay())
}

// stampLen is the length of "t<19 digits> ", one stamp.
const stampLen = 21

// nextStamp finds the first stamp "t<19 digits> " in text and returns its
// unix nanoseconds and the text after it.
func nextStamp(text string) (ns int64, rest string, ok bool) {
	for i := 0; i+stampLen <= len(text); i++ {
		if text[i] != 't' || text[i+stampLen-1] != ' ' {
			continue
		}
		var v int64
		digits := true
		for _, c := range []byte(text[i+1 : i+stampLen-1]) {
			if c < '0' || c > '9' {
				digits = false
				break
			}
			v = v*10 + int64(c-'0')
		}
		if digits {
			return v, text[i+stampLen:], true
		}
	}
	return 0, "", false
}

// stream runs turns on every open socket until the window ends, then
// waits for the running turns and reports the latency of the tokens
// stamped in the window.
func (l *loader) stream(ctx context.Context, visitors []*visitor, provider *fakeProvider, rep *report) error {
	o := l.opts
	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	start := time.Now()
	r := &streamRun{l: l, provider: provider, abort: abort, think: o.Think,
		from: start.Add(o.Warmup), to: start.Add(o.Warmup + o.Duration)}
	r.fromNS, r.toNS = r.from.UnixNano(), r.to.UnixNano()
	turn := time.Duration(o.Tokens) * o.TokenInterval
	if perMinute := float64(time.Minute) / float64(turn+o.TokenInterval/2+o.Think/2); perMinute > widgetMessagesPerMinute {
		fmt.Fprintf(l.out, "  warning: about %.0f turns a minute per socket; the widget refuses a session's messages past %d a minute\n",
			perMinute, widgetMessagesPerMinute)
	}
	// First turns start spread over one turn's length (within the
	// warm-up), so turn starts and ends stay spread over the run instead
	// of coming in waves.
	stagger := min(turn, o.Warmup)
	var sockets []*streamSocket
	for i, v := range visitors {
		if v.tabs[0] == nil {
			continue
		}
		s := &streamSocket{run: r, conn: v.tabs[0], name: fmt.Sprintf("load-%d", i)}
		sockets = append(sockets, s)
		l.readers.Add(1)
		go s.read()
		s.schedule(randomBelow(stagger))
	}
	stopTurns := func() {
		for _, s := range sockets {
			s.stop()
		}
	}
	defer stopTurns()
	fmt.Fprintf(l.out, "  %d streams: warm-up %s, then measuring for %s\n", len(sockets), o.Warmup, o.Duration)

	samples, err := r.sampleInFlight(ctx)
	stopTurns()
	if err != nil {
		return err
	}
	fmt.Fprintf(l.out, "  window over; waiting for %d running turns to end\n", r.inFlight.Load())
	unfinished := r.drain(ctx, turn+o.TokenInterval+30*time.Second)
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}

	var all, lasts []time.Duration
	for _, s := range sockets {
		s.latMu.Lock()
		all = append(all, s.latencies...)
		lasts = append(lasts, s.lastOfTurns...)
		s.latMu.Unlock()
	}
	slices.Sort(all)
	slices.Sort(lasts)
	slices.Sort(samples)
	p := func(q float64) time.Duration { return percentile(all, q).Round(time.Microsecond) }
	sr := &streamReport{Streams: len(sockets), Tokens: o.Tokens, Interval: o.TokenInterval, Warmup: o.Warmup, Window: o.Duration,
		Measured: len(all), TokensPerSecond: float64(len(all)) / o.Duration.Seconds(), TurnsDone: int(r.turnsDone.Load()),
		Unfinished: unfinished, ProviderRequests: provider.requests.Load(),
		P50: p(0.50), P90: p(0.90), P99: p(0.99), P999: p(0.999), Max: p(1), InFlightSamples: len(samples),
		LastMeasured: len(lasts)}
	if len(lasts) > 0 {
		q := func(q float64) time.Duration { return percentile(lasts, q).Round(time.Microsecond) }
		sr.LastP50, sr.LastP90, sr.LastP99 = q(0.50), q(0.90), q(0.99)
	}
	if len(samples) > 0 {
		sr.InFlightMin, sr.InFlightMedian, sr.InFlightMax = samples[0], samples[len(samples)/2], samples[len(samples)-1]
	}
	rep.Stream = sr
	l.mu.Lock()
	rep.Failures = maps.Clone(l.failures) // readers may still count the closing
	l.mu.Unlock()
	return nil
}

// sampleInFlight waits for the window and counts the running turns once a
// second through it and at its end, so the report shows the concurrency
// really was there.
func (r *streamRun) sampleInFlight(ctx context.Context) ([]int, error) {
	warm := time.NewTimer(time.Until(r.from))
	defer warm.Stop()
	select {
	case <-warm.C:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.NewTimer(time.Until(r.to))
	defer end.Stop()
	var samples []int
	for {
		select {
		case <-tick.C:
			samples = append(samples, int(r.inFlight.Load()))
		case <-end.C: // the turns are still running: one more sample
			return append(samples, int(r.inFlight.Load())), nil
		case <-ctx.Done():
			return samples, context.Cause(ctx)
		}
	}
}

// drain waits up to limit for the running turns to end, so tokens stamped
// late in the window are received and counted; it returns how many were
// still running.
func (r *streamRun) drain(ctx context.Context, limit time.Duration) int {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for r.inFlight.Load() > 0 {
		select {
		case <-poll.C:
		case <-deadline.C:
			return int(r.inFlight.Load())
		case <-ctx.Done():
			return int(r.inFlight.Load())
		}
	}
	return 0
}

// streamReport is what stream mode found.
type streamReport struct {
	Streams, Tokens          int
	Interval, Warmup, Window time.Duration
	Measured                 int // tokens stamped in the window
	TokensPerSecond          float64
	TurnsDone, Unfinished    int
	ProviderRequests         int64
	P50, P90, P99, P999, Max time.Duration
	// Of each reply's last token (counted in the figures above too).
	LastMeasured                             int
	LastP50, LastP90, LastP99                time.Duration
	InFlightSamples                          int
	InFlightMin, InFlightMedian, InFlightMax int
}

func (s *streamReport) print(w io.Writer) {
	fmt.Fprintf(w, "stream: %d streams x %d tokens every %s; warm-up %s, window %s: %d tokens (%.0f/s), %d turns done, %d provider requests\n",
		s.Streams, s.Tokens, s.Interval, s.Warmup, s.Window, s.Measured, s.TokensPerSecond, s.TurnsDone, s.ProviderRequests)
	fmt.Fprintf(w, "stream: overhead per token (provider write to visitor read) p50 %s p90 %s p99 %s p99.9 %s max %s\n",
		s.P50, s.P90, s.P99, s.P999, s.Max)
	if s.LastMeasured > 0 {
		fmt.Fprintf(w, "stream: each reply's last token (%d replies) p50 %s p90 %s p99 %s\n", s.LastMeasured, s.LastP50, s.LastP90, s.LastP99)
	}
	fmt.Fprintf(w, "stream: streams in flight (sampled each second, %d samples): min %d median %d max %d\n",
		s.InFlightSamples, s.InFlightMin, s.InFlightMedian, s.InFlightMax)
	if s.Unfinished > 0 {
		fmt.Fprintf(w, "stream: %d turns were still running when the run stopped waiting\n", s.Unfinished)
	}
}
