package auth

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// tokenFromLink returns the token query parameter of an emailed link.
func tokenFromLink(tb testing.TB, text string) string {
	tb.Helper()
	i := strings.Index(text, "https://porthole.example/")
	if i < 0 {
		tb.Fatalf("no link in %q", text)
	}
	link := strings.Fields(text[i:])[0]
	u, err := url.Parse(link)
	if err != nil {
		tb.Fatal(err)
	}
	return u.Query().Get("token")
}

func TestPasswordReset(t *testing.T) {
	mailer := &fakeMailer{}
	h := mustSQLiteHarness(t, withMailer(mailer))
	ctx := context.Background()
	org := h.mustOrg(t, "Org")
	h.mustMember(t, org.ID, "g@example.com", porthole.RoleOwner)
	session := h.mustLogin(t, "g@example.com")

	// The request answers the same for an unknown email, and mails nothing.
	if err := h.svc.RequestPasswordReset(ctx, "ghost@example.com", Client{}); err != nil {
		t.Fatalf("unknown email: %v", err)
	}
	if len(h.svc.mail) != 0 {
		t.Fatal("mail queued for an unknown email")
	}
	if err := h.svc.RequestPasswordReset(ctx, "g@example.com", Client{}); err != nil {
		t.Fatal(err)
	}
	job := <-h.svc.mail
	if job.to != "g@example.com" {
		t.Fatalf("mail to %q", job.to)
	}
	token := tokenFromLink(t, job.body)

	parts := strings.Split(token, ".")
	exp, _ := strconv.ParseInt(parts[1], 10, 64)
	forgedLonger := parts[0] + "." + strconv.FormatInt(exp+86400, 10) + "." + parts[2]
	tests := []struct {
		name, token string
	}{
		{"forged signature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))},
		{"expiry moved", forgedLonger},
		{"other id", porthole.NewID() + "." + parts[1] + "." + parts[2]},
		{"garbage", "not-a-token"},
		{"huge", strings.Repeat("a", 10000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.svc.ConfirmPasswordReset(ctx, tt.token, "brand-new-passphrase", Client{})
			wantCode(t, err, porthole.EINVALID)
			if err != errBadResetToken {
				t.Fatalf("error %v differs from the one answer", err)
			}
		})
	}
	// A weak new password does not use up the token.
	wantCode(t, h.svc.ConfirmPasswordReset(ctx, token, "short", Client{}), porthole.EINVALID)
	if err := h.svc.ConfirmPasswordReset(ctx, token, "brand-new-passphrase", Client{}); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if err := h.svc.ConfirmPasswordReset(ctx, token, "another-new-passphrase", Client{}); err != errBadResetToken {
		t.Fatalf("second use: %v", err)
	}
	// Every session of the account ended.
	_, err := h.svc.Authenticate(ctx, Credentials{Cookie: session.Token})
	wantCode(t, err, porthole.EUNAUTHORIZED)
	if _, err := h.svc.Login(ctx, LoginInput{Email: "g@example.com", Password: "brand-new-passphrase"}); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	if h.events.count(porthole.SecBadSignature) == 0 {
		t.Fatal("a forged reset token recorded no security event")
	}

	t.Run("expired", func(t *testing.T) {
		link, err := h.svc.IssuePasswordResetLink(ctx, "g@example.com")
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(30*time.Minute + time.Second)
		err = h.svc.ConfirmPasswordReset(ctx, tokenFromLink(t, link), "brand-new-passphrase-2", Client{})
		if err != errBadResetToken {
			t.Fatalf("expired token: %v", err)
		}
	})
	t.Run("requests are limited per address", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			if err := h.svc.RequestPasswordReset(ctx, "g@example.com", Client{}); err != nil {
				t.Fatal(err)
			}
		}
		// Three per hour, and the first request above is 30 minutes old.
		if n := len(h.svc.mail); n != 2 {
			t.Fatalf("queued %d mails, want 2", n)
		}
	})
}

