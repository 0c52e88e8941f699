package widget_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/ratelimit"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
	"github.com/porthole-chat/porthole/internal/widget"
)

const shopOrigin = "https://shop.example.com"

var ticketKey = []byte("0123456789abcdef0123456789abcdef-test-key")

type recorder struct {
	mu     sync.Mutex
	events []porthole.SecurityEvent
}

func (r *recorder) RecordSecurityEvent(_ context.Context, ev porthole.SecurityEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Kind)
	}
	return out
}

type env struct {
	db     *store.DB
	chat   *chat.Service
	srv    *widget.Server
	ts     *httptest.Server
	org    porthole.Organization
	bot    porthole.Chatbot
	events *recorder
}

type envOptions struct {
	engine chat.TurnEngine // nil: an echo engine with delay
	delay  time.Duration
	limits widget.Limits
	org    *porthole.Organization
	bot    *porthole.Chatbot
	now    func() time.Time
}

// mustEnv starts a Porthole widget server over db, with a business whose
// allowlist holds shopOrigin and https://*.example.org.
func mustEnv(tb testing.TB, db *store.DB, o envOptions) *env {
	tb.Helper()
	ctx := context.Background()
	e := &env{db: db, events: &recorder{}}
	if o.org != nil {
		e.org, e.bot = *o.org, *o.bot
	} else {
		var err error
		if e.org, err = db.CreateOrganization(ctx, "Smile Clinic"); err != nil {
			tb.Fatal(err)
		}
		tn := db.Tenant(e.org.ID)
		if e.bot, err = tn.CreateChatbot(ctx, "Front desk"); err != nil {
			tb.Fatal(err)
		}
		for _, origin := range []string{shopOrigin, "https://*.example.org"} {
			if _, err := tn.AddOrigin(ctx, origin); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if o.delay == 0 {
		o.delay = 2 * time.Millisecond
	}
	var engine chat.TurnEngine = chat.EchoEngine{Delay: o.delay}
	if o.engine != nil {
		engine = o.engine
	}
	e.chat = chat.New(chat.Config{DB: db, PubSub: pubsub.NewMemory(), Engine: engine})
	mux := http.NewServeMux()
	e.ts = httptest.NewUnstartedServer(mux)
	srv, err := widget.New(widget.Deps{DB: db, Limiter: ratelimit.NewMemory(), Security: e.events, Chat: e.chat,
		PublicURL: "http://" + e.ts.Listener.Addr().String(), TicketKey: ticketKey, Limits: o.limits, Now: o.now})
	if err != nil {
		tb.Fatal(err)
	}
	e.srv = srv
	srv.Routes(mux)
	e.ts.Start()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.stop(tb, ctx)
	})
	return e
}

func (e *env) stop(tb testing.TB, ctx context.Context) {
	if err := e.srv.Shutdown(ctx); err != nil {
		tb.Errorf("widget Shutdown: %v", err)
	}
	if err := e.chat.Shutdown(ctx); err != nil {
		tb.Errorf("chat Shutdown: %v", err)
	}
	e.ts.Close()
}

func getFrame(tb testing.TB, e *env, query string) (*http.Response, string) {
	tb.Helper()
	res, err := http.Get(e.ts.URL + "/widget/frame?" + query)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func configOf(tb testing.TB, page string) widget.FrameConfig {
	tb.Helper()
	const open = `<script type="application/json" id="porthole-config">`
	i := strings.Index(page, open)
	j := strings.Index(page[i+1:], "</script>")
	if i < 0 || j < 0 {
		tb.Fatalf("no config element in page:\n%s", page)
	}
	var cfg widget.FrameConfig
	if err := json.Unmarshal([]byte(page[i+len(open):i+1+j]), &cfg); err != nil {
		tb.Fatalf("config is not JSON: %v\n%s", err, page)
	}
	return cfg
}

func mustFrameConfig(tb testing.TB, e *env, parent string) widget.FrameConfig {
	tb.Helper()
	res, page := getFrame(tb, e, "business="+e.org.ID+"&parent="+url.QueryEscape(parent))
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("frame status %d: %s", res.StatusCode, page)
	}
	return configOf(tb, page)
}

