package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/porthole-chat/porthole/internal/widget/assets"
)

// fakePorthole stands in for the widget server: it serves the real assets and
// frame template, a frame CSP like the real one, and /widget/ws speaking
// docs/widget-protocol.md with a scripted turn engine. It records what a test
// needs to see from the server side.
type fakePorthole struct {
	URL      string // http://127.0.0.1:port
	business string
	allowed  []string // origins allowed to frame the widget

	frameRequests  atomic.Int64
	scriptRequests atomic.Int64
	connects       atomic.Int64 // sockets accepted
	open           atomic.Int64 // sockets open now

	mu       sync.Mutex
	events   []map[string]any          // stored conversation events (one conversation: tests use one session)
	byClient map[string]map[string]any // client_id -> stored message
	sockets  map[*fakeSocket]bool
	hellos   []int // last_seq of every hello
	turn     *fakeTurn
	turnSeq  int
}

// fakeSocket writes from one goroutine in the order frames were queued, so
// deltas and stored events keep the order the server produced them in.
type fakeSocket struct {
	conn *websocket.Conn
	out  chan map[string]any
}

type fakeTurn struct {
	id     string
	cancel chan struct{}
	once   sync.Once
}

const fakeTicket = "fake-ticket"

func mustFakePorthole(tb testing.TB, business string, allowed ...string) *fakePorthole {
	tb.Helper()
	f := &fakePorthole{business: business, allowed: allowed, byClient: map[string]map[string]any{}, sockets: map[*fakeSocket]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	f.URL = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	static := assets.Static()
	mux.HandleFunc("GET /widget/v1/{file...}", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".js") && !strings.HasSuffix(r.URL.Path, "loader.js") {
			f.scriptRequests.Add(1)
		}
		static.ServeHTTP(w, r)
	})
	frame := assets.FrameTemplate()
	mux.HandleFunc("GET /widget/frame", func(w http.ResponseWriter, r *http.Request) { f.serveFrame(w, r, frame) })
	mux.HandleFunc("GET /widget/ws", f.serveWS)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		f.dropAll()
	})
	return f
}

type fakePage struct {
	Config    any
	Lang      string
	AssetBase string
}

func (f *fakePorthole) serveFrame(w http.ResponseWriter, r *http.Request, frame *template.Template) {
	f.frameRequests.Add(1)
	ancestors := "'none'"
	if len(f.allowed) > 0 && r.URL.Query().Get("business") == f.business {
		ancestors = strings.Join(f.allowed, " ")
	}
	wsOrigin := "ws" + strings.TrimPrefix(f.URL, "http")
	w.Header().Set("Content-Security-Policy", "frame-ancestors "+ancestors+"; default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' "+wsOrigin+"; img-src 'self' data:; base-uri 'none'; form-action 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	config := map[string]any{
		"v": 1, "business": f.business, "chatbot": "bot-1",
		"parent_origin":     r.URL.Query().Get("parent"),
		"ticket":            fakeTicket,
		"ticket_expires_at": time.Now().Add(2 * time.Minute).UnixMilli(),
		"ws_url":            wsOrigin + "/widget/ws",
		"chatbot_config": map[string]any{
			"name": "Front desk", "greeting": "Hi! Ask me anything.", "color": "#0b5fff",
			"position": "right", "language": "", "online": true,
		},
	}
	frame.Execute(w, fakePage{Config: config, Lang: "en", AssetBase: assets.AssetBase})
}

