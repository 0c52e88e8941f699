package widget_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
	"github.com/porthole-chat/porthole/internal/widget"
)

// serverFrame is any server frame, as the widget would decode it.
type serverFrame struct {
	Type           string        `json:"type"`
	Seq            int64         `json:"seq"`
	ID             string        `json:"id"`
	Role           string        `json:"role"`
	Text           string        `json:"text"`
	ClientID       string        `json:"client_id"`
	TurnID         string        `json:"turn_id"`
	Status         string        `json:"status"`
	Code           string        `json:"code"`
	ConversationID string        `json:"conversation_id"`
	History        []serverFrame `json:"history"`
	Ticket         string        `json:"ticket"`
	FormID         string        `json:"form_id"`
}

func mustDialURL(tb testing.TB, e *env, u string) *websocket.Conn {
	tb.Helper()
	c, _, err := websocket.Dial(context.Background(), u, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {e.ts.URL}}})
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { c.CloseNow() })
	return c
}

func send(tb testing.TB, c *websocket.Conn, v any) {
	tb.Helper()
	b, _ := json.Marshal(v)
	if err := c.Write(context.Background(), websocket.MessageText, b); err != nil {
		tb.Fatalf("write: %v", err)
	}
}

func readFrame(tb testing.TB, c *websocket.Conn) serverFrame {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		tb.Fatalf("read: %v", err)
	}
	var f serverFrame
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatalf("frame %s: %v", b, err)
	}
	return f
}

// readUntil reads frames up to and including one of type typ; it returns them all.
func readUntil(tb testing.TB, c *websocket.Conn, typ string) []serverFrame {
	tb.Helper()
	var out []serverFrame
	for {
		f := readFrame(tb, c)
		out = append(out, f)
		if f.Type == typ {
			return out
		}
	}
}

// mustConnect opens a socket for session and completes hello/welcome.
func mustConnect(tb testing.TB, e *env, session string, lastSeq int64) (*websocket.Conn, serverFrame) {
	tb.Helper()
	cfg := mustFrameConfig(tb, e, shopOrigin)
	c := mustDialURL(tb, e, wsURL(cfg, cfg.Ticket, session))
	send(tb, c, map[string]any{"type": "hello", "session": session, "last_seq": lastSeq})
	w := readFrame(tb, c)
	if w.Type != "welcome" || w.ConversationID == "" || w.Ticket == "" {
		tb.Fatalf("welcome = %+v", w)
	}
	return c, w
}

// storedSeqs returns the seqs of stored frames, checking they increase by one.
func storedSeqs(tb testing.TB, frames []serverFrame, after int64) []int64 {
	tb.Helper()
	var seqs []int64
	for _, f := range frames {
		if f.Seq == 0 {
			continue
		}
		if f.Seq != after+1 {
			tb.Fatalf("seq %d after %d: frames %+v", f.Seq, after, frames)
		}
		after = f.Seq
		seqs = append(seqs, f.Seq)
	}
	return seqs
}