func TestInvitations(t *testing.T) {
	h := mustSQLiteHarness(t) // no SMTP: links come back to the inviter
	ctx := context.Background()
	org, other := h.mustOrg(t, "Org"), h.mustOrg(t, "Other")
	h.mustMember(t, org.ID, "owner@example.com", porthole.RoleOwner)
	h.mustMember(t, org.ID, "admin@example.com", porthole.RoleAdmin)
	h.mustMember(t, org.ID, "viewer@example.com", porthole.RoleViewer)
	existing := h.mustMember(t, other.ID, "existing@example.com", porthole.RoleOwner)
	admin := h.mustPrincipal(t, Credentials{Cookie: h.mustLogin(t, "admin@example.com").Token})
	viewer := h.mustPrincipal(t, Credentials{Cookie: h.mustLogin(t, "viewer@example.com").Token})

	_, err := h.svc.Invite(ctx, viewer, "x@example.com", porthole.RoleViewer)
	wantCode(t, err, porthole.EFORBIDDEN)
	_, err = h.svc.Invite(ctx, admin, "x@example.com", porthole.RoleOwner)
	wantCode(t, err, porthole.EFORBIDDEN)
	_, err = h.svc.Invite(ctx, admin, "not an email", porthole.RoleAgent)
	wantCode(t, err, porthole.EINVALID)

	inv, err := h.svc.Invite(ctx, admin, "New.Agent@example.com", porthole.RoleAgent)
	if err != nil || inv.Link == "" || inv.Emailed || inv.Invitation.Email != "new.agent@example.com" {
		t.Fatalf("Invite = %+v, %v", inv, err)
	}
	token := tokenFromLink(t, inv.Link)
	_, err = h.svc.AcceptInvitation(ctx, token, "New Agent", "short", Client{})
	wantCode(t, err, porthole.EINVALID)
	res, err := h.svc.AcceptInvitation(ctx, token, "New Agent", "a-fine-long-passphrase", Client{})
	if err != nil {
		t.Fatalf("AcceptInvitation: %v", err)
	}
	p := h.mustPrincipal(t, Credentials{Cookie: res.Token})
	if p.Org != org.ID || p.Role != porthole.RoleAgent {
		t.Fatalf("new member principal = %+v", p)
	}
	_, err = h.svc.AcceptInvitation(ctx, token, "Again", "a-fine-long-passphrase", Client{})
	if err != errBadInvitation {
		t.Fatalf("second use: %v", err)
	}
	for _, bad := range []string{"", "phi_x", strings.Replace(token, "phi_", "ph_", 1), token[:len(token)-2] + "AA"} {
		if _, err := h.svc.AcceptInvitation(ctx, bad, "", "a-fine-long-passphrase", Client{}); err != errBadInvitation {
			t.Fatalf("AcceptInvitation(%q) = %v", bad, err)
		}
	}

	t.Run("existing account must prove its password", func(t *testing.T) {
		inv, err := h.svc.Invite(ctx, admin, "existing@example.com", porthole.RoleViewer)
		if err != nil {
			t.Fatal(err)
		}
		tok := tokenFromLink(t, inv.Link)
		_, err = h.svc.AcceptInvitation(ctx, tok, "", "not-their-password", Client{})
		wantCode(t, err, porthole.EUNAUTHORIZED)
		res, err := h.svc.AcceptInvitation(ctx, tok, "", testPassword, Client{})
		if err != nil {
			t.Fatal(err)
		}
		if p := h.mustPrincipal(t, Credentials{Cookie: res.Token}); p.UserID != existing.ID || p.Org != org.ID || p.Role != porthole.RoleViewer {
			t.Fatalf("principal = %+v", p)
		}
	})
	t.Run("expired", func(t *testing.T) {
		inv, err := h.svc.Invite(ctx, admin, "late@example.com", porthole.RoleViewer)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(DefaultInvitationTTL + time.Minute)
		if _, err := h.svc.AcceptInvitation(ctx, tokenFromLink(t, inv.Link), "", "a-fine-long-passphrase", Client{}); err != errBadInvitation {
			t.Fatalf("expired invitation: %v", err)
		}
	})
	t.Run("emailed with SMTP", func(t *testing.T) {
		h2 := mustHarness(t, h.db, withMailer(&fakeMailer{}))
		h2.clock.t = h.clock.Now()
		owner := h2.mustPrincipal(t, Credentials{Cookie: h2.mustLogin(t, "owner@example.com").Token})
		inv, err := h2.svc.Invite(ctx, owner, "mailed@example.com", porthole.RoleAdmin)
		if err != nil || inv.Link != "" || !inv.Emailed {
			t.Fatalf("Invite with SMTP = %+v, %v", inv, err)
		}
		job := <-h2.svc.mail
		if job.to != "mailed@example.com" || !strings.Contains(job.body, "/app/invitations/accept?token=phi_") {
			t.Fatalf("mail = %+v", job)
		}
	})
}

