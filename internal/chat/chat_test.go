package chat_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/secrets"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

type fixture struct {
	db    *store.DB
	svc   *chat.Service
	org   porthole.Organization
	bot   porthole.Chatbot
	clock *time.Time
}

func mustVault(tb testing.TB, db *store.DB) *secrets.Vault {
	tb.Helper()
	line, err := secrets.NewMasterKeyLine()
	if err != nil {
		tb.Fatal(err)
	}
	kr, err := secrets.ParseKeyring(line)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := secrets.NewVault(kr, db.DataKeys())
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func mustFixture(tb testing.TB, db *store.DB) *fixture {
	tb.Helper()
	ctx := context.Background()
	org, err := db.CreateOrganization(ctx, "Smile Clinic")
	if err != nil {
		tb.Fatal(err)
	}
	bot, err := db.Tenant(org.ID).CreateChatbot(ctx, "Front desk")
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) // a Monday
	f := &fixture{db: db, org: org, bot: bot, clock: &now}
	f.svc = chat.New(chat.Config{DB: db, PubSub: pubsub.NewMemory(), Vault: mustVault(tb, db),
		Engine: chat.EchoEngine{Delay: time.Millisecond}, Now: func() time.Time { return *f.clock }})
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := f.svc.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
	})
	return f
}

func mustJoin(tb testing.TB, f *fixture) *chat.Session {
	tb.Helper()
	s, err := f.svc.Join(context.Background(), f.org.ID, f.bot.ID, porthole.NewID(), nil)
	if err != nil {
		tb.Fatalf("Join: %v", err)
	}
	return s
}

// nextFrame reads frames until one of the given type arrives.
func nextFrame(tb testing.TB, sub *pubsub.Subscription, typ string) chat.Frame {
	tb.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case b, ok := <-sub.C():
			if !ok {
				tb.Fatalf("subscription closed: %v", sub.Err())
			}
			var f chat.Frame
			if err := json.Unmarshal(b, &f); err != nil {
				tb.Fatal(err)
			}
			if f.Type == typ {
				return f
			}
		case <-deadline:
			tb.Fatalf("no %s frame", typ)
		}
	}
}

func TestTurnStreamsAndStores(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := mustFixture(t, db)
		sess := mustJoin(t, f)
		sub, err := f.svc.Subscribe(ctx, sess)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		msg, created, err := f.svc.SendMessage(ctx, sess, "c1", "  hello there ")
		if err != nil || !created || msg.Seq != 1 || msg.Text != "hello there" {
			t.Fatalf("SendMessage = %+v, %v", msg, err)
		}
		again, created, err := f.svc.SendMessage(ctx, sess, "c1", "hello there")
		if err != nil || created || again.Seq != 1 || again.ID != msg.ID {
			t.Fatalf("retry = %+v, %v; want the stored message", again, err)
		}
		delta := nextFrame(t, sub, chat.FrameDelta)
		end := nextFrame(t, sub, chat.FrameTurnEnd)
		if end.Status != chat.TurnDone || end.TurnID != delta.TurnID || end.Seq != 3 {
			t.Fatalf("turn_end = %+v (delta %+v)", end, delta)
		}
		hist, err := f.svc.History(ctx, sess, 0, 0)
		if err != nil || len(hist) != 3 || hist[1].Role != store.RoleAssistant || hist[1].Text != "Thanks for your message. You said: hello there" {
			t.Fatalf("History = %+v, %v", hist, err)
		}

		bad := []struct{ name, clientID, text, code string }{
			{"empty text", "c2", "   ", porthole.EINVALID},
			{"bad client id", "c 2", "x", porthole.EINVALID},
			{"too long", "c3", string(make([]rune, chat.MaxMessageRunes+1)), porthole.ETOOLARGE},
		}
		for _, tt := range bad {
			if _, _, err := f.svc.SendMessage(ctx, sess, tt.clientID, tt.text); porthole.ErrorCode(err) != tt.code {
				t.Fatalf("%s: err = %v, want %s", tt.name, err, tt.code)
			}
		}
	})
}

