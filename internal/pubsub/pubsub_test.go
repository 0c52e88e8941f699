package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/redis/go-redis/v9"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/testenv"
)

// mustRedisPair returns two Redis PubSubs (two "processes") sharing one
// Redis, each running until the test ends.
func mustRedisPair(tb testing.TB) (*pubsub.Redis, *pubsub.Redis) {
	tb.Helper()
	opts, err := redis.ParseURL(testenv.RedisURL(tb))
	if err != nil {
		tb.Fatalf("parse redis url: %v", err)
	}
	prefix := "porthole-test:" + porthole.NewID() + ":"
	var out [2]*pubsub.Redis
	for i := range out {
		client := redis.NewClient(opts)
		if err := client.Ping(context.Background()).Err(); err != nil {
			client.Close()
			testenv.Missing(tb, "redis not reachable: "+err.Error())
		}
		ps := pubsub.NewRedis(client, prefix, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- ps.Run(ctx) }()
		tb.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("Run: %v", err)
			}
			client.Close()
		})
		out[i] = ps
	}
	return out[0], out[1]
}

func recv(tb testing.TB, s *pubsub.Subscription) string {
	tb.Helper()
	select {
	case m, ok := <-s.C():
		if !ok {
			tb.Fatalf("subscription closed: %v", s.Err())
		}
		return string(m)
	case <-time.After(5 * time.Second):
		tb.Fatalf("no message on %s", s.Topic())
	}
	return ""
}

func expectNothing(tb testing.TB, s *pubsub.Subscription) {
	tb.Helper()
	select {
	case m, ok := <-s.C():
		if ok {
			tb.Fatalf("unexpected message %q on %s", m, s.Topic())
		}
	case <-time.After(100 * time.Millisecond):
	}
}

// conformance runs the same behaviour against a publisher side and a
// subscriber side (the same object in process, two processes over Redis).
func conformance(t *testing.T, pub, sub pubsub.PubSub) {
	ctx := context.Background()
	a1, err := sub.Subscribe(ctx, "conv:a")
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	a2, err := pub.Subscribe(ctx, "conv:a")
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	b, err := sub.Subscribe(ctx, "conv:b")
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	for i := 0; i < 20; i++ {
		if err := pub.Publish(ctx, "conv:a", []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	for i := 0; i < 20; i++ {
		if got := recv(t, a1); got != fmt.Sprint(i) {
			t.Fatalf("a1 got %q, want %d (in order)", got, i)
		}
		if got := recv(t, a2); got != fmt.Sprint(i) {
			t.Fatalf("a2 got %q, want %d (in order)", got, i)
		}
	}
	expectNothing(t, b)

	a1.Close()
	a1.Close() // twice is fine
	if !errors.Is(a1.Err(), pubsub.ErrClosed) {
		t.Fatalf("Err after Close = %v", a1.Err())
	}
	if err := pub.Publish(ctx, "conv:a", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, a2); got != "after" {
		t.Fatalf("a2 got %q after a1 left", got)
	}
	// Resubscribing after the last subscriber left works again.
	a2.Close()
	a3, err := sub.Subscribe(ctx, "conv:a")
	if err != nil {
		t.Fatal(err)
	}
	defer a3.Close()
	if err := pub.Publish(ctx, "conv:a", []byte("again")); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, a3); got != "again" {
		t.Fatalf("a3 got %q", got)
	}

	// Many subscribers at once all get the message.
	var subs []*pubsub.Subscription
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := sub.Subscribe(ctx, "conv:many")
			if err != nil {
				t.Errorf("Subscribe: %v", err)
				return
			}
			mu.Lock()
			subs = append(subs, s)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := pub.Publish(ctx, "conv:many", []byte("all")); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if got := recv(t, s); got != "all" {
			t.Fatalf("got %q", got)
		}
		s.Close()
	}
}

func TestMemory(t *testing.T) {
	m := pubsub.NewMemory()
	conformance(t, m, m)
}

func TestRedis(t *testing.T) {
	p1, p2 := mustRedisPair(t)
	conformance(t, p1, p2)
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	m := pubsub.NewMemory()
	ctx := context.Background()
	slow, _ := m.Subscribe(ctx, "t")
	fast, _ := m.Subscribe(ctx, "t")
	for i := 0; i < pubsub.SubscriptionBuffer+1; i++ {
		_ = m.Publish(ctx, "t", []byte("x"))
		if i < pubsub.SubscriptionBuffer {
			<-fast.C()
		}
	}
	n := 0
	for range slow.C() {
		n++
	}
	if n != pubsub.SubscriptionBuffer || !errors.Is(slow.Err(), pubsub.ErrSlowSubscriber) {
		t.Fatalf("slow got %d then Err %v; want %d then ErrSlowSubscriber", n, slow.Err(), pubsub.SubscriptionBuffer)
	}
	if got := recv(t, fast); got != "x" || fast.Err() != nil {
		t.Fatalf("fast subscriber affected: %q %v", got, fast.Err())
	}
}