func TestConversationOverWebSocket(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		e := mustEnv(t, db, envOptions{})
		session := porthole.NewID()
		a, w := mustConnect(t, e, session, 0)
		if len(w.History) != 0 || w.Seq != 0 {
			t.Fatalf("first welcome = %+v", w)
		}
		b, _ := mustConnect(t, e, session, 0) // a second tab

		send(t, a, map[string]any{"type": "message", "client_id": "m1", "text": "hello there"})
		framesA := readUntil(t, a, "turn_end")
		framesB := readUntil(t, b, "turn_end")
		for name, frames := range map[string][]serverFrame{"tab a": framesA, "tab b": framesB} {
			if seqs := storedSeqs(t, frames, 0); len(seqs) != 3 {
				t.Fatalf("%s stored seqs = %v, want 1..3", name, seqs)
			}
			var deltas []string
			var reply serverFrame
			for _, f := range frames {
				switch {
				case f.Type == "delta":
					deltas = append(deltas, f.Text)
				case f.Type == "message" && f.Role == "assistant":
					reply = f
				}
			}
			if len(deltas) < 3 || strings.Join(deltas, "") != reply.Text || reply.Text != "Thanks for your message. You said: hello there" {
				t.Fatalf("%s: deltas %q, reply %+v", name, deltas, reply)
			}
			if frames[0].Type != "message" || frames[0].Role != "visitor" || frames[0].ClientID != "m1" || frames[0].Seq != 1 {
				t.Fatalf("%s first frame = %+v", name, frames[0])
			}
			if end := frames[len(frames)-1]; end.Status != "done" || end.Seq != 3 {
				t.Fatalf("%s turn_end = %+v", name, end)
			}
		}

		// A retry with the same client id returns the stored message, no new turn.
		send(t, a, map[string]any{"type": "message", "client_id": "m1", "text": "hello there"})
		if f := readFrame(t, a); f.Type != "message" || f.Seq != 1 || f.ClientID != "m1" {
			t.Fatalf("retry answer = %+v", f)
		}
		send(t, a, map[string]any{"type": "nonsense"})
		if f := readFrame(t, a); f.Type != "error" || f.Code != porthole.EINVALID {
			t.Fatalf("unknown type answer = %+v", f)
		}

		// Tab b goes away; two more turns happen; it reconnects with last_seq 3.
		b.Close(websocket.StatusNormalClosure, "")
		for _, id := range []string{"m2", "m3"} {
			send(t, a, map[string]any{"type": "message", "client_id": id, "text": "more " + id})
			readUntil(t, a, "turn_end")
		}
		b2, w2 := mustConnect(t, e, session, 3)
		if seqs := storedSeqs(t, w2.History, 3); len(seqs) != 6 || w2.Seq != 9 {
			t.Fatalf("resume history seqs = %v (welcome seq %d), want 4..9", seqs, w2.Seq)
		}
		send(t, b2, map[string]any{"type": "typing"})
		send(t, b2, map[string]any{"type": "message", "client_id": "m4", "text": "after resume"})
		if seqs := storedSeqs(t, readUntil(t, b2, "turn_end"), 9); len(seqs) != 3 {
			t.Fatalf("after resume seqs = %v", seqs)
		}

		// Restart: a new Server and chat service on the same database.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.stop(t, ctx)
		e2 := mustEnv(t, db, envOptions{org: &e.org, bot: &e.bot})
		_, w3 := mustConnect(t, e2, session, 10)
		if seqs := storedSeqs(t, w3.History, 10); len(seqs) != 2 || w3.Seq != 12 || w3.History[0].Role != "assistant" {
			t.Fatalf("after restart history = %+v (seq %d)", w3.History, w3.Seq)
		}
		_, w4 := mustConnect(t, e2, session, 0)
		if seqs := storedSeqs(t, w4.History, 0); len(seqs) != 12 {
			t.Fatalf("full history after restart = %v", seqs)
		}
	})
}

func TestCancelStopsTheTurn(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	e := mustEnv(t, db, envOptions{delay: 150 * time.Millisecond})
	c, _ := mustConnect(t, e, porthole.NewID(), 0)
	send(t, c, map[string]any{"type": "message", "client_id": "m1", "text": "tell me a long story please"})
	for f := readFrame(t, c); f.Type != "delta"; f = readFrame(t, c) {
	}
	send(t, c, map[string]any{"type": "cancel"})
	frames := readUntil(t, c, "turn_end")
	end := frames[len(frames)-1]
	if end.Status != "canceled" {
		t.Fatalf("turn_end = %+v", end)
	}
	for _, f := range frames {
		if f.Type == "message" && f.Role == "assistant" && strings.HasSuffix(f.Text, "please") {
			t.Fatalf("the whole reply was stored despite cancel: %+v", f)
		}
	}
}

