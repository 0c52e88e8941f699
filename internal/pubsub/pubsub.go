// Package pubsub fans messages out to every subscriber of a topic, in one
// process (Memory) or across several Porthole processes (Redis).
//
// Delivery is best effort and at most once: a subscriber that falls behind
// is dropped (its channel closes or Next runs dry, Err says why) rather than slowing the
// publisher or everybody else. Callers that must not lose anything keep the
// truth elsewhere (the chat keeps its events in the database, numbered) and
// use pubsub only to learn about it quickly.
package pubsub

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// PubSub publishes messages on topics and subscribes to them.
type PubSub interface {
	// Publish sends msg to every current subscriber of topic, in every
	// process sharing the implementation. It takes msg over: subscribers
	// in this process receive these very bytes, so the caller must not
	// change them afterwards (publishers marshal a fresh message each time;
	// a copy per streamed token is garbage the collector has to chase).
	Publish(ctx context.Context, topic string, msg []byte) error
	// Subscribe returns a subscription that receives the messages published
	// on topic from the moment Subscribe returns.
	Subscribe(ctx context.Context, topic string) (*Subscription, error)
}

// ErrSlowSubscriber is the Err of a subscription dropped because its buffer
// was full.
var ErrSlowSubscriber = errors.New("pubsub: subscriber too slow, dropped")

// ErrClosed is the Err of a subscription closed by its owner or by the
// shutdown of its PubSub.
var ErrClosed = errors.New("pubsub: subscription closed")

// SubscriptionBuffer is how many messages a subscription holds before its
// subscriber counts as too slow.
const SubscriptionBuffer = 256

// Subscription is one subscriber's view of a topic, consumed in one of two
// ways: read C until it closes, or call Notify once and then Next whenever
// notified. Call Close when done.
//
// Messages wait in a queue that grows on demand up to SubscriptionBuffer
// and is released when drained, so an idle subscription holds no buffer
// (thousands of idle widget sockets each hold one). C allocates a channel
// of SubscriptionBuffer on first use, for consumers that select on it.
type Subscription struct {
	topic   string
	mu      sync.Mutex
	queue   [][]byte    // undelivered messages while no channel exists
	c       chan []byte // made by C on first use; then messages go here
	notify  func()      // set by Notify; called after each delivery and at the end
	closed  bool
	err     error
	release func(*Subscription) // removes it from its hub; called once
	once    sync.Once
}

// C returns the channel of messages. It is closed when the subscription
// ends; Err then says why. The first call allocates the channel and moves
// any queued messages into it; a subscription read through C must not be
// read with Next.
func (s *Subscription) C() <-chan []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		s.c = make(chan []byte, SubscriptionBuffer)
		for _, m := range s.queue {
			s.c <- m // the queue never holds more than the channel's room
		}
		s.queue = nil
		if s.closed {
			close(s.c)
		}
	}
	return s.c
}

// Notify sets fn to be called after each message is queued and once when
// the subscription ends; if messages are already queued, fn is called
// before Notify returns. fn runs on the publisher's goroutine and holds up
// that publisher: it must return at once, only signalling the consumer,
// which then drains with Next. It runs without pubsub's locks, so it may
// close its own subscription. Call Notify at most once, and not together
// with C.
func (s *Subscription) Notify(fn func()) {
	s.mu.Lock()
	s.notify = fn
	pending := len(s.queue) > 0 || s.closed
	s.mu.Unlock()
	if pending {
		fn()
	}
}

// Next returns the oldest queued message without waiting. ok is false when
// nothing is queued; Err then says whether the subscription has ended.
// Messages queued before the end are still returned after it.
func (s *Subscription) Next() (msg []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil, false
	}
	msg = s.queue[0]
	s.queue[0] = nil
	s.queue = s.queue[1:]
	if len(s.queue) == 0 {
		s.queue = nil // drained: release the backing array
	}
	return msg, true
}

