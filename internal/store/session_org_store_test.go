package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

func TestSetSessionOrganization(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		home, other, stranger := mustOrg(t, db, "Home"), mustOrg(t, db, "Other"), mustOrg(t, db, "Stranger")
		alice, bob := mustAccountUser(t, db, "alice@switch.example"), mustAccountUser(t, db, "bob@switch.example")
		for _, org := range []porthole.Organization{home, other} {
			if _, err := db.Tenant(org.ID).AddMember(ctx, alice.ID, porthole.RoleAdmin); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Tenant(stranger.ID).AddMember(ctx, bob.ID, porthole.RoleOwner); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		sess, err := db.CreateSession(ctx, store.Session{TokenHash: []byte("switch-a"), UserID: alice.ID, OrgID: home.ID,
			CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name              string
			userID, orgID     string
			sessionID         string
			wantCode          string
			wantOrgAfterwards string
		}{
			{name: "to another membership", userID: alice.ID, sessionID: sess.ID, orgID: other.ID, wantOrgAfterwards: other.ID},
			{name: "to an organization the user is not in", userID: alice.ID, sessionID: sess.ID, orgID: stranger.ID, wantCode: porthole.ENOTFOUND, wantOrgAfterwards: other.ID},
			{name: "someone else's session", userID: bob.ID, sessionID: sess.ID, orgID: stranger.ID, wantCode: porthole.ENOTFOUND, wantOrgAfterwards: other.ID},
			{name: "malformed org id", userID: alice.ID, sessionID: sess.ID, orgID: "x", wantCode: porthole.ENOTFOUND, wantOrgAfterwards: other.ID},
			{name: "back home", userID: alice.ID, sessionID: sess.ID, orgID: home.ID, wantOrgAfterwards: home.ID},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := db.SetSessionOrganization(ctx, tc.userID, tc.sessionID, tc.orgID)
				if tc.wantCode == "" && err != nil {
					t.Fatal(err)
				}
				if tc.wantCode != "" {
					wantCode(t, err, tc.wantCode)
				}
				got, err := db.SessionByTokenHash(ctx, []byte("switch-a"))
				if err != nil || got.OrgID != tc.wantOrgAfterwards {
					t.Fatalf("session acts in %q (%v), want %q", got.OrgID, err, tc.wantOrgAfterwards)
				}
			})
		}
		t.Run("an ended session cannot switch", func(t *testing.T) {
			if err := db.RevokeSession(ctx, alice.ID, sess.ID, now); err != nil {
				t.Fatal(err)
			}
			wantCode(t, db.SetSessionOrganization(ctx, alice.ID, sess.ID, other.ID), porthole.ENOTFOUND)
		})
	})
}
