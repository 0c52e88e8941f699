// Package security is the one recording path for security events: every
// refusal, limit hit and failed check goes through Recorder, which logs it,
// counts it, and stores it in its tenant's table (and, through Sink, in the
// audit log). Callers use the porthole.SecurityRecorder interface only.
package security

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Store keeps security events.
type Store interface {
	InsertSecurityEvent(ctx context.Context, ev porthole.SecurityEvent) error
}

// Sink receives every stored event too (the audit log chains them).
type Sink interface {
	AppendSecurityEvent(ctx context.Context, ev porthole.SecurityEvent) error
}

// Recorder records security events. Under a flood (one attacker hammering a
// refused endpoint) it stores at most one event per (kind, org, actor) per
// second and counts the rest, so an attack cannot turn into a write storm;
// every event is still logged at debug level and counted.
type Recorder struct {
	store   Store
	sink    Sink
	logger  *slog.Logger
	counter *prometheus.CounterVec
	now     func() time.Time

	mu       sync.Mutex
	lastSeen map[string]time.Time
	sweptAt  time.Time
}

// NewRecorder returns a recorder writing to store; reg may be nil.
func NewRecorder(store Store, logger *slog.Logger, reg prometheus.Registerer) *Recorder {
	r := &Recorder{store: store, logger: logger, now: time.Now, lastSeen: map[string]time.Time{}}
	r.counter = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "porthole_security_events_total",
		Help: "Security events by kind, including those not stored because of flood damping.",
	}, []string{"kind"})
	if reg != nil {
		reg.MustRegister(r.counter)
	}
	return r
}

// SetSink makes every stored event also go to sink.
func (r *Recorder) SetSink(sink Sink) { r.sink = sink }

// RecordSecurityEvent implements porthole.SecurityRecorder. It never fails
// the caller: a storage error is logged.
func (r *Recorder) RecordSecurityEvent(ctx context.Context, ev porthole.SecurityEvent) {
	r.counter.WithLabelValues(ev.Kind).Inc()
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = r.now()
	}
	if ev.Actor == "" && ev.IP != "" {
		ev.Actor = "ip:" + ev.IP
	}
	if !r.admit(ev) {
		r.logger.Debug("security event (damped)", "kind", ev.Kind, "org", ev.OrgID, "actor", ev.Actor, "request_id", ev.RequestID)
		return
	}
	r.logger.Warn("security event", "kind", ev.Kind, "org", ev.OrgID, "actor", ev.Actor, "ip", ev.IP,
		"request_id", ev.RequestID, "detail", ev.Detail)
	// The event must be stored even if the request that caused it was
	// canceled (the client hung up on a 429, say).
	ctx = context.WithoutCancel(ctx)
	if ev.ID == "" {
		ev.ID = porthole.NewID()
	}
	if err := r.store.InsertSecurityEvent(ctx, ev); err != nil {
		r.logger.Error("security event not stored", "kind", ev.Kind, "err", err)
		return
	}
	if r.sink != nil {
		if err := r.sink.AppendSecurityEvent(ctx, ev); err != nil {
			r.logger.Error("security event not appended to the audit log", "kind", ev.Kind, "err", err)
		}
	}
}

func (r *Recorder) admit(ev porthole.SecurityEvent) bool {
	key := ev.Kind + "\x00" + ev.OrgID + "\x00" + ev.Actor
	now := ev.CreatedAt
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.sweptAt) > time.Minute {
		for k, t := range r.lastSeen {
			if now.Sub(t) > time.Second {
				delete(r.lastSeen, k)
			}
		}
		r.sweptAt = now
	}
	if last, ok := r.lastSeen[key]; ok && now.Sub(last) < time.Second {
		return false
	}
	r.lastSeen[key] = now
	return true
}
