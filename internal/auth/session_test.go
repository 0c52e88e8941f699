package auth

import (
	"context"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

func TestLoginSessionAndLogout(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		h := mustHarness(t, db)
		ctx := context.Background()
		org := h.mustOrg(t, "Smile Clinic")
		u := h.mustMember(t, org.ID, "owner@example.com", porthole.RoleOwner)

		first := h.mustLogin(t, "Owner@Example.com ")
		second := h.mustLogin(t, "owner@example.com")
		if len(first.Token) != 43 || first.Token == second.Token || first.Session.ID == second.Session.ID {
			t.Fatalf("session ids not fresh and 256-bit: %q %q", first.Token, second.Token)
		}
		stored, err := db.SessionByTokenHash(ctx, sha256Sum(first.Token))
		if err != nil || string(stored.TokenHash) == first.Token {
			t.Fatalf("session not stored hashed: %v", err)
		}

		byCookie := h.mustPrincipal(t, Credentials{Cookie: first.Token})
		byToken := h.mustPrincipal(t, Credentials{Authorization: "Bearer " + first.AccessToken})
		for _, p := range []Principal{byCookie, byToken} {
			if p.UserID != u.ID || p.Org != org.ID || p.Role != porthole.RoleOwner || p.SessionID != first.Session.ID {
				t.Fatalf("principal = %+v", p)
			}
		}
		if byCookie.Via != ViaSession || byToken.Via != ViaAccessToken || byToken.TokenID == "" {
			t.Fatalf("via = %s / %s", byCookie.Via, byToken.Via)
		}

		list, err := h.svc.Sessions(ctx, byCookie)
		if err != nil || len(list) != 2 {
			t.Fatalf("Sessions = %+v, %v", list, err)
		}
		for _, s := range list {
			if s.Current != (s.ID == first.Session.ID) || s.UserAgent != "test" || s.IP != "192.0.2.10" {
				t.Fatalf("session view = %+v", s)
			}
		}

		// Revoke the second session from the first.
		if err := h.svc.RevokeSession(ctx, byCookie, second.Session.ID); err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.Authenticate(ctx, Credentials{Cookie: second.Token})
		wantCode(t, err, porthole.EUNAUTHORIZED)
		_, err = h.svc.Authenticate(ctx, Credentials{Authorization: "Bearer " + second.AccessToken})
		wantCode(t, err, porthole.EUNAUTHORIZED)

		// Another user cannot revoke this session by its id.
		other := h.mustMember(t, org.ID, "agent@example.com", porthole.RoleAgent)
		otherP := Principal{Kind: KindUser, UserID: other.ID, Org: org.ID, Role: porthole.RoleAgent}
		wantCode(t, h.svc.RevokeSession(ctx, otherP, first.Session.ID), porthole.ENOTFOUND)

		// Logout ends the session server-side: the old cookie and token fail.
		if err := h.svc.Logout(ctx, byCookie); err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.Authenticate(ctx, Credentials{Cookie: first.Token})
		wantCode(t, err, porthole.EUNAUTHORIZED)
		_, err = h.svc.Authenticate(ctx, Credentials{Authorization: "Bearer " + first.AccessToken})
		wantCode(t, err, porthole.EUNAUTHORIZED)
	})
}

