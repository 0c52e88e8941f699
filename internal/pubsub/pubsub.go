// Package pubsub fans messages out to every subscriber of a topic, in one
// process (Memory) or across several Porthole processes (Redis).
//
// Delivery is best effort and at most once: a subscriber that falls behind
// is dropped (its channel closes, Err says why) rather than slowing the
// publisher or everybody else. Callers that must not lose anything keep the
// truth elsewhere (the chat keeps its events in the database, numbered) and
// use pubsub only to learn about it quickly.
package pubsub

import (
	"context"
	"errors"
	"sync"
)

// PubSub publishes messages on topics and subscribes to them.
type PubSub interface {
	// Publish sends msg to every current subscriber of topic, in every
	// process sharing the implementation.
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

// Subscription is one subscriber's view of a topic. Read C until it closes;
// call Close when done.
type Subscription struct {
	topic   string
	c       chan []byte
	mu      sync.Mutex
	closed  bool
	err     error
	release func(*Subscription) // removes it from its hub; called once
	once    sync.Once
}

// C returns the channel of messages. It is closed when the subscription
// ends; Err then says why.
func (s *Subscription) C() <-chan []byte { return s.c }

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
	if !s.closed {
		s.closed, s.err = true, err
		close(s.c)
	}
	s.mu.Unlock()
	s.once.Do(func() {
		if s.release != nil {
			s.release(s)
		}
	})
}

// deliver hands msg to the subscriber without blocking; it reports false
// when the subscriber had no room and was dropped.
func (s *Subscription) deliver(msg []byte) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return true
	}
	select {
	case s.c <- msg:
		s.mu.Unlock()
		return true
	default:
		s.mu.Unlock()
		return false
	}
}

// hub is the local registry of subscriptions by topic, shared by Memory and
// Redis (which feeds it from its one Redis connection).
type hub struct {
	mu     sync.RWMutex
	topics map[string]map[*Subscription]struct{}
	// onEmpty is called (outside the lock) when the last local subscriber
	// of a topic leaves.
	onEmpty func(topic string)
}

func newHub() *hub { return &hub{topics: map[string]map[*Subscription]struct{}{}} }

// add registers a new subscription and reports whether it is the topic's first.
func (h *hub) add(topic string) (*Subscription, bool) {
	s := &Subscription{topic: topic, c: make(chan []byte, SubscriptionBuffer), release: h.remove}
	h.mu.Lock()
	subs := h.topics[topic]
	first := subs == nil
	if first {
		subs = map[*Subscription]struct{}{}
		h.topics[topic] = subs
	}
	subs[s] = struct{}{}
	h.mu.Unlock()
	return s, first
}

func (h *hub) remove(s *Subscription) {
	h.mu.Lock()
	subs := h.topics[s.topic]
	delete(subs, s)
	empty := subs != nil && len(subs) == 0
	if empty {
		delete(h.topics, s.topic)
	}
	h.mu.Unlock()
	if empty && h.onEmpty != nil {
		h.onEmpty(s.topic)
	}
}

func (h *hub) publish(topic string, msg []byte) {
	var slow []*Subscription
	h.mu.RLock()
	for s := range h.topics[topic] {
		if !s.deliver(msg) {
			slow = append(slow, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range slow {
		s.end(ErrSlowSubscriber)
	}
}

func (h *hub) closeAll() {
	h.mu.RLock()
	var all []*Subscription
	for _, subs := range h.topics {
		for s := range subs {
			all = append(all, s)
		}
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
