package store_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

func mustAccountUser(tb testing.TB, db *store.DB, email string) porthole.User {
	tb.Helper()
	u, err := db.CreateUser(context.Background(), email, "", "x")
	if err != nil {
		tb.Fatalf("CreateUser(%q): %v", email, err)
	}
	return u
}

func TestSessionStore(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		org := mustOrg(t, db, "Org")
		alice, bob := mustAccountUser(t, db, "alice@example.com"), mustAccountUser(t, db, "bob@example.com")
		now := time.UnixMilli(1_700_000_000_000).UTC()
		mk := func(u porthole.User, hash string) store.Session {
			s, err := db.CreateSession(ctx, store.Session{TokenHash: []byte(hash), UserID: u.ID, OrgID: org.ID, UserAgent: "test", IP: "192.0.2.1",
				CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(12 * time.Hour)})
			if err != nil {
				t.Fatalf("CreateSession: %v", err)
			}
			return s
		}
		a1, a2, b1 := mk(alice, "a1"), mk(alice, "a2"), mk(bob, "b1")

		got, err := db.SessionByTokenHash(ctx, []byte("a1"))
		if err != nil || got.ID != a1.ID || got.OrgID != org.ID || got.UserID != alice.ID {
			t.Fatalf("SessionByTokenHash = %+v, %v", got, err)
		}
		if err := db.TouchSession(ctx, a1.ID, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.SessionByTokenHash(ctx, []byte("a1")); !got.LastSeenAt.Equal(now.Add(time.Minute)) {
			t.Fatalf("LastSeenAt = %v", got.LastSeenAt)
		}
		list, err := db.UserSessions(ctx, alice.ID, now)
		if err != nil || len(list) != 2 {
			t.Fatalf("UserSessions = %v, %v", list, err)
		}
		// Bob cannot revoke Alice's session by its id.
		wantCode(t, db.RevokeSession(ctx, bob.ID, a1.ID, now), porthole.ENOTFOUND)
		if err := db.RevokeSession(ctx, alice.ID, a1.ID, now); err != nil {
			t.Fatal(err)
		}
		_, err = db.SessionByTokenHash(ctx, []byte("a1"))
		wantCode(t, err, porthole.ENOTFOUND)
		ids, err := db.RevokeUserSessions(ctx, alice.ID, "", now)
		if err != nil || len(ids) != 1 || ids[0] != a2.ID {
			t.Fatalf("RevokeUserSessions = %v, %v", ids, err)
		}
		if _, err := db.SessionByTokenHash(ctx, []byte("b1")); err != nil {
			t.Fatalf("bob's session ended with alice's: %v", err)
		}
		if n, err := db.DeleteSessionsBefore(ctx, now.Add(time.Second)); err != nil || n != 2 {
			t.Fatalf("DeleteSessionsBefore = %d, %v", n, err)
		}
		_ = b1
	})
}

func TestTokenRevocationsAndLocks(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		if err := db.RevokeToken(ctx, "sid", "s1", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeToken(ctx, "sid", "s1", now.Add(2*time.Hour)); err != nil {
			t.Fatalf("second revoke: %v", err)
		}
		tests := []struct {
			name, sid, jti string
			want           bool
		}{
			{"revoked session", "s1", "j1", true},
			{"other session", "s2", "j1", false},
		}
		for _, tt := range tests {
			got, err := db.TokenRevoked(ctx, tt.sid, tt.jti)
			if err != nil || got != tt.want {
				t.Fatalf("%s: TokenRevoked = %v, %v", tt.name, got, err)
			}
		}
		h := []byte("subject")
		if until, err := db.LoginLockedUntil(ctx, now, h); err != nil || !until.IsZero() {
			t.Fatalf("LoginLockedUntil before lock = %v, %v", until, err)
		}
		if err := db.LockLogin(ctx, h, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := db.LockLogin(ctx, h, now.Add(time.Second)); err != nil { // an earlier end never shortens a lock
			t.Fatal(err)
		}
		until, err := db.LoginLockedUntil(ctx, now, []byte("other"), h)
		if err != nil || !until.Equal(now.Add(time.Minute)) {
			t.Fatalf("LoginLockedUntil = %v, %v", until, err)
		}
		if until, _ := db.LoginLockedUntil(ctx, now.Add(2*time.Minute), h); !until.IsZero() {
			t.Fatalf("lock outlived its end: %v", until)
		}
	})
}

