package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// options are the flags of one run.
type options struct {
	Target, Business, Parent, Metrics string
	Sockets, Tabs, Concurrency        int
	Sources                           []string
	Mode                              string
	Duration, GCWait, Settle          time.Duration
	Rate                              float64

	// Stream mode (stream.go).
	APIKey, Chatbot, ProviderListen string
	Tokens                          int
	TokenInterval, Warmup, Think    time.Duration
}

// maxSockets bounds one run whatever the flags say.
const maxSockets = 30000

func (o *options) validate() error {
	if o.Mode != "idle" && o.Mode != "fanout" && o.Mode != "stream" && o.Mode != "floor" {
		return errors.New("--mode must be idle, fanout, stream or floor")
	}
	if o.Business == "" && o.Mode != "floor" {
		return errors.New("--business is required")
	}
	if o.Tabs < 1 || (o.Mode == "fanout" && o.Tabs < 2) {
		return errors.New("--tabs must be at least 1, and at least 2 for fanout")
	}
	if o.Sockets < o.Tabs || o.Sockets > maxSockets {
		return fmt.Errorf("--sockets must be from --tabs to %d", maxSockets)
	}
	if o.Concurrency < 1 || o.Rate <= 0 {
		return errors.New("--concurrency and --rate must be positive")
	}
	if o.Duration <= 0 || o.Duration > time.Hour || o.GCWait < 0 || o.GCWait > 10*time.Minute {
		return errors.New("--duration must be at most 1h and --gc-wait at most 10m")
	}
	for _, raw := range []string{o.Target, o.Metrics} {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("%q is not an http(s) URL", raw)
		}
		if !loopback(u.Hostname()) {
			return fmt.Errorf("%q: this tool only loads 127.0.0.0/8", raw)
		}
	}
	if len(o.Sources) == 0 {
		return errors.New("--sources needs at least one address")
	}
	for _, s := range o.Sources {
		if !loopback(s) {
			return fmt.Errorf("source %q is not in 127.0.0.0/8", s)
		}
	}
	if o.streams() {
		return o.validateStream()
	}
	return nil
}

// streams reports whether the run streams turns: stream mode against
// Porthole, floor mode against a bare relay (floor.go).
func (o *options) streams() bool { return o.Mode == "stream" || o.Mode == "floor" }