func TestMembersAndGrants(t *testing.T) {
	h := mustSQLiteHarness(t)
	ctx := context.Background()
	org, other := h.mustOrg(t, "Org"), h.mustOrg(t, "Other")
	owner := h.mustMember(t, org.ID, "o@example.com", porthole.RoleOwner)
	adminU := h.mustMember(t, org.ID, "a@example.com", porthole.RoleAdmin)
	agentU := h.mustMember(t, org.ID, "ag@example.com", porthole.RoleAgent)
	outsider := h.mustMember(t, other.ID, "out@example.com", porthole.RoleOwner)
	ownerP := h.mustPrincipal(t, Credentials{Cookie: h.mustLogin(t, "o@example.com").Token})
	adminP := h.mustPrincipal(t, Credentials{Cookie: h.mustLogin(t, "a@example.com").Token})
	agentP := h.mustPrincipal(t, Credentials{Cookie: h.mustLogin(t, "ag@example.com").Token})
	outsiderP := h.mustPrincipal(t, Credentials{Cookie: h.mustLogin(t, "out@example.com").Token})

	list, err := h.svc.Members(ctx, agentP)
	if err != nil || len(list) != 3 {
		t.Fatalf("Members = %v, %v", list, err)
	}
	tests := []struct {
		name   string
		p      Principal
		target string
		role   porthole.Role
		code   string
	}{
		{"agent cannot change roles", agentP, adminU.ID, porthole.RoleViewer, porthole.EFORBIDDEN},
		{"admin cannot demote owner", adminP, owner.ID, porthole.RoleAdmin, porthole.EFORBIDDEN},
		{"admin cannot promote to owner", adminP, agentU.ID, porthole.RoleOwner, porthole.EFORBIDDEN},
		{"last owner stays", ownerP, owner.ID, porthole.RoleAdmin, porthole.ECONFLICT},
		{"another org's member is not found", ownerP, outsider.ID, porthole.RoleViewer, porthole.ENOTFOUND},
		{"outsider cannot touch this org", outsiderP, agentU.ID, porthole.RoleViewer, porthole.ENOTFOUND},
		{"bad role", ownerP, agentU.ID, "root", porthole.EINVALID},
		{"admin demotes agent", adminP, agentU.ID, porthole.RoleViewer, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.SetMemberRole(ctx, tt.p, tt.target, tt.role)
			wantCode(t, err, tt.code)
		})
	}
	wantCode(t, h.svc.RemoveMember(ctx, ownerP, owner.ID), porthole.ECONFLICT)
	wantCode(t, h.svc.RemoveMember(ctx, adminP, owner.ID), porthole.EFORBIDDEN)

	bot, err := h.db.Tenant(org.ID).CreateChatbot(ctx, "Front desk")
	if err != nil {
		t.Fatal(err)
	}
	otherBot, _ := h.db.Tenant(other.ID).CreateChatbot(ctx, "Theirs")
	// Grants: the agent (now viewer) sees nothing until granted.
	viewerP := h.mustPrincipal(t, Credentials{Cookie: h.mustLogin(t, "ag@example.com").Token})
	visible, err := h.svc.VisibleChatbots(ctx, viewerP, []porthole.Chatbot{bot})
	if err != nil || len(visible) != 0 {
		t.Fatalf("VisibleChatbots before grant = %v, %v", visible, err)
	}
	wantCode(t, h.svc.SetChatbotGrant(ctx, ownerP, otherBot.ID, agentU.ID, ReadAccess), porthole.ENOTFOUND)
	wantCode(t, h.svc.SetChatbotGrant(ctx, viewerP, bot.ID, agentU.ID, ReadAccess), porthole.EFORBIDDEN)
	if err := h.svc.SetChatbotGrant(ctx, adminP, bot.ID, agentU.ID, ReadAccess); err != nil {
		t.Fatal(err)
	}
	if visible, _ := h.svc.VisibleChatbots(ctx, viewerP, []porthole.Chatbot{bot}); len(visible) != 1 {
		t.Fatalf("VisibleChatbots after grant = %v", visible)
	}
	if err := h.svc.SetConversationSharing(ctx, adminP, bot.ID, SharingAssignedOnly); err != nil {
		t.Fatal(err)
	}
	wantCode(t, h.svc.SetConversationSharing(ctx, viewerP, bot.ID, SharingTeam), porthole.EFORBIDDEN)
	seeOwn, _ := h.svc.ConversationVisible(ctx, viewerP, bot.ID, viewerP.UserID)
	seeOther, _ := h.svc.ConversationVisible(ctx, viewerP, bot.ID, owner.ID)
	seeAdmin, _ := h.svc.ConversationVisible(ctx, adminP, bot.ID, owner.ID)
	if !seeOwn || seeOther || !seeAdmin {
		t.Fatalf("ConversationVisible own=%v other=%v admin=%v", seeOwn, seeOther, seeAdmin)
	}
	if err := h.svc.RemoveMember(ctx, adminP, agentU.ID); err != nil {
		t.Fatal(err)
	}
}