func TestFrameCSP(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	e := mustEnv(t, db, envOptions{})
	ctx := context.Background()
	empty, _ := db.CreateOrganization(ctx, "No origins yet")
	if _, err := db.Tenant(empty.ID).CreateChatbot(ctx, "bot"); err != nil {
		t.Fatal(err)
	}
	rest := "; default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ws://" + e.ts.Listener.Addr().String() +
		"; img-src 'self' data:; base-uri 'none'; form-action 'none'"
	// Adding shop.example.com allowed its www companion too.
	listed := "https://*.example.org " + shopOrigin + " https://www.shop.example.com"
	tests := []struct {
		name       string
		query      string
		wantStatus int
		ancestors  string
		wantTicket bool
		wantEvent  string
	}{
		{name: "listed origin", query: "business=" + e.org.ID + "&parent=" + shopOrigin, wantStatus: 200,
			ancestors: listed, wantTicket: true},
		{name: "pattern origin", query: "business=" + e.org.ID + "&parent=https://www.example.org", wantStatus: 200,
			ancestors: listed, wantTicket: true},
		{name: "unlisted parent", query: "business=" + e.org.ID + "&parent=https://evil.example.net", wantStatus: 403,
			ancestors: listed, wantEvent: porthole.SecOriginRefused},
		{name: "pattern as parent", query: "business=" + e.org.ID + "&parent=https://*.example.org", wantStatus: 403,
			ancestors: listed, wantEvent: porthole.SecOriginRefused},
		{name: "unknown business", query: "business=" + porthole.NewID() + "&parent=" + shopOrigin, wantStatus: 404, ancestors: "'none'"},
		{name: "malformed business", query: "business=1%27%20OR%201=1&parent=" + shopOrigin, wantStatus: 404, ancestors: "'none'"},
		{name: "empty allowlist", query: "business=" + empty.ID + "&parent=" + shopOrigin, wantStatus: 403, ancestors: "'none'",
			wantEvent: porthole.SecOriginRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.events.kinds())
			res, page := getFrame(t, e, tt.query)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", res.StatusCode, tt.wantStatus, page)
			}
			if got, want := res.Header.Get("Content-Security-Policy"), "frame-ancestors "+tt.ancestors+rest; got != want {
				t.Fatalf("CSP =\n%s\nwant\n%s", got, want)
			}
			if res.Header.Get("X-Frame-Options") != "" {
				t.Fatal("X-Frame-Options must not be set on the frame")
			}
			if tt.wantTicket {
				cfg := configOf(t, page)
				if cfg.Ticket == "" || cfg.Business != e.org.ID || cfg.Chatbot != e.bot.ID || cfg.WSURL != "ws://"+e.ts.Listener.Addr().String()+"/widget/ws" {
					t.Fatalf("config = %+v", cfg)
				}
				if strings.Contains(page, "<script>") || strings.Contains(page, "onload=") {
					t.Fatalf("inline executable script in the frame page:\n%s", page)
				}
			} else if strings.Contains(page, "porthole-config") {
				t.Fatalf("a refused frame carries a config:\n%s", page)
			}
			kinds := e.events.kinds()[before:]
			if tt.wantEvent != "" && (len(kinds) != 1 || kinds[0] != tt.wantEvent) {
				t.Fatalf("security events = %v, want [%s]", kinds, tt.wantEvent)
			}
		})
	}
}

// wsURL builds the socket URL for a frame config.
func wsURL(cfg widget.FrameConfig, ticket, session string) string {
	return cfg.WSURL + "?ticket=" + url.QueryEscape(ticket) + "&session=" + session
}

func tamper(ticket string, change func(map[string]any)) string {
	payload, sig, _ := strings.Cut(ticket, ".")
	b, _ := base64.RawURLEncoding.DecodeString(payload)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	change(m)
	b, _ = json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(b) + "." + sig
}