func TestSessionTimeouts(t *testing.T) {
	h := mustSQLiteHarness(t)
	ctx := context.Background()
	org := h.mustOrg(t, "Org")
	h.mustMember(t, org.ID, "a@example.com", porthole.RoleViewer)

	t.Run("idle timeout", func(t *testing.T) {
		res := h.mustLogin(t, "a@example.com")
		h.clock.Advance(29 * time.Minute)
		h.mustPrincipal(t, Credentials{Cookie: res.Token}) // activity resets the idle clock
		h.clock.Advance(29 * time.Minute)
		h.mustPrincipal(t, Credentials{Cookie: res.Token})
		h.clock.Advance(30 * time.Minute)
		_, err := h.svc.Authenticate(ctx, Credentials{Cookie: res.Token})
		wantCode(t, err, porthole.EUNAUTHORIZED)
	})
	t.Run("absolute lifetime", func(t *testing.T) {
		res := h.mustLogin(t, "a@example.com")
		for elapsed := time.Duration(0); elapsed < 12*time.Hour-20*time.Minute; elapsed += 20 * time.Minute {
			h.clock.Advance(20 * time.Minute)
			h.mustPrincipal(t, Credentials{Cookie: res.Token})
		}
		h.clock.Advance(20 * time.Minute) // now at 12 h
		_, err := h.svc.Authenticate(ctx, Credentials{Cookie: res.Token})
		wantCode(t, err, porthole.EUNAUTHORIZED)
	})
	t.Run("access token expires", func(t *testing.T) {
		res := h.mustLogin(t, "a@example.com")
		h.clock.Advance(15*time.Minute + clockSkew + time.Second)
		_, err := h.svc.Authenticate(ctx, Credentials{Authorization: "Bearer " + res.AccessToken})
		wantCode(t, err, porthole.EUNAUTHORIZED)
	})
	t.Run("junk cookies", func(t *testing.T) {
		for _, c := range []string{"x", "../../etc/passwd", string(make([]byte, 43)), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
			_, err := h.svc.Authenticate(ctx, Credentials{Cookie: c})
			wantCode(t, err, porthole.EUNAUTHORIZED)
		}
		_, err := h.svc.Authenticate(ctx, Credentials{})
		wantCode(t, err, porthole.EUNAUTHORIZED)
		_, err = h.svc.Authenticate(ctx, Credentials{Authorization: "Basic YWxhZGRpbjpvcGVuc2VzYW1l"})
		wantCode(t, err, porthole.EUNAUTHORIZED)
	})
}

func TestRemovedMemberLosesOrganization(t *testing.T) {
	h := mustSQLiteHarness(t)
	ctx := context.Background()
	org := h.mustOrg(t, "Org")
	u := h.mustMember(t, org.ID, "b@example.com", porthole.RoleAdmin)
	res := h.mustLogin(t, "b@example.com")
	if err := h.db.Tenant(org.ID).RemoveMember(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	p := h.mustPrincipal(t, Credentials{Cookie: res.Token})
	if p.Org != "" || p.Can("chatbots:read") || !p.Can(PermSelf) {
		t.Fatalf("removed member still acts in the org: %+v", p)
	}
}

func TestLoginLockoutLooksTheSameForUnknownEmails(t *testing.T) {
	h := mustSQLiteHarness(t)
	ctx := context.Background()
	org := h.mustOrg(t, "Org")
	h.mustMember(t, org.ID, "known@example.com", porthole.RoleOwner)

	attempt := func(email, password, ip string) error {
		_, err := h.svc.Login(ctx, LoginInput{Email: email, Password: password, Client: Client{IP: ip}})
		return err
	}
	tests := []struct {
		name, email, ip string
	}{
		{"known email", "known@example.com", "198.51.100.1"},
		{"unknown email", "nobody@example.com", "198.51.100.2"},
	}
	var answers [2][]string
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for n := int64(1); n <= DefaultEmailFailures.N; n++ {
				err := attempt(tt.email, "wrong-password-123", tt.ip)
				wantCode(t, err, porthole.EUNAUTHORIZED)
				answers[i] = append(answers[i], porthole.ErrorCode(err)+": "+porthole.ErrorMessage(err))
			}
			err := attempt(tt.email, "wrong-password-123", tt.ip)
			wantCode(t, err, porthole.ERATELIMITED)
			answers[i] = append(answers[i], porthole.ErrorCode(err)+": "+porthole.ErrorMessage(err))
			// Locked means locked: the right password (for the known email)
			// gets the same answer, from any IP.
			err = attempt(tt.email, testPassword, "203.0.113.9")
			wantCode(t, err, porthole.ERATELIMITED)
			answers[i] = append(answers[i], porthole.ErrorCode(err)+": "+porthole.ErrorMessage(err))
		})
	}
	if len(answers[0]) == 0 || len(answers[0]) != len(answers[1]) {
		t.Fatalf("answers: %v / %v", answers[0], answers[1])
	}
	for i := range answers[0] {
		if answers[0][i] != answers[1][i] {
			t.Fatalf("attempt %d: known email got %q, unknown got %q", i+1, answers[0][i], answers[1][i])
		}
	}
	if n := h.events.count(porthole.SecLockout); n != 2 {
		t.Fatalf("lockout events = %d, want 2", n)
	}

	t.Run("lock lifts", func(t *testing.T) {
		h.clock.Advance(DefaultLockout + DefaultEmailFailures.Window*2)
		if err := attempt("known@example.com", testPassword, "198.51.100.1"); err != nil {
			t.Fatalf("after the lockout: %v", err)
		}
	})
	t.Run("by IP across emails", func(t *testing.T) {
		ip := "198.51.100.77"
		for n := int64(0); n < DefaultIPFailures.N; n++ {
			wantCode(t, attempt("spray"+string(rune('a'+n))+"@example.com", "wrong-password-123", ip), porthole.EUNAUTHORIZED)
		}
		wantCode(t, attempt("known@example.com", testPassword, ip), porthole.ERATELIMITED)
		if err := attempt("known@example.com", testPassword, "198.51.100.78"); err != nil {
			t.Fatalf("another IP is locked too: %v", err)
		}
	})
}

