package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

func mustOrg(tb testing.TB, db *store.DB, name string) porthole.Organization {
	tb.Helper()
	org, err := db.CreateOrganization(context.Background(), name)
	if err != nil {
		tb.Fatalf("CreateOrganization(%q): %v", name, err)
	}
	return org
}

func mustChatbot(tb testing.TB, tn *store.Tenant, name string) porthole.Chatbot {
	tb.Helper()
	c, err := tn.CreateChatbot(context.Background(), name)
	if err != nil {
		tb.Fatalf("CreateChatbot(%q): %v", name, err)
	}
	return c
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := porthole.ErrorCode(err); got != code {
		tb.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func TestOrganizationsAndChatbots(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "Smile Clinic"), mustOrg(t, db, "Other Co")
		ta, tb := db.Tenant(a.ID), db.Tenant(b.ID)

		got, err := ta.Organization(ctx)
		if err != nil || got.Name != "Smile Clinic" {
			t.Fatalf("Organization() = %+v, %v", got, err)
		}
		bot := mustChatbot(t, ta, "Front desk")
		mustChatbot(t, tb, "B's bot")

		list, err := ta.Chatbots(ctx)
		if err != nil || len(list) != 1 || list[0].ID != bot.ID {
			t.Fatalf("Chatbots() = %+v, %v; want only %s", list, err, bot.ID)
		}
		renamed, err := ta.RenameChatbot(ctx, bot.ID, "Reception")
		if err != nil || renamed.Name != "Reception" {
			t.Fatalf("RenameChatbot = %+v, %v", renamed, err)
		}

		// Another tenant naming this chatbot's id sees nothing and changes nothing.
		_, err = tb.Chatbot(ctx, bot.ID)
		wantCode(t, err, porthole.ENOTFOUND)
		_, err = tb.RenameChatbot(ctx, bot.ID, "pwned")
		wantCode(t, err, porthole.ENOTFOUND)
		wantCode(t, tb.DeleteChatbot(ctx, bot.ID), porthole.ENOTFOUND)
		if c, err := ta.Chatbot(ctx, bot.ID); err != nil || c.Name != "Reception" {
			t.Fatalf("after foreign attempts Chatbot = %+v, %v", c, err)
		}

		_, err = ta.CreateChatbot(ctx, "   ")
		wantCode(t, err, porthole.EINVALID)
		_, err = ta.Chatbot(ctx, "not-an-id")
		wantCode(t, err, porthole.ENOTFOUND)

		if err := ta.DeleteChatbot(ctx, bot.ID); err != nil {
			t.Fatalf("DeleteChatbot: %v", err)
		}
		_, err = ta.Chatbot(ctx, bot.ID)
		wantCode(t, err, porthole.ENOTFOUND)

		// A handle for an organization that does not exist finds nothing and creates nothing.
		ghost := db.Tenant(porthole.NewID())
		_, err = ghost.Organization(ctx)
		wantCode(t, err, porthole.ENOTFOUND)
		_, err = ghost.CreateChatbot(ctx, "x")
		wantCode(t, err, porthole.ENOTFOUND)

		ids, err := db.OrganizationIDs(ctx)
		if err != nil || len(ids) != 2 {
			t.Fatalf("OrganizationIDs = %v, %v", ids, err)
		}
	})
}

func TestOrigins(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		ta, tb := db.Tenant(a.ID), db.Tenant(b.ID)
		o, err := ta.AddOrigin(ctx, "https://SmileClinic.com:443")
		if err != nil || o.Origin != "https://smileclinic.com" {
			t.Fatalf("AddOrigin = %+v, %v", o, err)
		}
		// Adding a site seeds its www companion too.
		if list, _ := ta.Origins(ctx); len(list) != 2 || list[1].Origin != "https://www.smileclinic.com" || list[1].Pattern {
			t.Fatalf("Origins after adding a site = %+v; want it and its www companion", list)
		}
		// Adding the companion itself is then a conflict, not a second row.
		_, err = ta.AddOrigin(ctx, "https://www.smileclinic.com")
		wantCode(t, err, porthole.ECONFLICT)
		_, err = ta.AddOrigin(ctx, "https://smileclinic.com")
		wantCode(t, err, porthole.ECONFLICT)
		_, err = ta.AddOrigin(ctx, "javascript:alert(1)")
		wantCode(t, err, porthole.EINVALID)
		if _, err := ta.AddOrigin(ctx, "https://*.smileclinic.com"); err != nil {
			t.Fatalf("AddOrigin pattern: %v", err)
		}
		for origin, want := range map[string]bool{
			"https://smileclinic.com":      true,
			"https://www.smileclinic.com":  true,
			"http://smileclinic.com":       false,
			"https://evil.com":             false,
			"https://smileclinic.com.evil": false,
		} {
			got, err := ta.OriginAllowed(ctx, origin)
			if err != nil || got != want {
				t.Fatalf("OriginAllowed(%q) = %v, %v; want %v", origin, got, err, want)
			}
			if got, _ := tb.OriginAllowed(ctx, origin); got {
				t.Fatalf("tenant B allows %q from tenant A's list", origin)
			}
		}
		wantCode(t, tb.RemoveOrigin(ctx, o.ID), porthole.ENOTFOUND)
		if err := ta.RemoveOrigin(ctx, o.ID); err != nil {
			t.Fatalf("RemoveOrigin: %v", err)
		}
		list, _ := ta.Origins(ctx)
		if len(list) != 2 || !list[0].Pattern || list[1].Origin != "https://www.smileclinic.com" {
			t.Fatalf("Origins after remove = %+v; want the pattern and the companion", list)
		}
	})
}

