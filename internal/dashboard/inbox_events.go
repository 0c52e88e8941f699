package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
)

// Live updates of the inbox as Server-Sent Events. The page's script
// (inbox.js) opens them with EventSource; without it the pages work the
// same, only without liveness. A stream carries ids and states for the
// list (the script re-reads the permission-checked JSON) and, for one
// conversation, the frames the visitor sees plus the internal notes.

// sseHeartbeat is how often an idle stream sends a comment, so proxies and
// the browser keep it open and a gone client is noticed.
const sseHeartbeat = 15 * time.Second

// sseWriteWindow is how long one write may take. Every write moves the
// connection's write deadline this far ahead, so the server's WriteTimeout
// (meant for ordinary pages) does not cut a stream that lives for hours.
const sseWriteWindow = 30 * time.Second

// Shutdown ends every live event stream, so the server's graceful shutdown
// does not wait for them. It is an App shutdown hook.
func (d *Dashboard) Shutdown(context.Context) error {
	d.shutdownOnce.Do(func() { close(d.shutdown) })
	return nil
}

// sseStream writes events to one client.
type sseStream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE sends the stream's headers. It fails when the connection cannot
// flush (no streaming through this writer).
func startSSE(w http.ResponseWriter) (*sseStream, error) {
	s := &sseStream{w: w, rc: http.NewResponseController(w)}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// retry: how long the browser waits before reconnecting.
	if err := s.write("retry: 3000\n: stream open\n\n"); err != nil {
		return nil, err
	}
	return s, nil
}

// write sends raw stream text and flushes it, under a fresh write deadline.
func (s *sseStream) write(text string) error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(sseWriteWindow)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := fmt.Fprint(s.w, text); err != nil {
		return err
	}
	return s.rc.Flush()
}

// event sends one named event whose data is a JSON document (one line:
// JSON never holds a raw newline).
func (s *sseStream) event(name string, data []byte) error {
	return s.write("event: " + name + "\ndata: " + string(data) + "\n\n")
}

// heartbeat sends a comment line.
func (s *sseStream) heartbeat() error { return s.write(": heartbeat\n\n") }

// inboxEvent is what the inbox stream sends about one changed conversation.
type inboxEvent struct {
	ConversationID string `json:"conversation_id"`
	State          string `json:"state"`
}

// inboxEvents streams the organization's handling changes the member may
// see: ids and states only; the script re-reads the list.
func (d *Dashboard) inboxEvents(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	ctx := r.Context()
	sub, err := d.chat.SubscribeInbox(ctx, p)
	if err != nil {
		return err
	}
	defer sub.Close()
	stream, err := startSSE(w)
	if err != nil {
		return nil // the client is gone or cannot stream; nothing more to say
	}
	return d.pump(ctx, stream, []*pubsub.Subscription{sub}, func(_ int, msg []byte) (string, []byte, bool) {
		var f chat.HandlingFrame
		if json.Unmarshal(msg, &f) != nil || !porthole.ValidID(f.ConversationID) {
			return "", nil, false
		}
		if !d.mayHearOf(ctx, p, f) {
			return "", nil, false
		}
		b, _ := json.Marshal(inboxEvent{ConversationID: f.ConversationID, State: f.State})
		return "handling", b, true
	})
}

// mayHearOf reports whether a handling change concerns a conversation p
// may see, from p's current visibility (grants may change while the stream
// is open). For chatbots shared "assigned only" it goes by the holder; the
// list the script then fetches applies the exact rule.
func (d *Dashboard) mayHearOf(ctx context.Context, p auth.Principal, f chat.HandlingFrame) bool {
	vis, err := d.chat.Visibility(ctx, p)
	if err != nil {
		return false
	}
	switch {
	case vis.All, slices.Contains(vis.Team, f.ChatbotID):
		return true
	case slices.Contains(vis.AssignedOnly, f.ChatbotID):
		return f.Holder != "" && f.Holder == p.UserID
	}
	return false
}

// conversationEvents streams one conversation: "frame" events (what the
// visitor's tabs receive, as chat.Frame), "note" events (internal notes)
// and "handling" events (its state and lease version changed).
func (d *Dashboard) conversationEvents(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	if !porthole.ValidID(id) {
		return porthole.Errorf(porthole.ENOTFOUND, "conversation not found")
	}
	frames, notes, err := d.chat.SubscribeConversation(ctx, p, id)
	if err != nil {
		return err
	}
	defer frames.Close()
	defer notes.Close()
	handling, err := d.chat.SubscribeInbox(ctx, p)
	if err != nil {
		return err
	}
	defer handling.Close()
	stream, err := startSSE(w)
	if err != nil {
		return nil
	}
	return d.pump(ctx, stream, []*pubsub.Subscription{frames, notes, handling}, func(i int, msg []byte) (string, []byte, bool) {
		switch i {
		case 0:
			return "frame", msg, json.Valid(msg)
		case 1:
			return "note", msg, json.Valid(msg)
		}
		var f chat.HandlingFrame
		if json.Unmarshal(msg, &f) != nil || f.ConversationID != id {
			return "", nil, false
		}
		b, _ := json.Marshal(map[string]any{"state": f.State, "lease_version": f.LeaseVersion, "holder": f.Holder})
		return "handling", b, true
	})
}

// pump forwards messages of the subscriptions to the stream through
// translate (which names the event, or drops the message) until the client
// leaves, the dashboard shuts down or a subscription ends (then the
// browser reconnects and reloads). A heartbeat comment goes out when the
// stream has been idle.
func (d *Dashboard) pump(ctx context.Context, s *sseStream, subs []*pubsub.Subscription,
	translate func(i int, msg []byte) (string, []byte, bool)) error {
	heartbeat := time.NewTicker(sseHeartbeat)
	defer heartbeat.Stop()
	// Fan the subscriptions into one channel without goroutines: at most
	// three, so a select over fixed slots is enough.
	var c [3]<-chan []byte
	for i, sub := range subs {
		c[i] = sub.C()
	}
	for {
		var (
			msg []byte
			ok  bool
			i   int
		)
		select {
		case <-ctx.Done():
			return nil
		case <-d.shutdown:
			_ = s.write("event: shutdown\ndata: {}\n\n")
			return nil
		case <-heartbeat.C:
			if err := s.heartbeat(); err != nil {
				return nil
			}
			continue
		case msg, ok = <-c[0]:
			i = 0
		case msg, ok = <-c[1]:
			i = 1
		case msg, ok = <-c[2]:
			i = 2
		}
		if !ok {
			// A slow subscriber was dropped, or pubsub closed: end the
			// stream; the browser reconnects and re-reads the truth.
			if err := subs[i].Err(); err != nil && !errors.Is(err, pubsub.ErrClosed) {
				httpx.Logger(ctx).Info("dashboard: live stream ended", "err", err)
			}
			return nil
		}
		name, data, send := translate(i, msg)
		if !send {
			continue
		}
		if err := s.event(name, data); err != nil {
			return nil
		}
		heartbeat.Reset(sseHeartbeat)
	}
}