func TestWSRefusedBeforeUpgrade(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	clock := time.Now()
	var clockMu sync.Mutex
	now := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	e := mustEnv(t, db, envOptions{now: now, limits: widget.Limits{ConnectsPerSession: porthole.Limit{N: 2, Window: time.Minute}}})
	ctx := context.Background()
	cfg := mustFrameConfig(t, e, shopOrigin)
	publicOrigin := e.ts.URL
	tn := db.Tenant(e.org.ID)

	other, _ := db.CreateOrganization(ctx, "Other")
	_, _ = db.Tenant(other.ID).CreateChatbot(ctx, "bot")
	_, _ = db.Tenant(other.ID).AddOrigin(ctx, "https://other.example")

	tests := []struct {
		name    string
		setup   func()
		url     string
		headers http.Header
		status  int
		kind    string
	}{
		{name: "no ticket", url: cfg.WSURL + "?session=" + porthole.NewID(), status: 403, kind: porthole.SecTicketRefused},
		{name: "forged ticket", url: wsURL(cfg, tamper(cfg.Ticket, func(m map[string]any) { m["p"] = "https://evil.example" }), porthole.NewID()), status: 403, kind: porthole.SecTicketRefused},
		{name: "ticket for another business", url: wsURL(cfg, tamper(cfg.Ticket, func(m map[string]any) { m["b"] = other.ID }), porthole.NewID()), status: 403, kind: porthole.SecTicketRefused},
		{name: "garbage ticket", url: wsURL(cfg, "abc.def", porthole.NewID()), status: 403, kind: porthole.SecTicketRefused},
		{name: "no Origin header", url: wsURL(cfg, cfg.Ticket, porthole.NewID()), headers: http.Header{}, status: 403, kind: porthole.SecOriginRefused},
		{name: "host page Origin", url: wsURL(cfg, cfg.Ticket, porthole.NewID()), headers: http.Header{"Origin": {shopOrigin}}, status: 403, kind: porthole.SecOriginRefused},
		{name: "two Origin headers", url: wsURL(cfg, cfg.Ticket, porthole.NewID()), headers: http.Header{"Origin": {publicOrigin, shopOrigin}}, status: 403, kind: porthole.SecOriginRefused},
		{name: "Origin null", url: wsURL(cfg, cfg.Ticket, porthole.NewID()), headers: http.Header{"Origin": {"null"}}, status: 403, kind: porthole.SecOriginRefused},
		{name: "bad session", url: wsURL(cfg, cfg.Ticket, "not-a-uuid"), status: 403, kind: porthole.SecTicketRefused},
		{name: "session connect limit", url: wsURL(cfg, cfg.Ticket, "00000000-0000-7000-8000-000000000001"), setup: func() {
			for i := 0; i < 2; i++ {
				c := mustDialURL(t, e, wsURL(cfg, cfg.Ticket, "00000000-0000-7000-8000-000000000001"))
				c.CloseNow()
			}
		}, status: 429, kind: porthole.SecRateLimited},
		{name: "CIDR deny list", url: wsURL(cfg, cfg.Ticket, porthole.NewID()), setup: func() {
			s, _ := tn.WidgetSettings(ctx, e.bot.ID)
			s.DenyCIDRs = []string{"127.0.0.0/8"}
			if _, err := tn.PutWidgetSettings(ctx, s); err != nil {
				t.Fatal(err)
			}
		}, status: 403, kind: porthole.SecAuthorizationFailed},
		{name: "CIDR allow list without the client", url: wsURL(cfg, cfg.Ticket, porthole.NewID()), setup: func() {
			s, _ := tn.WidgetSettings(ctx, e.bot.ID)
			s.DenyCIDRs, s.AllowCIDRs = nil, []string{"10.0.0.0/8"}
			if _, err := tn.PutWidgetSettings(ctx, s); err != nil {
				t.Fatal(err)
			}
		}, status: 403, kind: porthole.SecAuthorizationFailed},
		{name: "origin removed after the ticket was issued", url: wsURL(cfg, cfg.Ticket, porthole.NewID()), setup: func() {
			s, _ := tn.WidgetSettings(ctx, e.bot.ID)
			s.AllowCIDRs = []string{"127.0.0.0/8"}
			if _, err := tn.PutWidgetSettings(ctx, s); err != nil {
				t.Fatal(err)
			}
			list, _ := tn.Origins(ctx)
			for _, o := range list {
				if o.Origin == shopOrigin {
					if err := tn.RemoveOrigin(ctx, o.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
		}, status: 403, kind: porthole.SecOriginRefused},
		{name: "expired ticket", url: wsURL(cfg, cfg.Ticket, porthole.NewID()), setup: func() {
			clockMu.Lock()
			clock = clock.Add(3 * time.Minute)
			clockMu.Unlock()
		}, status: 403, kind: porthole.SecTicketRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			h := tt.headers
			if h == nil {
				h = http.Header{"Origin": {publicOrigin}}
			}
			before := len(e.events.kinds())
			c, res, err := websocket.Dial(ctx, tt.url, &websocket.DialOptions{HTTPHeader: h})
			if err == nil {
				c.CloseNow()
				t.Fatal("the upgrade succeeded")
			}
			if res == nil || res.StatusCode != tt.status {
				t.Fatalf("response = %v (%v), want status %d", res, err, tt.status)
			}
			kinds := e.events.kinds()[before:]
			if len(kinds) != 1 || kinds[0] != tt.kind {
				t.Fatalf("security events = %v, want [%s]", kinds, tt.kind)
			}
		})
	}
}

func TestWSPerIPConnectLimit(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	e := mustEnv(t, db, envOptions{limits: widget.Limits{ConnectsPerIP: porthole.Limit{N: 3, Window: time.Minute}}})
	cfg := mustFrameConfig(t, e, shopOrigin)
	for i := 0; i < 3; i++ {
		mustDialURL(t, e, wsURL(cfg, cfg.Ticket, porthole.NewID())).CloseNow()
	}
	_, res, err := websocket.Dial(context.Background(), wsURL(cfg, cfg.Ticket, porthole.NewID()),
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {e.ts.URL}}})
	if err == nil || res == nil || res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("4th connect = %v, %v; want 429 with Retry-After", res, err)
	}
	if k := e.events.kinds(); len(k) != 1 || k[0] != porthole.SecRateLimited {
		t.Fatalf("security events = %v", k)
	}
}