func TestPasswordResetStore(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		u := mustAccountUser(t, db, "carol@example.com")
		now := time.UnixMilli(1_700_000_000_000).UTC()
		r1 := store.PasswordReset{ID: porthole.NewID(), UserID: u.ID, TokenHash: []byte("h1"), CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute)}
		r2 := store.PasswordReset{ID: porthole.NewID(), UserID: u.ID, TokenHash: []byte("h2"), CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute)}
		for _, r := range []store.PasswordReset{r1, r2} {
			if err := db.CreatePasswordReset(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		_, err := db.ConsumePasswordReset(ctx, r1.ID, []byte("wrong"), now)
		wantCode(t, err, porthole.ENOTFOUND)
		_, err = db.ConsumePasswordReset(ctx, r1.ID, r1.TokenHash, now.Add(31*time.Minute))
		wantCode(t, err, porthole.ENOTFOUND)
		uid, err := db.ConsumePasswordReset(ctx, r1.ID, r1.TokenHash, now)
		if err != nil || uid != u.ID {
			t.Fatalf("ConsumePasswordReset = %q, %v", uid, err)
		}
		_, err = db.ConsumePasswordReset(ctx, r1.ID, r1.TokenHash, now)
		wantCode(t, err, porthole.ENOTFOUND)
		// Using one reset retires the user's other outstanding ones.
		_, err = db.ConsumePasswordReset(ctx, r2.ID, r2.TokenHash, now)
		wantCode(t, err, porthole.ENOTFOUND)
	})
}

func TestInvitationStore(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		ta, tb := db.Tenant(a.ID), db.Tenant(b.ID)
		now := time.UnixMilli(1_700_000_000_000).UTC()
		inv, err := ta.CreateInvitation(ctx, store.Invitation{Email: " Dan@Example.com", Role: porthole.RoleAgent, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, []byte("tok"))
		if err != nil || inv.Email != "dan@example.com" {
			t.Fatalf("CreateInvitation = %+v, %v", inv, err)
		}
		_, err = tb.PendingInvitation(ctx, []byte("tok"), now)
		wantCode(t, err, porthole.ENOTFOUND)
		got, err := ta.PendingInvitation(ctx, []byte("tok"), now)
		if err != nil || got.ID != inv.ID || got.Role != porthole.RoleAgent {
			t.Fatalf("PendingInvitation = %+v, %v", got, err)
		}
		if list, err := ta.Invitations(ctx, now); err != nil || len(list) != 1 {
			t.Fatalf("Invitations = %v, %v", list, err)
		}
		u := mustAccountUser(t, db, "dan@example.com")
		_, err = tb.AcceptInvitation(ctx, inv.ID, u.ID, now)
		wantCode(t, err, porthole.ENOTFOUND)
		_, err = ta.AcceptInvitation(ctx, inv.ID, u.ID, now.Add(2*time.Hour))
		wantCode(t, err, porthole.ENOTFOUND)
		m, err := ta.AcceptInvitation(ctx, inv.ID, u.ID, now)
		if err != nil || m.Role != porthole.RoleAgent {
			t.Fatalf("AcceptInvitation = %+v, %v", m, err)
		}
		_, err = ta.AcceptInvitation(ctx, inv.ID, u.ID, now)
		wantCode(t, err, porthole.ENOTFOUND)
		profiles, err := ta.MemberProfiles(ctx)
		if err != nil || len(profiles) != 1 || profiles[0].Email != "dan@example.com" {
			t.Fatalf("MemberProfiles = %+v, %v", profiles, err)
		}
		inv2, _ := ta.CreateInvitation(ctx, store.Invitation{Email: "eve@example.com", Role: porthole.RoleViewer, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, []byte("tok2"))
		wantCode(t, tb.RevokeInvitation(ctx, inv2.ID, now), porthole.ENOTFOUND)
		if err := ta.RevokeInvitation(ctx, inv2.ID, now); err != nil {
			t.Fatal(err)
		}
		_, err = ta.PendingInvitation(ctx, []byte("tok2"), now)
		wantCode(t, err, porthole.ENOTFOUND)
	})
}