func loopback(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.Is4() && netip.MustParsePrefix("127.0.0.0/8").Contains(a)
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// frameConfig is the part of the frame document's JSON config the tool uses.
type frameConfig struct {
	Ticket string `json:"ticket"`
	WSURL  string `json:"ws_url"`
}

var configElement = regexp.MustCompile(`(?s)<script type="application/json" id="porthole-config">(.*?)</script>`)

// serverFrame is the part of a server frame the tool reads.
type serverFrame struct {
	Type     string `json:"type"`
	Role     string `json:"role"`
	ClientID string `json:"client_id"`
}

// visitor is one session; its tabs share the session id.
type visitor struct {
	id       string
	tabs     []*websocket.Conn
	clientID string
	sentAt   atomic.Int64 // unix ns when tab 0 sent the message; 0 before
	seen     atomic.Bool
}

// loader holds one run's shared state.
type loader struct {
	opts    options
	out     io.Writer
	client  *http.Client
	dialers []*net.Dialer
	next    atomic.Uint64
	closing atomic.Bool // set once the run closes its sockets

	mu        sync.Mutex
	failures  map[string]int
	latencies []time.Duration
	delivered chan struct{}
	readers   sync.WaitGroup

	// chatbot is the frame's chatbot=; stream mode sets it to the chatbot
	// it configured, so the sockets talk to that one.
	chatbot string
	// relayAddr is floor mode's relay, which the sockets dial instead.
	relayAddr string
}

func newLoader(opts options, out io.Writer) *loader {
	l := &loader{opts: opts, out: out, failures: map[string]int{}, delivered: make(chan struct{}, opts.Sockets)}
	for _, s := range opts.Sources {
		l.dialers = append(l.dialers, &net.Dialer{Timeout: 10 * time.Second,
			LocalAddr: &net.TCPAddr{IP: net.ParseIP(s)}})
	}
	tr := &http.Transport{
		DialContext:         func(ctx context.Context, n, a string) (net.Conn, error) { return l.dialer().DialContext(ctx, n, a) },
		MaxIdleConnsPerHost: opts.Concurrency,
		DisableCompression:  true,
	}
	l.client = &http.Client{Transport: tr, Timeout: 15 * time.Second}
	return l
}

// dialer spreads connections over the source addresses.
func (l *loader) dialer() *net.Dialer {
	return l.dialers[l.next.Add(1)%uint64(len(l.dialers))]
}

// wsDialer opens one WebSocket from the next source address.
func (l *loader) wsDialer() *websocket.Dialer {
	return &websocket.Dialer{NetDialContext: l.dialer().DialContext, HandshakeTimeout: 10 * time.Second,
		ReadBufferSize: 1024, WriteBufferSize: 1024}
}

func (l *loader) fail(kind string) {
	l.mu.Lock()
	l.failures[kind]++
	l.mu.Unlock()
}

// fetchFrame loads the frame document and returns its ticket and socket URL.
func (l *loader) fetchFrame(ctx context.Context) (frameConfig, error) {
	q := url.Values{"business": {l.opts.Business}, "parent": {l.opts.Parent}}
	if l.chatbot != "" {
		q.Set("chatbot", l.chatbot)
	}
	u := strings.TrimSuffix(l.opts.Target, "/") + "/widget/frame?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return frameConfig{}, err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return frameConfig{}, fmt.Errorf("frame: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return frameConfig{}, fmt.Errorf("frame: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return frameConfig{}, fmt.Errorf("frame: status %d", resp.StatusCode)
	}
	m := configElement.FindSubmatch(body)
	if m == nil {
		return frameConfig{}, errors.New("frame: no porthole-config element")
	}
	var fc frameConfig
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &fc); err != nil || fc.Ticket == "" || fc.WSURL == "" {
		return frameConfig{}, errors.New("frame: config without ticket or ws_url")
	}
	return fc, nil
}

