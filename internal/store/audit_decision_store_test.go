package store_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// TestDecisionsRecordedWithTheirEvents: an event appended with an audit entry
// records it in the same transaction, once (a retry records nothing); a
// decision with no write records on its own; both reach the conversation's
// timeline in order, and the exported log verifies. Another tenant's
// conversation and another organization's entry are refused.
func TestDecisionsRecordedWithTheirEvents(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		ta, tb := db.Tenant(a.ID), db.Tenant(b.ID)
		bot := mustChatbot(t, ta, "bot")
		v, conv := mustConversation(t, ta, bot.ID)
		_, convB := mustConversation(t, tb, mustChatbot(t, tb, "bot b").ID)

		visitor := audit.Actor{Kind: audit.ActorVisitor, ID: v.ID}
		for range 2 { // the second append is a retry with the same client id
			_, _, err := ta.AppendEvent(ctx, store.NewEvent{ConversationID: conv.ID, Kind: store.EventMessage, Role: store.RoleVisitor,
				Text: "hi", ClientID: "c1", Audit: &audit.Entry{Actor: visitor, Action: audit.ActionRoutingDecision, Target: "assistant", Reason: "inside active hours"}})
			if err != nil {
				t.Fatalf("AppendEvent: %v", err)
			}
		}
		if err := ta.RecordDecision(ctx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorAssistant, ID: bot.ID}, ConversationID: conv.ID,
			Action: audit.ActionKnowledgeLookup, Target: "knowledge:" + bot.ID, Reason: "3 passages"}); err != nil {
			t.Fatalf("RecordDecision: %v", err)
		}
		// A failed append records nothing: the entry goes with its event.
		_, _, err := ta.AppendEvent(ctx, store.NewEvent{ConversationID: convB.ID, Kind: store.EventMessage, Role: store.RoleVisitor,
			Text: "x", Audit: &audit.Entry{Actor: visitor, Action: audit.ActionRoutingDecision, Target: "assistant"}})
		wantCode(t, err, porthole.ENOTFOUND)

		refused := []struct {
			name string
			e    audit.Entry
			code string
		}{
			{name: "another tenant's conversation", e: audit.Entry{ConversationID: convB.ID, Action: audit.ActionRoutingDecision}, code: porthole.ENOTFOUND},
			{name: "not an id", e: audit.Entry{ConversationID: "x'; --", Action: audit.ActionRoutingDecision}, code: porthole.ENOTFOUND},
			{name: "another organization", e: audit.Entry{OrgID: b.ID, Action: audit.ActionRoutingDecision}, code: porthole.EINVALID},
			{name: "bad action", e: audit.Entry{Action: "Not An Action"}, code: porthole.EINVALID},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				wantCode(t, ta.RecordDecision(ctx, tt.e), tt.code)
			})
		}

		got, err := ta.ConversationTimeline(ctx, conv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Action != audit.ActionRoutingDecision || got[1].Action != audit.ActionKnowledgeLookup ||
			got[0].Actor != visitor || got[0].ConversationID != conv.ID || got[1].ConversationID != conv.ID {
			t.Fatalf("timeline = %+v; want the routing decision once, then the lookup", got)
		}
		if other, err := tb.ConversationTimeline(ctx, convB.ID); err != nil || len(other) != 0 {
			t.Fatalf("other tenant's timeline = %+v, %v; want empty", other, err)
		}

		cp := audit.NewCheckpointer(db.Audit(), mustSigningKey(t), audit.CheckpointPolicy{})
		bundle := mustExport(t, db, cp, a.ID)
		if _, err := audit.Verify(bytes.NewReader(bundle), audit.VerifyOptions{PinnedKey: cp.VerifierKey()}); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})
}