// TestNotifyAndNext consumes through Notify and Next, as the widget does:
// messages arrive in order, a subscriber that falls SubscriptionBuffer
// behind is dropped, and what was queued before the drop is still read.
func TestNotifyAndNext(t *testing.T) {
	tests := []struct {
		name      string
		published int
		wantRead  int
		wantErr   error
	}{
		{name: "within the buffer", published: 20, wantRead: 20},
		{name: "exactly the buffer", published: pubsub.SubscriptionBuffer, wantRead: pubsub.SubscriptionBuffer},
		{name: "one over: dropped", published: pubsub.SubscriptionBuffer + 1, wantRead: pubsub.SubscriptionBuffer, wantErr: pubsub.ErrSlowSubscriber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := pubsub.NewMemory()
			ctx := context.Background()
			s, err := m.Subscribe(ctx, "t")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_ = m.Publish(ctx, "t", []byte("0")) // queued before Notify: signalled at once
			notified := make(chan struct{}, 1)
			s.Notify(func() {
				select {
				case notified <- struct{}{}:
				default:
				}
			})
			for i := 1; i < tt.published; i++ {
				_ = m.Publish(ctx, "t", []byte(fmt.Sprint(i)))
			}
			select {
			case <-notified:
			case <-time.After(5 * time.Second):
				t.Fatal("never notified")
			}
			n := 0
			for {
				msg, ok := s.Next()
				if !ok {
					break
				}
				if string(msg) != fmt.Sprint(n) {
					t.Fatalf("message %d is %q (out of order)", n, msg)
				}
				n++
			}
			if n != tt.wantRead || !errors.Is(s.Err(), tt.wantErr) {
				t.Fatalf("read %d then Err %v; want %d then %v", n, s.Err(), tt.wantRead, tt.wantErr)
			}
			if tt.wantErr == nil {
				s.Close()
				select {
				case <-notified:
				case <-time.After(5 * time.Second):
					t.Fatal("not notified of Close")
				}
				if _, ok := s.Next(); ok || !errors.Is(s.Err(), pubsub.ErrClosed) {
					t.Fatalf("after Close: Err %v", s.Err())
				}
			}
		})
	}
}

// TestDeliveryHoldsNoLockOfThePubSub: a publisher inside a subscriber's
// notification (a thread wake-up, under load) holds up no subscribe, close
// or publish of anyone else, and a notification may close its own
// subscription. While publishers delivered under the registry's lock, each
// of these waited for the slowest delivery in progress, and the last one
// deadlocked.
func TestDeliveryHoldsNoLockOfThePubSub(t *testing.T) {
	m := pubsub.NewMemory()
	ctx := context.Background()
	held, _ := m.Subscribe(ctx, "held")
	defer held.Close()
	inside, release := make(chan struct{}), make(chan struct{})
	held.Notify(func() {
		select {
		case inside <- struct{}{}:
			<-release // the first delivery stays in progress until released
		default:
		}
	})
	published := make(chan struct{})
	go func() {
		_ = m.Publish(ctx, "held", []byte("slow"))
		close(published)
	}()
	<-inside
	defer func() {
		close(release)
		<-published
	}()

	within := func(what string, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { f(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s waited for another topic's delivery", what)
		}
	}
	var other *pubsub.Subscription
	within("Subscribe", func() { other, _ = m.Subscribe(ctx, "other") })
	within("Publish", func() { _ = m.Publish(ctx, "other", []byte("hello")) })
	if got := recv(t, other); got != "hello" {
		t.Fatalf("other got %q", got)
	}
	within("Close", func() { other.Close() })

	oneShot, _ := m.Subscribe(ctx, "one-shot")
	var got []string
	oneShot.Notify(func() {
		if msg, ok := oneShot.Next(); ok {
			got = append(got, string(msg))
			oneShot.Close()
		}
	})
	within("a notification closing its subscription", func() { _ = m.Publish(ctx, "one-shot", []byte("first")) })
	within("a publish after it", func() { _ = m.Publish(ctx, "one-shot", []byte("second")) })
	if len(got) != 1 || got[0] != "first" || !errors.Is(oneShot.Err(), pubsub.ErrClosed) {
		t.Fatalf("one-shot subscription read %q, Err %v; want only \"first\", then closed", got, oneShot.Err())
	}
}

// TestClosedSubscriptionIsReleased: a closed subscription, and the
// messages it still queues, are not kept alive by the topic's remaining
// subscribers, whichever place it held among them.
func TestClosedSubscriptionIsReleased(t *testing.T) {
	for _, leaving := range []int{0, 1, 2} {
		t.Run(fmt.Sprint("subscriber ", leaving, " of 3 leaves"), func(t *testing.T) {
			m := pubsub.NewMemory()
			ctx := context.Background()
			var subs []*pubsub.Subscription
			for range 3 {
				s, _ := m.Subscribe(ctx, "t")
				subs = append(subs, s)
			}
			_ = m.Publish(ctx, "t", make([]byte, 1<<20)) // queued, never read
			gone := weak.Make(subs[leaving])
			subs[leaving].Close()
			subs[leaving] = nil
			runtime.GC()
			runtime.GC()
			if gone.Value() != nil {
				t.Fatal("the closed subscription is still reachable from its topic")
			}
			_ = m.Publish(ctx, "t", []byte("after"))
			for i, s := range subs {
				if s == nil {
					continue
				}
				if first, second := recv(t, s), recv(t, s); len(first) != 1<<20 || second != "after" {
					t.Fatalf("subscriber %d read %d bytes, then %q; want the 1 MiB message, then \"after\"", i, len(first), second)
				}
			}
		})
	}
}