// connect opens one tab: a fresh frame document, the upgrade with Porthole's
// origin as Origin, hello, and waits for welcome.
func (l *loader) connect(ctx context.Context, v *visitor) (*websocket.Conn, error) {
	if l.relayAddr != "" { // floor mode: the relay's socket, nothing before it
		conn, _, err := l.wsDialer().DialContext(ctx, "ws://"+l.relayAddr+"/ws", nil)
		if err != nil {
			return nil, fmt.Errorf("upgrade: %w", err)
		}
		return conn, nil
	}
	fc, err := l.fetchFrame(ctx)
	if err != nil {
		return nil, err
	}
	ws, err := url.Parse(fc.WSURL)
	if err != nil {
		return nil, fmt.Errorf("ws_url: %w", err)
	}
	origin := "http://" + ws.Host
	if ws.Scheme == "wss" {
		origin = "https://" + ws.Host
	}
	ws.RawQuery = url.Values{"ticket": {fc.Ticket}, "session": {v.id}}.Encode()
	conn, resp, err := l.wsDialer().DialContext(ctx, ws.String(), http.Header{"Origin": {origin}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("upgrade: status %d", resp.StatusCode)
		}
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	hello, _ := json.Marshal(map[string]any{"type": "hello", "session": v.id, "last_seq": 0})
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, hello); err != nil {
		conn.Close()
		return nil, fmt.Errorf("hello: %w", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, raw, err := conn.ReadMessage()
	var f serverFrame
	if err != nil || json.Unmarshal(raw, &f) != nil || f.Type != "welcome" {
		conn.Close()
		return nil, fmt.Errorf("welcome: not received (%v)", err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return conn, nil
}

// read consumes a tab's frames (answering pings) until the socket ends. On
// the last tab it times the arrival of the visitor's message from tab 0.
func (l *loader) read(v *visitor, conn *websocket.Conn, timed bool) {
	defer l.readers.Done()
	for {
		_, raw, err := conn.ReadMessage()
		if err != nil {
			if !l.closing.Load() {
				l.fail("dropped by the server: " + closeText(err))
			}
			return
		}
		if !timed || v.seen.Load() {
			continue
		}
		now := time.Now().UnixNano()
		var f serverFrame
		if json.Unmarshal(raw, &f) != nil || f.Type != "message" || f.Role != "visitor" || f.ClientID != v.clientID {
			continue
		}
		if sent := v.sentAt.Load(); sent != 0 && v.seen.CompareAndSwap(false, true) {
			l.mu.Lock()
			l.latencies = append(l.latencies, time.Duration(now-sent))
			l.mu.Unlock()
			l.delivered <- struct{}{}
		}
	}
}

// report is what a run found.
type report struct {
	Mode                string
	Sockets, Sessions   int
	Opened              int
	Failures            map[string]int
	ConnectTime         time.Duration
	ConnectsPerSecond   float64
	Memory              *memoryDelta
	Sent, Delivered     int
	P50, P99, Max       time.Duration
	FanoutTime          time.Duration
	DeliveriesPerSecond float64
	Stream              *streamReport
	RelayCPU            float64 // floor mode: the relay's CPU, a share of one CPU over its life
}

func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "mode %s: %d sockets (%d sessions), %d open, failures %v\n", r.Mode, r.Sockets, r.Sessions, r.Opened, r.Failures)
	fmt.Fprintf(w, "connects: %d in %s = %.0f/s (frame document + upgrade + hello/welcome)\n", r.Opened, r.ConnectTime.Round(time.Millisecond), r.ConnectsPerSecond)
	if r.Memory != nil {
		r.Memory.print(w, r.Opened)
	}
	if r.Mode == "fanout" {
		fmt.Fprintf(w, "fan-out: %d sent, %d delivered to the other tab in %s; latency p50 %s p99 %s max %s\n",
			r.Sent, r.Delivered, r.FanoutTime.Round(time.Millisecond), r.P50, r.P99, r.Max)
	}
	if r.Stream != nil {
		r.Stream.print(w)
	}
	if r.Mode == "floor" {
		fmt.Fprintf(w, "floor: the relay (in Porthole's place) used %.2f of a CPU over its life\n", r.RelayCPU)
	}
}

// run's results are named so that floor mode's relay, stopped last, can
// add its CPU to the report.
func run(ctx context.Context, opts options, out io.Writer) (rep report, err error) {
	l := newLoader(opts, out)
	sessions := opts.Sockets / opts.Tabs
	rep = report{Mode: opts.Mode, Sockets: sessions * opts.Tabs, Sessions: sessions}
	var provider *fakeProvider
	if opts.streams() {
		// The tool's collector runs on the same two cores as the server
		// and pauses the readers whose receive times are the measurement;
		// collecting about a quarter as often keeps it out of the figure.
		defer debug.SetGCPercent(debug.SetGCPercent(400))
		p, err := startFakeProvider(opts.ProviderListen, opts.Tokens, opts.TokenInterval)
		if err != nil {
			return rep, err
		}
		// Registered before the sockets' close, so it runs after it: no
		// turn loses its provider while its socket is still counted.
		defer p.shutdown()
		provider = p
		if opts.Mode == "floor" {
			relay, err := startFloorRelay(ctx, p.baseURL()+"chat/completions")
			if err != nil {
				return rep, err
			}
			defer func() { rep.RelayCPU = relay.stop() }() // after the sockets' close
			l.relayAddr = relay.addr
		} else if l.chatbot, err = l.configureAssistant(ctx, p.baseURL()); err != nil {
			return rep, err
		}
	}
	visitors := make([]*visitor, sessions)
	for i := range visitors {
		visitors[i] = &visitor{id: porthole.NewID(), tabs: make([]*websocket.Conn, opts.Tabs), clientID: fmt.Sprintf("load-%d", i)}
	}
	defer func() {
		// Close every socket politely, then wait for the readers.
		l.closing.Store(true)
		for _, v := range visitors {
			for _, c := range v.tabs {
				if c != nil {
					_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "load done"), time.Now().Add(time.Second))
					c.Close()
				}
			}
		}
		l.readers.Wait()
	}()

	var before *memorySample
	if opts.Metrics != "" {
		s, err := l.sampleMemory(ctx, "before")
		if err != nil {
			return rep, err
		}
		before = &s
	}

	// Connect phase: a pool of workers over every (session, tab).
	work := make(chan int)
	var opened atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range opts.Concurrency {
		wg.Go(func() {
			for i := range work {
				v := visitors[i/opts.Tabs]
				tab := i % opts.Tabs
				conn, err := l.connect(ctx, v)
				if err != nil {
					l.fail(failureKind(err))
					continue
				}
				v.tabs[tab] = conn
				opened.Add(1)
				if opts.streams() {
					continue // its reader starts with the turns (stream.go)
				}
				l.readers.Add(1)
				go l.read(v, conn, opts.Mode == "fanout" && tab == opts.Tabs-1)
			}
		})
	}
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
feed:
	for i := range rep.Sockets {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		case <-progress.C:
			fmt.Fprintf(out, "  %d open after %s\n", opened.Load(), time.Since(start).Round(time.Second))
			work <- i
		}
	}
	close(work)
	wg.Wait()
	rep.ConnectTime = time.Since(start)
	rep.Opened = int(opened.Load())
	rep.ConnectsPerSecond = float64(rep.Opened) / rep.ConnectTime.Seconds()
	rep.Failures = l.failures
	fmt.Fprintf(out, "  %d open after %s\n", rep.Opened, rep.ConnectTime.Round(time.Millisecond))
	if err := ctx.Err(); err != nil {
		return rep, err
	}

	if before != nil {
		select {
		case <-time.After(opts.Settle):
		case <-ctx.Done():
			return rep, ctx.Err()
		}
		after, err := l.sampleMemory(ctx, "after")
		if err != nil {
			return rep, err
		}
		rep.Memory = &memoryDelta{Before: *before, After: after}
	}

	if opts.Mode == "idle" {
		fmt.Fprintf(out, "  holding %d sockets for %s\n", rep.Opened, opts.Duration)
		select {
		case <-time.After(opts.Duration):
		case <-ctx.Done():
		}
		rep.Failures = l.failures
		return rep, nil
	}
	if opts.streams() {
		return rep, l.stream(ctx, visitors, provider, &rep)
	}
	return rep, l.fanout(ctx, visitors, &rep)
}

