package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the PubSub shared by several Porthole processes through Redis
// PUBLISH/SUBSCRIBE. Each process keeps one subscriber connection for all
// its topics: a topic is subscribed in Redis while at least one local
// subscriber wants it, and messages are fanned out locally from there.
//
// Run must be running for subscriptions to receive anything.
type Redis struct {
	client redis.UniversalClient
	prefix string
	logger *slog.Logger
	hub    *hub
	ps     *redis.PubSub

	mu     sync.Mutex
	topics map[string]*redisTopic // topics subscribed (or being subscribed) in Redis
}

type redisTopic struct {
	confirmed bool
	ready     chan struct{} // closed on Redis's subscribe confirmation
}

// NewRedis returns a PubSub over client. prefix (say "porthole:ps:")
// namespaces its Redis channels. logger may be nil.
func NewRedis(client redis.UniversalClient, prefix string, logger *slog.Logger) *Redis {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Redis{client: client, prefix: prefix, logger: logger, hub: newHub(), topics: map[string]*redisTopic{}}
	r.ps = client.Subscribe(context.Background())
	r.hub.onEmpty = r.unsubscribe
	return r
}

// Publish sends msg to the topic's subscribers in every process.
func (r *Redis) Publish(ctx context.Context, topic string, msg []byte) error {
	if err := r.client.Publish(ctx, r.prefix+topic, msg).Err(); err != nil {
		return fmt.Errorf("pubsub: unable to publish: %w", err)
	}
	return nil
}

// Subscribe subscribes to topic and returns once Redis has confirmed the
// subscription, so nothing published after Subscribe returns is missed.
func (r *Redis) Subscribe(ctx context.Context, topic string) (*Subscription, error) {
	s, _ := r.hub.add(topic)
	r.mu.Lock()
	t := r.topics[topic]
	if t == nil {
		t = &redisTopic{ready: make(chan struct{})}
		r.topics[topic] = t
		if err := r.ps.Subscribe(ctx, r.prefix+topic); err != nil {
			delete(r.topics, topic)
			r.mu.Unlock()
			s.Close()
			return nil, fmt.Errorf("pubsub: unable to subscribe: %w", err)
		}
	}
	ready := t.ready
	r.mu.Unlock()
	select {
	case <-ready:
		return s, nil
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
}

// unsubscribe drops the Redis subscription of a topic nobody here wants.
func (r *Redis) unsubscribe(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hub.hasTopic(topic) { // someone subscribed again meanwhile
		return
	}
	delete(r.topics, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.ps.Unsubscribe(ctx, r.prefix+topic); err != nil {
		r.logger.Warn("pubsub: unable to unsubscribe", "topic", topic, "err", err)
	}
}

// Run receives from Redis and fans messages out to local subscribers until
// ctx ends; then it closes the Redis subscriber connection and every local
// subscription and returns nil. Receive errors (Redis restarting, network)
// are logged and retried with backoff; go-redis reconnects and resubscribes.
func (r *Redis) Run(ctx context.Context) error {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
		case <-stop:
		}
		_ = r.ps.Close() // unblocks Receive
	}()
	defer func() {
		close(stop)
		wg.Wait()
		r.hub.closeAll()
	}()
	backoff := 50 * time.Millisecond
	for {
		msg, err := r.ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
				return nil
			}
			r.logger.Warn("pubsub: redis receive failed", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Message:
			if len(m.Channel) < len(r.prefix) {
				continue
			}
			r.hub.publish(m.Channel[len(r.prefix):], []byte(m.Payload))
		case *redis.Subscription:
			if m.Kind != "subscribe" || len(m.Channel) < len(r.prefix) {
				continue
			}
			r.mu.Lock()
			if t := r.topics[m.Channel[len(r.prefix):]]; t != nil && !t.confirmed {
				t.confirmed = true
				close(t.ready)
			}
			r.mu.Unlock()
		}
	}
}