func TestSettings(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a := mustOrg(t, db, "A")
		ta := db.Tenant(a.ID)
		s, err := ta.Settings(ctx)
		if err != nil || s.MessageRetentionDays != 365 {
			t.Fatalf("default Settings = %+v, %v", s, err)
		}
		s.MessageRetentionDays = 30
		s.ChannelRetentionDays = map[string]int{"whatsapp": 7}
		if _, err := ta.UpdateSettings(ctx, s); err != nil {
			t.Fatalf("UpdateSettings: %v", err)
		}
		got, _ := ta.Settings(ctx)
		if got.MessageRetentionDays != 30 || got.ChannelRetentionDays["whatsapp"] != 7 {
			t.Fatalf("Settings after update = %+v", got)
		}
		for _, bad := range []porthole.Settings{
			{MessageRetentionDays: 0, AuditPayloadRetentionDays: 1},
			{MessageRetentionDays: -5, AuditPayloadRetentionDays: 1},
			{MessageRetentionDays: 1, AuditPayloadRetentionDays: 1, ChannelRetentionDays: map[string]int{"web": 0}},
		} {
			_, err := ta.UpdateSettings(ctx, bad)
			wantCode(t, err, porthole.EINVALID)
		}
		_, err = db.Tenant(porthole.NewID()).UpdateSettings(ctx, porthole.DefaultSettings(""))
		wantCode(t, err, porthole.ENOTFOUND)
	})
}

func TestUsersAndMemberships(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		u, err := db.CreateUser(ctx, " Owner@Example.com ", "Olive", "hash1")
		if err != nil || u.Email != "owner@example.com" {
			t.Fatalf("CreateUser = %+v, %v", u, err)
		}
		_, err = db.CreateUser(ctx, "OWNER@example.com", "", "h")
		wantCode(t, err, porthole.ECONFLICT)
		_, err = db.CreateUser(ctx, "not an email", "", "h")
		wantCode(t, err, porthole.EINVALID)

		got, hash, err := db.UserByEmail(ctx, "owner@EXAMPLE.com")
		if err != nil || got.ID != u.ID || hash != "hash1" {
			t.Fatalf("UserByEmail = %+v, %q, %v", got, hash, err)
		}
		if err := db.SetPasswordHash(ctx, u.ID, "hash2"); err != nil {
			t.Fatalf("SetPasswordHash: %v", err)
		}
		if _, hash, _ := db.UserByID(ctx, u.ID); hash != "hash2" {
			t.Fatalf("hash after set = %q", hash)
		}

		if _, err := db.Tenant(a.ID).AddMember(ctx, u.ID, porthole.RoleOwner); err != nil {
			t.Fatalf("AddMember: %v", err)
		}
		_, err = db.Tenant(a.ID).AddMember(ctx, u.ID, porthole.RoleAgent)
		wantCode(t, err, porthole.ECONFLICT)
		_, err = db.Tenant(a.ID).AddMember(ctx, u.ID, "root")
		wantCode(t, err, porthole.EINVALID)
		_, err = db.Tenant(b.ID).Member(ctx, u.ID)
		wantCode(t, err, porthole.ENOTFOUND)

		ms, err := db.UserMemberships(ctx, u.ID)
		if err != nil || len(ms) != 1 || ms[0].OrgID != a.ID || ms[0].Role != porthole.RoleOwner {
			t.Fatalf("UserMemberships = %+v, %v", ms, err)
		}
		if err := db.Tenant(a.ID).SetMemberRole(ctx, u.ID, porthole.RoleViewer); err != nil {
			t.Fatalf("SetMemberRole: %v", err)
		}
		wantCode(t, db.Tenant(b.ID).SetMemberRole(ctx, u.ID, porthole.RoleOwner), porthole.ENOTFOUND)
		if m, _ := db.Tenant(a.ID).Member(ctx, u.ID); m.Role != porthole.RoleViewer {
			t.Fatalf("role = %q", m.Role)
		}
		wantCode(t, db.Tenant(b.ID).RemoveMember(ctx, u.ID), porthole.ENOTFOUND)
		if err := db.Tenant(a.ID).RemoveMember(ctx, u.ID); err != nil {
			t.Fatalf("RemoveMember: %v", err)
		}
	})
}