func TestSigningKeyStore(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		for i, kid := range []string{"k1", "k2"} {
			k := store.SigningKey{KID: kid, PublicDER: []byte("pub" + kid), PrivateSealed: []byte("priv"), CreatedAt: now, NotBefore: now.Add(time.Duration(i) * time.Minute)}
			if err := db.CreateSigningKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.RetireSigningKeys(ctx, "k2", now.Add(time.Minute), now.Add(20*time.Minute)); err != nil {
			t.Fatal(err)
		}
		keys, err := db.SigningKeys(ctx, now.Add(10*time.Minute))
		if err != nil || len(keys) != 2 || keys[0].KID != "k2" || keys[1].RetireAt == nil || !bytes.Equal(keys[0].PublicDER, []byte("pubk2")) {
			t.Fatalf("SigningKeys = %+v, %v", keys, err)
		}
		keys, err = db.SigningKeys(ctx, now.Add(30*time.Minute))
		if err != nil || len(keys) != 1 || keys[0].KID != "k2" {
			t.Fatalf("SigningKeys after expiry = %+v, %v", keys, err)
		}
	})
}

func TestGrantsAndSharing(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		ta, tb := db.Tenant(a.ID), db.Tenant(b.ID)
		botA, botB := mustChatbot(t, ta, "a"), mustChatbot(t, tb, "b")
		u := mustAccountUser(t, db, "fay@example.com")
		if _, err := ta.AddMember(ctx, u.ID, porthole.RoleAgent); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name      string
			tn        *store.Tenant
			chatbotID string
			access    string
			code      string
		}{
			{"own chatbot read", ta, botA.ID, "read", ""},
			{"own chatbot write", ta, botA.ID, "write", ""},
			{"other tenant's chatbot", ta, botB.ID, "read", porthole.ENOTFOUND},
			{"not a member there", tb, botB.ID, "read", porthole.ENOTFOUND},
			{"bad access", ta, botA.ID, "admin", porthole.EINVALID},
		}
		for _, tt := range tests {
			err := tt.tn.SetChatbotGrant(ctx, tt.chatbotID, u.ID, tt.access)
			if porthole.ErrorCode(err) != tt.code {
				t.Fatalf("%s: SetChatbotGrant = %v, want code %q", tt.name, err, tt.code)
			}
		}
		grants, err := ta.UserChatbotGrants(ctx, u.ID)
		if err != nil || len(grants) != 1 || grants[botA.ID] != "write" {
			t.Fatalf("UserChatbotGrants = %v, %v", grants, err)
		}
		if list, err := ta.ChatbotGrants(ctx, botA.ID); err != nil || len(list) != 1 {
			t.Fatalf("ChatbotGrants = %v, %v", list, err)
		}
		if p, err := ta.ConversationSharing(ctx, botA.ID); err != nil || p != store.SharingTeam {
			t.Fatalf("default sharing = %q, %v", p, err)
		}
		if err := ta.SetConversationSharing(ctx, botA.ID, store.SharingAssignedOnly); err != nil {
			t.Fatal(err)
		}
		if p, _ := ta.ConversationSharing(ctx, botA.ID); p != store.SharingAssignedOnly {
			t.Fatalf("sharing = %q", p)
		}
		wantCode(t, ta.SetConversationSharing(ctx, botB.ID, store.SharingTeam), porthole.ENOTFOUND)
		_, err = ta.ConversationSharing(ctx, botB.ID)
		wantCode(t, err, porthole.ENOTFOUND)
		// Leaving the organization drops the member's grants.
		if err := ta.RemoveMember(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if grants, _ := ta.UserChatbotGrants(ctx, u.ID); len(grants) != 0 {
			t.Fatalf("grants outlived membership: %v", grants)
		}
		if err := ta.SetChatbotGrant(ctx, botA.ID, u.ID, ""); porthole.ErrorCode(err) != porthole.ENOTFOUND {
			t.Fatalf("removing a grant of a non-member = %v", err)
		}
	})
}