func (f *fakePorthole) serveWS(w http.ResponseWriter, r *http.Request) {
	// The real server's checks, in short: Origin exactly ours, a valid ticket.
	if r.Header.Get("Origin") != f.URL || r.URL.Query().Get("ticket") != fakeTicket || r.URL.Query().Get("session") == "" {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	f.connects.Add(1)
	f.open.Add(1)
	defer f.open.Add(-1)
	s := &fakeSocket{conn: conn, out: make(chan map[string]any, 4096)}
	ctx := r.Context()
	go func() {
		for frame := range s.out {
			data, _ := json.Marshal(frame)
			wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := conn.Write(wctx, websocket.MessageText, data)
			cancel()
			if err != nil {
				conn.CloseNow()
			}
		}
	}()
	defer func() {
		f.mu.Lock()
		if f.sockets[s] {
			delete(f.sockets, s)
		}
		close(s.out)
		f.mu.Unlock()
		conn.CloseNow()
	}()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var msg map[string]any
		if json.Unmarshal(data, &msg) != nil {
			continue
		}
		switch msg["type"] {
		case "hello":
			last, _ := msg["last_seq"].(float64)
			f.mu.Lock()
			f.hellos = append(f.hellos, int(last))
			var history []map[string]any
			for _, e := range f.events {
				if e["seq"].(int) > int(last) {
					history = append(history, e)
				}
			}
			f.sockets[s] = true
			s.send(map[string]any{"type": "welcome", "conversation_id": "c1", "visitor_id": "v1",
				"seq": len(f.events), "history": history, "ticket": fakeTicket, "online": true, "identified": false})
			f.mu.Unlock()
		case "message":
			clientID, _ := msg["client_id"].(string)
			text, _ := msg["text"].(string)
			f.mu.Lock()
			if stored, ok := f.byClient[clientID]; ok {
				s.send(stored)
				f.mu.Unlock()
				continue
			}
			stored := f.storeLocked(map[string]any{"type": "message", "role": "visitor", "client_id": clientID, "text": text, "id": clientID})
			f.byClient[clientID] = stored
			if f.turn != nil {
				f.turn.stop()
			}
			f.turnSeq++
			turn := &fakeTurn{id: fmt.Sprintf("T%d", f.turnSeq), cancel: make(chan struct{})}
			f.turn = turn
			f.mu.Unlock()
			go f.runTurn(turn, text)
		case "cancel":
			f.mu.Lock()
			if f.turn != nil {
				f.turn.stop()
			}
			f.mu.Unlock()
		case "form_submit":
			values, _ := msg["values"].(map[string]any)
			formID, _ := msg["form_id"].(string)
			if email, _ := values["email"].(string); !strings.HasSuffix(email, "@example.com") {
				f.mu.Lock()
				s.send(map[string]any{"type": "form_result", "form_id": formID, "status": "invalid", "errors": map[string]string{"email": "server says: not an email"}})
				f.mu.Unlock()
				continue
			}
			f.mu.Lock()
			f.storeLocked(map[string]any{"type": "form_result", "form_id": formID, "status": "accepted"})
			f.mu.Unlock()
		}
	}
}

func (t *fakeTurn) stop() { t.once.Do(func() { close(t.cancel) }) }

// storeLocked numbers an event, keeps it and sends it to every socket.
func (f *fakePorthole) storeLocked(event map[string]any) map[string]any {
	event["seq"] = len(f.events) + 1
	event["created_at"] = time.Now().UnixMilli()
	f.events = append(f.events, event)
	for s := range f.sockets {
		s.send(event)
	}
	return event
}

func (f *fakePorthole) broadcast(frame map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.sockets {
		s.send(frame)
	}
}

// runTurn is the scripted assistant. "markdown" answers with hostile
// markdown, "form" asks for contact details, "slow" streams for a long
// time; anything else is echoed back word by word.
func (f *fakePorthole) runTurn(turn *fakeTurn, text string) {
	reply := "You said: " + text
	delay := 20 * time.Millisecond
	switch {
	case strings.Contains(text, "markdown"):
		reply = "**Bold** and *italic* [docs](https://example.com/docs) [bad](javascript:alert(1)) <img src=x onerror=\"window.__pwned=1\">\n- one\n- two"
	case strings.Contains(text, "form"):
		f.mu.Lock()
		f.storeLocked(map[string]any{"type": "form", "form_id": "contact", "title": "Your details", "fields": []map[string]any{
			{"name": "name", "label": "Name", "type": "text", "required": true},
			{"name": "email", "label": "Email", "type": "email", "required": true},
		}})
		f.mu.Unlock()
		reply = "Please fill in the form."
	case strings.Contains(text, "slow"):
		reply = strings.Repeat("streaming ", 200)
		delay = 50 * time.Millisecond
	}
	time.Sleep(5 * time.Millisecond)
	f.broadcast(map[string]any{"type": "typing", "role": "assistant", "turn_id": turn.id})
	var sent strings.Builder
	status := "done"
	for _, word := range strings.SplitAfter(reply, " ") {
		select {
		case <-turn.cancel:
			status = "canceled"
		case <-time.After(delay):
		}
		if status == "canceled" {
			break
		}
		sent.WriteString(word)
		f.broadcast(map[string]any{"type": "delta", "turn_id": turn.id, "text": word})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if sent.Len() > 0 {
		f.storeLocked(map[string]any{"type": "message", "role": "assistant", "turn_id": turn.id, "text": sent.String(), "id": turn.id})
	}
	f.storeLocked(map[string]any{"type": "turn_end", "turn_id": turn.id, "status": status})
	if f.turn == turn {
		f.turn = nil
	}
}

// send queues a frame; the caller holds f.mu, which orders the queues.
func (s *fakeSocket) send(frame map[string]any) {
	select {
	case s.out <- frame:
	default: // a stuck client loses frames, as a real slow consumer would be cut off
	}
}

// dropAll closes every socket abruptly, as a network failure would.
func (f *fakePorthole) dropAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.sockets {
		s.conn.CloseNow()
		delete(f.sockets, s)
	}
}

func (f *fakePorthole) helloSeqs() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.hellos...)
}