func TestFollowUpWhileStreaming(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	e := mustEnv(t, db, envOptions{delay: 100 * time.Millisecond})
	c, _ := mustConnect(t, e, porthole.NewID(), 0)
	send(t, c, map[string]any{"type": "message", "client_id": "m1", "text": "first question here"})
	for f := readFrame(t, c); f.Type != "delta"; f = readFrame(t, c) {
	}
	send(t, c, map[string]any{"type": "message", "client_id": "m2", "text": "follow-up"})
	first := readUntil(t, c, "turn_end")
	if first[len(first)-1].Status != "canceled" {
		t.Fatalf("first turn = %+v", first)
	}
	second := readUntil(t, c, "turn_end")
	if second[len(second)-1].Status != "done" {
		t.Fatalf("second turn = %+v", second)
	}
	found := false
	for _, f := range second {
		found = found || (f.Role == "assistant" && f.Text == "Thanks for your message. You said: follow-up")
	}
	if !found {
		t.Fatalf("no reply to the follow-up: %+v", second)
	}
}

func TestOversizedFrameClosesSocket(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	e := mustEnv(t, db, envOptions{})
	c, _ := mustConnect(t, e, porthole.NewID(), 0)
	send(t, c, map[string]any{"type": "message", "client_id": "big", "text": strings.Repeat("a", 20<<10)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("read after oversized frame: %v, want close 1009", err)
	}
	// Under the frame cap but over the text cap: an error, the socket stays.
	c2, _ := mustConnect(t, e, porthole.NewID(), 0)
	send(t, c2, map[string]any{"type": "message", "client_id": "long", "text": strings.Repeat("a", 4001)})
	if f := readFrame(t, c2); f.Type != "error" || f.Code != porthole.ETOOLARGE {
		t.Fatalf("over-long text answer = %+v", f)
	}
}

func TestPerSessionMessageLimit(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	e := mustEnv(t, db, envOptions{limits: widget.Limits{MessagesPerSession: porthole.Limit{N: 2, Window: time.Minute}}})
	c, _ := mustConnect(t, e, porthole.NewID(), 0)
	for i := 0; i < 2; i++ {
		send(t, c, map[string]any{"type": "message", "client_id": "m" + string(rune('0'+i)), "text": "hi"})
		readUntil(t, c, "turn_end")
	}
	send(t, c, map[string]any{"type": "message", "client_id": "m9", "text": "hi"})
	f := readFrame(t, c)
	if f.Type != "error" || f.Code != porthole.ERATELIMITED || f.ClientID != "m9" {
		t.Fatalf("third message answer = %+v", f)
	}
	if k := e.events.kinds(); len(k) != 1 || k[0] != porthole.SecRateLimited {
		t.Fatalf("security events = %v", k)
	}
}

func TestHelloRequired(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	e := mustEnv(t, db, envOptions{})
	cfg := mustFrameConfig(t, e, shopOrigin)
	session := porthole.NewID()
	c := mustDialURL(t, e, wsURL(cfg, cfg.Ticket, session))
	send(t, c, map[string]any{"type": "hello", "session": porthole.NewID()}) // another session than the URL's
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("read = %v, want close 1008", err)
	}
}

func TestShutdownClosesWithReason(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	e := mustEnv(t, db, envOptions{})
	c, _ := mustConnect(t, e, porthole.NewID(), 0)
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Read(context.Background())
		errc <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || ce.Reason != "server shutting down" {
		t.Fatalf("close = %v, want 1001 server shutting down", err)
	}
}

// ipEngine answers with the client IP its turn was given.
type ipEngine struct{}

func (ipEngine) Stream(ctx context.Context, in chat.TurnInput, emit func(string) error) (chat.TurnRecord, error) {
	return chat.TurnRecord{}, emit("ip=" + in.ClientIP.String())
}

// TestTurnsKnowTheVisitorsIP: the socket's client address reaches every
// turn, so per-IP budgets apply to visitors.
func TestTurnsKnowTheVisitorsIP(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	e := mustEnv(t, db, envOptions{engine: ipEngine{}})
	c, _ := mustConnect(t, e, porthole.NewID(), 0)
	send(t, c, map[string]any{"type": "message", "client_id": "m1", "text": "who am I?"})
	frames := readUntil(t, c, "turn_end")
	for _, f := range frames {
		if f.Type == "message" && f.Role == "assistant" {
			if f.Text != "ip=127.0.0.1" {
				t.Fatalf("assistant saw %q; want ip=127.0.0.1", f.Text)
			}
			return
		}
	}
	t.Fatalf("no assistant message in %+v", frames)
}