func TestAPIKeys(t *testing.T) {
	h := mustSQLiteHarness(t)
	ctx := context.Background()
	org, other := h.mustOrg(t, "Org"), h.mustOrg(t, "Other")
	h.mustMember(t, org.ID, "admin@example.com", porthole.RoleAdmin)
	h.mustMember(t, org.ID, "agent@example.com", porthole.RoleAgent)
	h.mustMember(t, other.ID, "theirs@example.com", porthole.RoleOwner)
	admin := h.mustPrincipal(t, Credentials{Cookie: h.mustLogin(t, "admin@example.com").Token})
	agent := h.mustPrincipal(t, Credentials{Cookie: h.mustLogin(t, "agent@example.com").Token})
	theirs := h.mustPrincipal(t, Credentials{Cookie: h.mustLogin(t, "theirs@example.com").Token})

	tests := []struct {
		name   string
		p      Principal
		scopes []string
		code   string
	}{
		{"agent cannot make keys", agent, []string{"chatbots:read"}, porthole.EFORBIDDEN},
		{"no scopes", admin, nil, porthole.EINVALID},
		{"unknown scope", admin, []string{"root:write"}, porthole.EINVALID},
		{"scope beyond the maker", admin, []string{"organization:write"}, porthole.EFORBIDDEN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.CreateAPIKey(ctx, tt.p, "k", tt.scopes)
			wantCode(t, err, tt.code)
		})
	}
	created, err := h.svc.CreateAPIKey(ctx, admin, "CI", []string{"chatbots:write", "chatbots:write", "origins:read"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Key, created.APIKey.Prefix) || len(created.APIKey.Scopes) != 2 {
		t.Fatalf("created = %+v", created)
	}
	keyP := h.mustPrincipal(t, Credentials{Authorization: "Bearer " + created.Key, Cookie: "ignored-when-a-bearer-is-given"})
	if keyP.Kind != KindAPIKey || keyP.Org != org.ID || !keyP.Can("chatbots:read") || keyP.Can("origins:write") || keyP.Can(PermSelf) {
		t.Fatalf("key principal = %+v", keyP)
	}
	list, err := h.svc.APIKeys(ctx, admin)
	if err != nil || len(list) != 1 || list[0].LastUsedAt == nil {
		t.Fatalf("APIKeys = %+v, %v", list, err)
	}
	// An owner of another organization naming this key's id finds nothing.
	wantCode(t, h.svc.RevokeAPIKey(ctx, theirs, created.APIKey.ID), porthole.ENOTFOUND)
	if err := h.svc.RevokeAPIKey(ctx, admin, created.APIKey.ID); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.Authenticate(ctx, Credentials{Authorization: "Bearer " + created.Key})
	wantCode(t, err, porthole.EUNAUTHORIZED)
	_, err = h.svc.Authenticate(ctx, Credentials{Authorization: "Bearer ph_notakey"})
	wantCode(t, err, porthole.EUNAUTHORIZED)
}

