package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// contactOf returns which contact each conversation is listed under.
func contactOf(tb testing.TB, tn *store.Tenant, contactIDs ...string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for _, id := range contactIDs {
		list, err := tn.ContactConversations(context.Background(), store.Visibility{All: true}, id)
		if err != nil {
			tb.Fatal(err)
		}
		for _, c := range list {
			if prev, dup := out[c.ID]; dup {
				tb.Fatalf("conversation %s listed under %s and %s", c.ID, prev, id)
			}
			out[c.ID] = id
		}
	}
	return out
}

// TestContactMergeChainAndUndoOrder: X merged into M, then M into S: all
// three conversations are S's; undoing the first merge before the second
// is refused; undoing in reverse order restores each step exactly.
func TestContactMergeChainAndUndoOrder(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		org, _ := db.CreateOrganization(ctx, "Acme")
		tn := db.Tenant(org.ID)
		bot, _ := tn.CreateChatbot(ctx, "bot")
		s, sc := mustConversation(t, tn, bot.ID)
		m, mc := mustConversation(t, tn, bot.ID)
		x, xc := mustConversation(t, tn, bot.ID)
		if _, _, err := tn.UpgradeContact(ctx, store.ContactUpgrade{VisitorID: m.ID, Name: "Max", Phone: "+49301234567"}); err != nil {
			t.Fatal(err)
		}
		initial := contactOf(t, tn, s.ID, m.ID, x.ID)

		first, err := tn.MergeContacts(ctx, m.ID, x.ID)
		if err != nil {
			t.Fatal(err)
		}
		second, err := tn.MergeContacts(ctx, s.ID, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := contactOf(t, tn, s.ID, m.ID, x.ID)
		if got[sc.ID] != s.ID || got[mc.ID] != s.ID || got[xc.ID] != s.ID {
			t.Fatalf("after the chain: %v; want all under %s", got, s.ID)
		}
		if c, _ := tn.Contact(ctx, x.ID); c.MergedInto != s.ID {
			t.Fatalf("x = %+v; want it pointed at the final survivor", c)
		}
		if c, _ := tn.Contact(ctx, s.ID); c.Name != "Max" || c.Phone != "+49301234567" {
			t.Fatalf("survivor = %+v; want the merged row's details filled in", c)
		}
		// A new conversation of a merged row is listed under the survivor.
		bot2, _ := tn.CreateChatbot(ctx, "bot 2")
		later, err := tn.EnsureConversation(ctx, x.ID, bot2.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := contactOf(t, tn, s.ID, m.ID, x.ID); got[later.ID] != s.ID {
			t.Fatalf("a merged row's new conversation is under %q; want %s", got[later.ID], s.ID)
		}

		if _, err := tn.UndoContactMerge(ctx, first.ID); !porthole.IsCode(err, porthole.ECONFLICT) {
			t.Fatalf("undoing the earlier merge first = %v; want conflict", err)
		}
		if _, err := tn.UndoContactMerge(ctx, second.ID); err != nil {
			t.Fatal(err)
		}
		if c, _ := tn.Contact(ctx, s.ID); c.Name != "" || c.Phone != "" {
			t.Fatalf("survivor after undo = %+v; want its empty fields back", c)
		}
		got = contactOf(t, tn, s.ID, m.ID, x.ID)
		if got[sc.ID] != s.ID || got[mc.ID] != m.ID || got[xc.ID] != m.ID || got[later.ID] != m.ID {
			t.Fatalf("after undoing the second merge: %v", got)
		}
		if _, err := tn.UndoContactMerge(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		got = contactOf(t, tn, s.ID, m.ID, x.ID)
		delete(got, later.ID)
		for id, contact := range initial {
			if got[id] != contact {
				t.Fatalf("after both undos: %v; want %v", got, initial)
			}
		}
		for _, id := range []string{s.ID, m.ID, x.ID} {
			if c, _ := tn.Contact(ctx, id); c.MergedInto != "" {
				t.Fatalf("contact %s still merged: %+v", id, c)
			}
		}

		// Another tenant's handle sees none of it.
		other, _ := db.CreateOrganization(ctx, "Other")
		if _, err := db.Tenant(other.ID).MergeContacts(ctx, s.ID, m.ID); !porthole.IsCode(err, porthole.ENOTFOUND) {
			t.Fatalf("merge through another tenant = %v; want not found", err)
		}
		if _, err := db.Tenant(other.ID).UndoContactMerge(ctx, first.ID); !porthole.IsCode(err, porthole.ENOTFOUND) {
			t.Fatalf("undo through another tenant = %v; want not found", err)
		}
	})
}

// TestTurnEndDoesNotWaitForAContactMerge: on PostgreSQL a merge locks the
// contact rows it changes while a turn of one of their conversations may
// be ending. The turn's end (two events, usage) must not wait for that
// lock: the merge then waits for the conversation row the turn holds, and
// the database breaks the deadlock by failing one of them (CI saw it).
func TestTurnEndDoesNotWaitForAContactMerge(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.Postgres {
			t.Skip("SQLite runs one write transaction at a time; row locks are PostgreSQL's")
		}
		ctx := context.Background()
		org, _ := db.CreateOrganization(ctx, "Acme")
		tn := db.Tenant(org.ID)
		bot, _ := tn.CreateChatbot(ctx, "bot")
		v, conv := mustConversation(t, tn, bot.ID)
		if _, _, err := tn.AppendEvent(ctx, store.NewEvent{ConversationID: conv.ID, Kind: store.EventMessage, Role: store.RoleVisitor, Text: "hi"}); err != nil {
			t.Fatal(err)
		}

		held, release, locked := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() { locked <- tn.HoldContactLock(ctx, v.ID, held, release) }()
		<-held
		ended := make(chan error, 1)
		go func() {
			_, err := tn.EndTurn(ctx, conv.ID, store.TurnEnd{Events: []store.NewEvent{
				{Kind: store.EventMessage, Role: store.RoleAssistant, Text: "Hello", TurnID: "t1"},
				{Kind: store.EventTurnEnd, TurnID: "t1"}}, Usage: &store.TokenUsage{InputTokens: 1, OutputTokens: 1}})
			ended <- err
		}()
		select {
		case err := <-ended:
			if err != nil {
				t.Fatalf("EndTurn beside a locked contact: %v", err)
			}
		case <-time.After(10 * time.Second):
			close(release)
			t.Fatalf("EndTurn waited for the contact's row lock (ended after release: %v)", <-ended)
		}
		close(release)
		if err := <-locked; err != nil {
			t.Fatal(err)
		}
		evs, err := tn.EventsAfter(ctx, conv.ID, 0, 10)
		if err != nil || len(evs) != 3 || evs[1].Seq != 2 || evs[2].Seq != 3 || evs[2].Kind != store.EventTurnEnd {
			t.Fatalf("events = %+v, %v", evs, err)
		}
	})
}