// TestCancelFromAnotherProcess: a turn is canceled by a cancel or a
// newer turn started in another process, which reaches it only through
// the conversation's control topic (two services on one bus stand for two
// processes).
func TestCancelFromAnotherProcess(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	ctx := context.Background()
	f := mustFixture(t, db)
	bus := pubsub.NewMemory()
	f.svc = chat.New(chat.Config{DB: db, PubSub: bus, Engine: chat.EchoEngine{Delay: 200 * time.Millisecond}})
	defer f.svc.Shutdown(ctx)
	other := chat.New(chat.Config{DB: db, PubSub: bus, Engine: chat.EchoEngine{Delay: 200 * time.Millisecond}})
	defer other.Shutdown(ctx)
	sess := mustJoin(t, f)
	sub, _ := f.svc.Subscribe(ctx, sess)
	defer sub.Close()

	if _, _, err := f.svc.SendMessage(ctx, sess, "a", "first question"); err != nil {
		t.Fatal(err)
	}
	nextFrame(t, sub, chat.FrameDelta)
	if err := other.Cancel(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if end := nextFrame(t, sub, chat.FrameTurnEnd); end.Status != chat.TurnCanceled {
		t.Fatalf("after a cancel from the other process turn_end = %+v", end)
	}

	// A message to the other process preempts the turn running here.
	if _, _, err := f.svc.SendMessage(ctx, sess, "b", "second"); err != nil {
		t.Fatal(err)
	}
	nextFrame(t, sub, chat.FrameDelta)
	if _, _, err := other.SendMessage(ctx, sess, "c", "third"); err != nil {
		t.Fatal(err)
	}
	if end := nextFrame(t, sub, chat.FrameTurnEnd); end.Status != chat.TurnCanceled {
		t.Fatalf("preempted turn_end = %+v", end)
	}
	if end := nextFrame(t, sub, chat.FrameTurnEnd); end.Status != chat.TurnDone {
		t.Fatalf("the other process's turn_end = %+v", end)
	}
}

// invalidTextEngine replies with text the store refuses (not UTF-8).
type invalidTextEngine struct{}

func (invalidTextEngine) Stream(_ context.Context, in chat.TurnInput, emit func(string) error) (chat.TurnRecord, error) {
	rec := chat.TurnRecord{Usage: &store.TokenUsage{InputTokens: 7, OutputTokens: 3},
		Decisions: []audit.Entry{{Actor: audit.Actor{Kind: audit.ActorAssistant, ID: in.ChatbotID},
			Action: audit.ActionKnowledgeLookup, Target: "chatbot:" + in.ChatbotID, Reason: "the test's lookup"}}}
	return rec, emit("caf\xe9")
}

// TestTurnEndsWhenTheReplyIsRefused: a reply the store refuses does not
// keep the turn from ending; the sockets get the turn's end, and what the
// engine handed back (usage, decisions) is stored with it.
func TestTurnEndsWhenTheReplyIsRefused(t *testing.T) {
	ctx := context.Background()
	db, f, sess := mustStoredTurnEnd(t, invalidTextEngine{})
	hist, _ := f.svc.History(ctx, sess, 0, 0)
	for _, h := range hist {
		if h.Role == store.RoleAssistant && h.Type == chat.FrameMessage {
			t.Fatalf("a refused reply was stored: %+v", h)
		}
	}
	tn := db.Tenant(sess.OrgID)
	if u, err := tn.Usage(ctx, sess.Conversation.ID); err != nil || u.Turns != 1 || u.InputTokens != 7 || u.OutputTokens != 3 {
		t.Fatalf("usage = %+v, %v; want the engine's, stored with the turn's end", u, err)
	}
	entries, err := tn.AuditEntries(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	lookups := 0
	for _, e := range entries {
		if e.Action == audit.ActionKnowledgeLookup && e.ConversationID == sess.Conversation.ID {
			lookups++
		}
	}
	if lookups != 1 {
		t.Fatalf("%d lookups recorded, want the engine's one", lookups)
	}
}

// foreignDecisionEngine leaves a decision the store refuses (it names
// another organization).
type foreignDecisionEngine struct{}

func (foreignDecisionEngine) Stream(_ context.Context, _ chat.TurnInput, emit func(string) error) (chat.TurnRecord, error) {
	rec := chat.TurnRecord{Decisions: []audit.Entry{{OrgID: porthole.NewID(), Actor: audit.Actor{Kind: audit.ActorAssistant},
		Action: audit.ActionKnowledgeLookup, Target: "chatbot:x", Reason: "foreign"}}}
	return rec, emit("fine reply")
}

// TestTurnEndsWhenItsRecordIsRefused: a record the store refuses costs the
// reply and the record, never the turn's end.
func TestTurnEndsWhenItsRecordIsRefused(t *testing.T) {
	mustStoredTurnEnd(t, foreignDecisionEngine{})
}

// mustStoredTurnEnd sends one visitor message to a service running engine
// and requires the turn's end to reach the conversation's subscribers as a
// stored frame.
func mustStoredTurnEnd(t *testing.T, engine chat.TurnEngine) (*store.DB, *fixture, *chat.Session) {
	t.Helper()
	db := storetest.MustOpenSQLite(t)
	ctx := context.Background()
	f := mustFixture(t, db)
	f.svc = chat.New(chat.Config{DB: db, PubSub: pubsub.NewMemory(), Engine: engine})
	t.Cleanup(func() { _ = f.svc.Shutdown(ctx) })
	sess := mustJoin(t, f)
	sub, _ := f.svc.Subscribe(ctx, sess)
	defer sub.Close()
	if _, _, err := f.svc.SendMessage(ctx, sess, "a", "hello"); err != nil {
		t.Fatal(err)
	}
	if end := nextFrame(t, sub, chat.FrameTurnEnd); end.Seq == 0 {
		t.Fatalf("turn_end = %+v, want a stored one", end)
	}
	return db, f, sess
}

func TestCancelAndFollowUp(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	ctx := context.Background()
	f := mustFixture(t, db)
	f.svc = chat.New(chat.Config{DB: db, PubSub: pubsub.NewMemory(), Engine: chat.EchoEngine{Delay: 200 * time.Millisecond}})
	defer f.svc.Shutdown(ctx)
	sess := mustJoin(t, f)
	sub, _ := f.svc.Subscribe(ctx, sess)
	defer sub.Close()
	if _, _, err := f.svc.SendMessage(ctx, sess, "a", "first question"); err != nil {
		t.Fatal(err)
	}
	nextFrame(t, sub, chat.FrameDelta)
	if err := f.svc.Cancel(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if end := nextFrame(t, sub, chat.FrameTurnEnd); end.Status != chat.TurnCanceled {
		t.Fatalf("after cancel turn_end = %+v", end)
	}
	// A follow-up while a reply streams cancels it and gets its own reply.
	if _, _, err := f.svc.SendMessage(ctx, sess, "b", "second"); err != nil {
		t.Fatal(err)
	}
	nextFrame(t, sub, chat.FrameDelta)
	if _, _, err := f.svc.SendMessage(ctx, sess, "c", "third"); err != nil {
		t.Fatal(err)
	}
	if end := nextFrame(t, sub, chat.FrameTurnEnd); end.Status != chat.TurnCanceled {
		t.Fatalf("preempted turn_end = %+v", end)
	}
	if end := nextFrame(t, sub, chat.FrameTurnEnd); end.Status != chat.TurnDone {
		t.Fatalf("follow-up turn_end = %+v", end)
	}
	hist, _ := f.svc.History(ctx, sess, 0, 0)
	last := hist[len(hist)-2]
	if last.Role != store.RoleAssistant || last.Text != "Thanks for your message. You said: third" {
		t.Fatalf("reply to the follow-up = %+v", last)
	}
}

func TestOfflineHoursAndContactForm(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	ctx := context.Background()
	f := mustFixture(t, db)
	tn := db.Tenant(f.org.ID)
	s, _ := tn.WidgetSettings(ctx, f.bot.ID)
	s.TimeZone = "America/New_York"
	s.ActiveHours = []store.ActiveHours{{Days: []int{1, 2, 3, 4, 5}, Start: "09:00", End: "17:00"}}
	if _, err := tn.PutWidgetSettings(ctx, s); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"monday 10:00 UTC is 05:00 in New York", time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), false},
		{"monday 15:00 UTC is 10:00 in New York", time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC), true},
		{"saturday noon", time.Date(2026, 3, 7, 17, 0, 0, 0, time.UTC), false},
	}
	for _, tt := range tests {
		if got := chat.InActiveHours(s, tt.at); got != tt.want {
			t.Fatalf("%s: InActiveHours = %v", tt.name, got)
		}
	}
	sess := mustJoin(t, f) // the fixture clock is Monday 10:00 UTC: offline
	for i, id := range []string{"m1", "m2"} {
		if _, _, err := f.svc.SendMessage(ctx, sess, id, "anyone there?"); err != nil {
			t.Fatal(err)
		}
		hist, _ := f.svc.History(ctx, sess, 0, 0)
		if want := 3 + i; len(hist) != want {
			t.Fatalf("after message %d: %d events, want %d (note and form once)", i+1, len(hist), want)
		}
		if hist[2].Type != chat.FrameForm || hist[2].FormID != chat.ContactFormID || hist[1].Role != store.RoleSystem {
			t.Fatalf("offline reply = %+v", hist)
		}
		for _, h := range hist {
			if h.Type == chat.FrameTurnEnd {
				t.Fatalf("a turn ran outside active hours: %+v", hist)
			}
		}
	}
	res, err := f.svc.SubmitForm(ctx, sess, chat.ContactFormID, map[string]string{"name": "Ann", "email": "not-an-email"})
	if err != nil || res.Status != "invalid" || res.Errors["email"] == "" || res.Seq != 0 {
		t.Fatalf("invalid submit = %+v, %v", res, err)
	}
	res, err = f.svc.SubmitForm(ctx, sess, chat.ContactFormID, map[string]string{"name": "Ann", "email": "ann@example.com"})
	if err != nil || res.Status != "accepted" || res.Seq == 0 {
		t.Fatalf("valid submit = %+v, %v", res, err)
	}
	v, _ := tn.Visitor(ctx, sess.Visitor.ID)
	if v.Name != "Ann" || v.Email != "ann@example.com" {
		t.Fatalf("visitor after form = %+v", v)
	}
}