// fanout sends one message per session from tab 0 at the configured rate
// and waits for the last tab to receive it as a stored message.
func (l *loader) fanout(ctx context.Context, visitors []*visitor, rep *report) error {
	interval := time.Duration(float64(time.Second) / l.opts.Rate)
	tick := time.NewTicker(max(interval, time.Microsecond))
	defer tick.Stop()
	start := time.Now()
	for _, v := range visitors {
		if v.tabs[0] == nil || v.tabs[len(v.tabs)-1] == nil {
			continue
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		msg, _ := json.Marshal(map[string]string{"type": "message", "client_id": v.clientID, "text": "fan-out probe"})
		v.sentAt.Store(time.Now().UnixNano())
		_ = v.tabs[0].SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := v.tabs[0].WriteMessage(websocket.TextMessage, msg); err != nil {
			l.fail("send")
			continue
		}
		rep.Sent++
	}
	deadline := time.NewTimer(l.opts.Duration)
	defer deadline.Stop()
wait:
	for rep.Delivered < rep.Sent {
		select {
		case <-l.delivered:
			rep.Delivered++
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	rep.FanoutTime = time.Since(start)
	l.mu.Lock()
	lat := slices.Clone(l.latencies)
	l.mu.Unlock()
	slices.Sort(lat)
	p := func(q float64) time.Duration { return percentile(lat, q).Round(10 * time.Microsecond) }
	rep.P50, rep.P99, rep.Max = p(0.50), p(0.99), p(1)
	rep.Failures = l.failures
	return nil
}

// percentile returns the nearest-rank percentile of sorted durations,
// unrounded: each mode rounds to the precision its report needs.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// closeText names why a socket ended: its close code, or the error.
func closeText(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("close %d %s", ce.Code, ce.Text)
	}
	return err.Error()
}

func failureKind(err error) string {
	s := err.Error()
	if i := strings.Index(s, ":"); i > 0 && strings.HasPrefix(s[i:], ": status") {
		return s
	}
	if i := strings.Index(s, ":"); i > 0 {
		return s[:i]
	}
	return s
}
