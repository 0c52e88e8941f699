package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// TestContactMergeAcrossOrganizations: through the API, a merge or an undo
// naming another organization's contact or merge is 404 and recorded as a
// security event, and nothing of the other organization changes; a merge
// within the organization is 201, its undo 200, both in the audit log.
func TestContactMergeAcrossOrganizations(t *testing.T) {
	forEachDialect(t, func(t *testing.T, a *app.App) {
		ctx := context.Background()
		mustServe(t, a)
		A, B := mustWalkTenant(t, a, "Alpha"), mustWalkTenant(t, a, "Beta")
		token := mustLogin(t, a, "owner@alpha.example")
		h := a.Handler()

		refused := []struct{ name, method, url, body string }{
			{"merge from another organization", "POST", "/api/v1/contacts/merge", `{"into":"` + A.contactID + `","from":"` + B.contactID + `"}`},
			{"merge into another organization", "POST", "/api/v1/contacts/merge", `{"into":"` + B.contactID + `","from":"` + A.contactID + `"}`},
			{"undo another organization's merge", "POST", "/api/v1/contacts/merges/" + B.mergeID + "/undo", ""},
			{"read another organization's contact", "GET", "/api/v1/contacts/" + B.contactID, ""},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				rec := do(t, h, tt.method, tt.url, token, tt.body)
				if rec.Code != 404 || strings.Contains(rec.Body.String(), B.orgID) {
					t.Fatalf("%s %s = %d %s; want 404", tt.method, tt.url, rec.Code, rec.Body)
				}
			})
		}
		events, err := a.DB.Tenant(A.orgID).SecurityEvents(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		var authz int
		for _, ev := range events {
			if ev.Kind == porthole.SecAuthorizationFailed && strings.Contains(ev.Detail, "contact") {
				authz++
			}
		}
		// The recorder stores one event per kind and actor per second (flood
		// damping); chat's TestContactMergeAdminActions counts each refusal.
		if authz == 0 {
			t.Fatalf("no contact refusal recorded: %+v", events)
		}
		if c, err := a.DB.Tenant(B.orgID).Contact(ctx, B.contactID); err != nil || c.MergedInto != "" {
			t.Fatalf("the other organization's contact = %+v, %v", c, err)
		}
		if m, err := a.DB.Tenant(B.orgID).ContactMerge(ctx, B.mergeID); err != nil || m.UndoneAt != nil {
			t.Fatalf("the other organization's merge = %+v, %v", m, err)
		}

		// Within the organization.
		third, err := a.DB.Tenant(A.orgID).EnsureVisitor(ctx, porthole.NewID())
		if err != nil {
			t.Fatal(err)
		}
		rec := do(t, h, "POST", "/api/v1/contacts/merge", token, `{"into":"`+A.contactID+`","from":"`+third.ID+`","reason":"same person"}`)
		var m store.ContactMerge
		if rec.Code != 201 || json.Unmarshal(rec.Body.Bytes(), &m) != nil || m.SurvivorID != A.contactID || m.MergedID != third.ID {
			t.Fatalf("merge = %d %s", rec.Code, rec.Body)
		}
		rec = do(t, h, "GET", "/api/v1/contacts/"+A.contactID, token, "")
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), m.ID) || !strings.Contains(rec.Body.String(), A.conversationID) {
			t.Fatalf("contact = %d %s", rec.Code, rec.Body)
		}
		if rec := do(t, h, "POST", "/api/v1/contacts/merges/"+m.ID+"/undo", token, ""); rec.Code != 200 {
			t.Fatalf("undo = %d %s", rec.Code, rec.Body)
		}
		if rec := do(t, h, "POST", "/api/v1/contacts/merges/"+m.ID+"/undo", token, ""); rec.Code != 409 {
			t.Fatalf("second undo = %d %s; want 409", rec.Code, rec.Body)
		}
		entries, err := a.DB.Tenant(A.orgID).AuditEntries(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var merges, undos int
		for _, e := range entries {
			switch e.Action {
			case store.ActionContactMerge:
				merges++
			case store.ActionContactMergeUndo:
				undos++
				if e.Reason == "" || !strings.Contains(string(e.Payload), m.ID) {
					t.Fatalf("undo entry = %+v", e)
				}
			}
		}
		if merges != 2 || undos != 1 { // the walk tenant's own merge, and this one
			t.Fatalf("audit: %d merges, %d undos", merges, undos)
		}
	})
}