func TestVerifyIdentity(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	ctx := context.Background()
	f := mustFixture(t, db)
	secret := []byte("0123456789abcdef0123456789abcdef")
	if err := f.svc.SetIdentitySecret(ctx, f.org.ID, f.bot.ID, secret); err != nil {
		t.Fatal(err)
	}
	stored, _ := db.Tenant(f.org.ID).WidgetSettings(ctx, f.bot.ID)
	if string(stored.IdentitySecret) == string(secret) {
		t.Fatal("identity secret stored in clear")
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	stored.IdentityPublicKey = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if _, err := db.Tenant(f.org.ID).PutWidgetSettings(ctx, stored); err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("user-42"))
	goodHash := hex.EncodeToString(mac.Sum(nil))
	now := *f.clock
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := now.Add(5 * time.Minute).Unix()
	tests := []struct {
		name   string
		id     chat.Identity
		wantID string
		email  string
	}{
		{name: "hmac ok", id: chat.Identity{UserID: "user-42", UserHash: goodHash}, wantID: "user-42"},
		{name: "hmac other user", id: chat.Identity{UserID: "user-43", UserHash: goodHash}},
		{name: "hmac garbage", id: chat.Identity{UserID: "user-42", UserHash: "zz"}},
		{name: "unsigned claim", id: chat.Identity{UserID: "user-42"}},
		{name: "hs256 ok", id: chat.Identity{Token: sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u1", "exp": exp, "email": "u1@example.com"})}, wantID: "u1", email: "u1@example.com"},
		{name: "rs256 ok", id: chat.Identity{Token: sign(jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"sub": "u2", "exp": exp})}, wantID: "u2"},
		{name: "hs256 wrong key", id: chat.Identity{Token: sign(jwt.SigningMethodHS256, []byte("another secret of enough length!"), jwt.MapClaims{"sub": "u1", "exp": exp})}},
		{name: "expired", id: chat.Identity{Token: sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u1", "exp": now.Add(-time.Hour).Unix()})}},
		{name: "no exp", id: chat.Identity{Token: sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u1"})}},
		{name: "too long-lived", id: chat.Identity{Token: sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u1", "exp": now.Add(48 * time.Hour).Unix()})}},
		{name: "alg none", id: chat.Identity{Token: sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "u1", "exp": exp})}},
		{name: "no sub", id: chat.Identity{Token: sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": exp})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.svc.VerifyIdentity(ctx, f.org.ID, f.bot.ID, tt.id)
			if tt.wantID == "" {
				if porthole.ErrorCode(err) != porthole.EUNAUTHORIZED {
					t.Fatalf("VerifyIdentity = %+v, %v; want unauthorized", got, err)
				}
				return
			}
			if err != nil || got.UserID != tt.wantID || got.Email != tt.email {
				t.Fatalf("VerifyIdentity = %+v, %v; want %s", got, err, tt.wantID)
			}
		})
	}
}