func TestPasswordChangeEndsSessions(t *testing.T) {
	h := mustSQLiteHarness(t)
	ctx := context.Background()
	org := h.mustOrg(t, "Org")
	h.mustMember(t, org.ID, "c@example.com", porthole.RoleAgent)
	a, b := h.mustLogin(t, "c@example.com"), h.mustLogin(t, "c@example.com")
	p := h.mustPrincipal(t, Credentials{Cookie: a.Token})

	_, err := h.svc.ChangePassword(ctx, p, "not-the-password", "a-new-long-passphrase", Client{})
	wantCode(t, err, porthole.EINVALID)
	_, err = h.svc.ChangePassword(ctx, p, testPassword, "short", Client{})
	wantCode(t, err, porthole.EINVALID)
	res, err := h.svc.ChangePassword(ctx, p, testPassword, "a-new-long-passphrase", Client{})
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range []string{a.Token, b.Token} {
		_, err := h.svc.Authenticate(ctx, Credentials{Cookie: old})
		wantCode(t, err, porthole.EUNAUTHORIZED)
	}
	_, err = h.svc.Authenticate(ctx, Credentials{Authorization: "Bearer " + b.AccessToken})
	wantCode(t, err, porthole.EUNAUTHORIZED)
	h.mustPrincipal(t, Credentials{Cookie: res.Token})
	if _, err := h.svc.Login(ctx, LoginInput{Email: "c@example.com", Password: "a-new-long-passphrase"}); err != nil {
		t.Fatalf("login with new password: %v", err)
	}
}

func TestAccessTokenRefreshOnlyFromCookie(t *testing.T) {
	h := mustSQLiteHarness(t)
	org := h.mustOrg(t, "Org")
	h.mustMember(t, org.ID, "d@example.com", porthole.RoleAgent)
	res := h.mustLogin(t, "d@example.com")
	ctx := context.Background()
	byToken := h.mustPrincipal(t, Credentials{Authorization: "Bearer " + res.AccessToken})
	_, _, err := h.svc.IssueAccessToken(ctx, byToken)
	wantCode(t, err, porthole.EFORBIDDEN)
	tok, ttl, err := h.svc.IssueAccessToken(ctx, h.mustPrincipal(t, Credentials{Cookie: res.Token}))
	if err != nil || ttl != 15*time.Minute {
		t.Fatalf("IssueAccessToken = %v, %v", ttl, err)
	}
	h.mustPrincipal(t, Credentials{Authorization: "Bearer " + tok})
}