func TestMe(t *testing.T) {
	h := mustSQLiteHarness(t)
	org := h.mustOrg(t, "Org")
	u := h.mustMember(t, org.ID, "me@example.com", porthole.RoleViewer)
	p := h.mustPrincipal(t, Credentials{Cookie: h.mustLogin(t, "me@example.com").Token})
	me, err := h.svc.Me(context.Background(), p)
	if err != nil || me.User == nil || me.User.ID != u.ID || me.OrgID != org.ID || me.Role != porthole.RoleViewer || len(me.Memberships) != 1 || len(me.Permissions) != len(RolePermissions(porthole.RoleViewer)) {
		t.Fatalf("Me = %+v, %v", me, err)
	}
}

func TestAdminSetPasswordEndsSessions(t *testing.T) {
	h := mustSQLiteHarness(t)
	org := h.mustOrg(t, "Org")
	h.mustMember(t, org.ID, "cli@example.com", porthole.RoleOwner)
	res := h.mustLogin(t, "cli@example.com")
	ctx := context.Background()
	wantCode(t, h.svc.SetPassword(ctx, "nobody@example.com", "a-brand-new-passphrase"), porthole.ENOTFOUND)
	if err := h.svc.SetPassword(ctx, "cli@example.com", "a-brand-new-passphrase"); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.Authenticate(ctx, Credentials{Cookie: res.Token})
	wantCode(t, err, porthole.EUNAUTHORIZED)
}

func TestNewSMTPMailer(t *testing.T) {
	tests := []struct {
		name, url, addr string
		ok              bool
	}{
		{"starttls default port", "smtp://u:p@mail.example.com?from=a@example.com", "mail.example.com:587", true},
		{"smtps default port", "smtps://mail.example.com", "mail.example.com:465", true},
		{"explicit port", "smtp://mail.example.com:2525", "mail.example.com:2525", true},
		{"http refused", "http://mail.example.com", "", false},
		{"bad from", "smtp://mail.example.com?from=not%20an%20address", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewSMTPMailer(tt.url)
			if (err == nil) != tt.ok || (tt.ok && m.addr != tt.addr) {
				t.Fatalf("NewSMTPMailer(%q) = %+v, %v", tt.url, m, err)
			}
		})
	}
	m, _ := NewSMTPMailer("smtp://mail.example.com")
	if err := m.Send(context.Background(), "x@example.com\r\nBcc: evil@example.com", "s", "b"); err == nil {
		t.Fatal("header injection in the recipient was sent")
	}
}