func TestAPIKeys(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		hash := sha256.Sum256([]byte("secret"))
		k, err := db.Tenant(a.ID).CreateAPIKey(ctx, porthole.APIKey{Name: "CI", Prefix: "ph_abc", Scopes: []string{"chatbots:read"}}, hash[:])
		if err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
		got, err := db.Tenant(a.ID).APIKeyByHash(ctx, hash[:])
		if err != nil || got.ID != k.ID || !slices.Equal(got.Scopes, []string{"chatbots:read"}) || got.LastUsedAt == nil {
			t.Fatalf("APIKeyByHash = %+v, %v", got, err)
		}
		_, err = db.Tenant(b.ID).APIKeyByHash(ctx, hash[:])
		wantCode(t, err, porthole.ENOTFOUND)
		wantCode(t, db.Tenant(b.ID).RevokeAPIKey(ctx, k.ID), porthole.ENOTFOUND)
		if err := db.Tenant(a.ID).RevokeAPIKey(ctx, k.ID); err != nil {
			t.Fatalf("RevokeAPIKey: %v", err)
		}
		_, err = db.Tenant(a.ID).APIKeyByHash(ctx, hash[:])
		wantCode(t, err, porthole.ENOTFOUND)
		list, _ := db.Tenant(a.ID).APIKeys(ctx)
		if len(list) != 1 || list[0].RevokedAt == nil {
			t.Fatalf("APIKeys = %+v", list)
		}
	})
}

func TestSecurityEvents(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		for _, ev := range []porthole.SecurityEvent{
			{OrgID: a.ID, Kind: porthole.SecAuthorizationFailed, Detail: "a1", Data: map[string]any{"route": "x"}},
			{OrgID: b.ID, Kind: porthole.SecRateLimited, Detail: "b1"},
			{Kind: porthole.SecCORSRefused, Detail: "no tenant"},
			{OrgID: porthole.NewID(), Kind: porthole.SecOriginRefused, Detail: "unknown org"},
		} {
			if err := db.InsertSecurityEvent(ctx, ev); err != nil {
				t.Fatalf("InsertSecurityEvent(%s): %v", ev.Detail, err)
			}
		}
		list, err := db.Tenant(a.ID).SecurityEvents(ctx, 10)
		if err != nil || len(list) != 1 || list[0].Detail != "a1" || list[0].Data["route"] != "x" {
			t.Fatalf("SecurityEvents(A) = %+v, %v", list, err)
		}
	})
}

func TestOpenRefusesCorruptFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "porthole.db")
	junk := bytes.Repeat([]byte("not a database "), 100)
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := store.Open(context.Background(), store.Options{URL: "sqlite:" + path, Migrate: true})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "not a SQLite database") {
		t.Fatalf("Open(corrupt) error = %v; want one line naming the problem", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, junk) {
		t.Fatal("Open rewrote a corrupt file")
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatal("Open created a WAL beside a corrupt file")
	}
}

func TestOpenRefusesTruncatedDatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "porthole.db")
	db, err := store.Open(context.Background(), store.Options{URL: "sqlite:" + path, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, _ := os.ReadFile(path)
	// Keep the magic header, scribble over the rest of the first page.
	for i := 16; i < 100 && i < len(raw); i++ {
		raw[i] = 0xff
	}
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(context.Background(), store.Options{URL: "sqlite:" + path, Migrate: true})
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Open(scribbled) error = %v; want a one-line error", err)
	}
}

func TestOpenUnreachablePostgres(t *testing.T) {
	_, err := store.Open(context.Background(), store.Options{URL: "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", Migrate: true})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("Open(unreachable) error = %v; want one line naming PostgreSQL", err)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		name, in string
		want     store.Dialect
		bad      bool
	}{
		{name: "default", in: "", want: store.SQLite},
		{name: "sqlite path", in: "sqlite:/tmp/x.db", want: store.SQLite},
		{name: "sqlite url", in: "sqlite:///tmp/x.db", want: store.SQLite},
		{name: "postgres", in: "postgres://u@h/db", want: store.Postgres},
		{name: "postgresql", in: "postgresql://u@h/db", want: store.Postgres},
		{name: "mysql refused", in: "mysql://u@h/db", bad: true},
		{name: "empty sqlite", in: "sqlite:", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := store.ParseURL(tt.in, "data")
			if tt.bad != (err != nil) || (!tt.bad && got.Dialect != tt.want) {
				t.Fatalf("ParseURL(%q) = %+v, %v", tt.in, got, err)
			}
		})
	}
}