// Topic returns the subscribed topic.
func (s *Subscription) Topic() string { return s.topic }

// Err returns why the subscription ended, or nil while it runs.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() error {
	s.end(ErrClosed)
	return nil
}

func (s *Subscription) end(err error) {
	s.mu.Lock()
	var notify func()
	if !s.closed {
		s.closed, s.err = true, err
		if s.c != nil {
			close(s.c)
		}
		notify = s.notify
	}
	s.mu.Unlock()
	s.once.Do(func() {
		if s.release != nil {
			s.release(s)
		}
	})
	if notify != nil {
		notify()
	}
}

// deliver hands msg to the subscriber without blocking; it reports false
// when the subscriber had no room and was dropped.
func (s *Subscription) deliver(msg []byte) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return true
	}
	if s.c != nil {
		select {
		case s.c <- msg:
			s.mu.Unlock()
			return true
		default:
			s.mu.Unlock()
			return false
		}
	}
	if len(s.queue) >= SubscriptionBuffer {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, msg)
	notify := s.notify
	s.mu.Unlock()
	if notify != nil {
		notify()
	}
	return true
}

// hub is the local registry of subscriptions by topic, shared by Memory and
// Redis (which feeds it from its one Redis connection).
type hub struct {
	mu sync.RWMutex
	// topics holds each topic's subscribers in a slice, not a set: most
	// topics have one or two (a visitor's tabs), and a map per topic would
	// cost every idle socket a map.
	topics map[string][]*Subscription
	// onEmpty is called (outside the lock) when the last local subscriber
	// of a topic leaves.
	onEmpty func(topic string)
}

func newHub() *hub { return &hub{topics: map[string][]*Subscription{}} }

// add registers a new subscription and reports whether it is the topic's first.
func (h *hub) add(topic string) (*Subscription, bool) {
	s := &Subscription{topic: topic, release: h.remove}
	h.mu.Lock()
	subs := h.topics[topic]
	h.topics[topic] = append(subs, s) // past the end of what any publisher holds
	h.mu.Unlock()
	return s, len(subs) == 0
}

// remove unregisters s. The topic gets a new slice rather than the old one
// edited in place: publishers deliver from the slice they read, after
// releasing the lock. (Nor does the new one share the old array, which
// would keep s, and what it still queues, reachable.)
func (h *hub) remove(s *Subscription) {
	h.mu.Lock()
	subs := h.topics[s.topic]
	empty := false
	if i := slices.Index(subs, s); i >= 0 {
		empty = len(subs) == 1
		if empty {
			delete(h.topics, s.topic)
		} else {
			rest := make([]*Subscription, 0, len(subs)-1)
			h.topics[s.topic] = append(append(rest, subs[:i]...), subs[i+1:]...)
		}
	}
	h.mu.Unlock()
	if empty && h.onEmpty != nil {
		h.onEmpty(s.topic)
	}
}

// publish delivers msg to the topic's subscribers as they were when it
// looked, holding the lock only for the look: a delivery wakes the
// subscriber's consumer (often a thread wake-up), and a subscribe or close
// waiting for the lock would hold up every publisher behind it
// (docs/benchmarks.md, "Ninth session"). A subscription that ends
// meanwhile refuses the message itself.
func (h *hub) publish(topic string, msg []byte) {
	h.mu.RLock()
	subs := h.topics[topic]
	h.mu.RUnlock()
	var slow []*Subscription
	for _, s := range subs {
		if !s.deliver(msg) {
			slow = append(slow, s)
		}
	}
	for _, s := range slow {
		s.end(ErrSlowSubscriber)
	}
}

func (h *hub) closeAll() {
	h.mu.RLock()
	var all []*Subscription
	for _, subs := range h.topics {
		all = append(all, subs...)
	}
	h.mu.RUnlock()
	for _, s := range all {
		s.end(ErrClosed)
	}
}

func (h *hub) hasTopic(topic string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.topics[topic] != nil
}
