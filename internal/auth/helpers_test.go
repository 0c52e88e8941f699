package auth

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/ratelimit"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// fakeClock is a settable clock shared by the service, the store and the
// limiter.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// eventLog records security events.
type eventLog struct {
	mu     sync.Mutex
	events []porthole.SecurityEvent
}

func (l *eventLog) RecordSecurityEvent(_ context.Context, ev porthole.SecurityEvent) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *eventLog) count(kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ev := range l.events {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// fakeMailer records mail.
type fakeMailer struct {
	mu   sync.Mutex
	sent []mailJob
}

func (m *fakeMailer) Send(_ context.Context, to, subject, body string) error {
	m.mu.Lock()
	m.sent = append(m.sent, mailJob{to, subject, body})
	m.mu.Unlock()
	return nil
}

type harness struct {
	svc    *Service
	db     *store.DB
	clock  *fakeClock
	events *eventLog
}

type harnessOption func(*Config, *Deps)

func withMailer(m Mailer) harnessOption { return func(_ *Config, d *Deps) { d.Mailer = m } }

func mustHarness(tb testing.TB, db *store.DB, opts ...harnessOption) *harness {
	tb.Helper()
	clock := &fakeClock{t: time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)}
	events := &eventLog{}
	cfg := Config{PublicURL: "https://porthole.example", ServerKey: make([]byte, ServerKeySize), Now: clock.Now, KeyPrePublish: -1}
	for i := range cfg.ServerKey {
		cfg.ServerKey[i] = byte(i + 1)
	}
	deps := Deps{DB: db, Limiter: ratelimit.NewMemory(ratelimit.WithClock(clock.Now)), Recorder: events}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	db.SetClock(clock.Now)
	svc, err := New(context.Background(), cfg, deps)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return &harness{svc: svc, db: db, clock: clock, events: events}
}

func mustSQLiteHarness(tb testing.TB, opts ...harnessOption) *harness {
	tb.Helper()
	return mustHarness(tb, storetest.MustOpenSQLite(tb), opts...)
}

const testPassword = "tangerine-bicycle-42"

// mustMember creates a user with testPassword and gives them a role in org.
func (h *harness) mustMember(tb testing.TB, orgID, email string, role porthole.Role) porthole.User {
	tb.Helper()
	hash, err := HashPassword(testPassword)
	if err != nil {
		tb.Fatal(err)
	}
	u, err := h.db.CreateUser(context.Background(), email, "", hash)
	if err != nil {
		tb.Fatalf("CreateUser: %v", err)
	}
	if orgID != "" {
		if _, err := h.db.Tenant(orgID).AddMember(context.Background(), u.ID, role); err != nil {
			tb.Fatalf("AddMember: %v", err)
		}
	}
	return u
}

func (h *harness) mustOrg(tb testing.TB, name string) porthole.Organization {
	tb.Helper()
	org, err := h.db.CreateOrganization(context.Background(), name)
	if err != nil {
		tb.Fatal(err)
	}
	return org
}

func (h *harness) mustLogin(tb testing.TB, email string) SessionResult {
	tb.Helper()
	res, err := h.svc.Login(context.Background(), LoginInput{Email: email, Password: testPassword, Client: Client{IP: "192.0.2.10", UserAgent: "test"}})
	if err != nil {
		tb.Fatalf("Login(%s): %v", email, err)
	}
	return res
}

func (h *harness) mustPrincipal(tb testing.TB, cred Credentials) Principal {
	tb.Helper()
	p, err := h.svc.Authenticate(context.Background(), cred)
	if err != nil {
		tb.Fatalf("Authenticate: %v", err)
	}
	return p
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := porthole.ErrorCode(err); got != code {
		tb.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}
