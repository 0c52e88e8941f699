package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

func mustConversation(tb testing.TB, tn *store.Tenant, chatbotID string) (store.Visitor, store.Conversation) {
	tb.Helper()
	ctx := context.Background()
	v, err := tn.EnsureVisitor(ctx, porthole.NewID())
	if err != nil {
		tb.Fatalf("EnsureVisitor: %v", err)
	}
	c, err := tn.EnsureConversation(ctx, v.ID, chatbotID)
	if err != nil {
		tb.Fatalf("EnsureConversation: %v", err)
	}
	return v, c
}

func TestVisitorsAndConversations(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		ta, tb := db.Tenant(a.ID), db.Tenant(b.ID)
		bot := mustChatbot(t, ta, "bot")
		botB := mustChatbot(t, tb, "bot b")

		session := porthole.NewID()
		v1, err := ta.EnsureVisitor(ctx, session)
		if err != nil {
			t.Fatalf("EnsureVisitor: %v", err)
		}
		v2, err := ta.EnsureVisitor(ctx, session)
		if err != nil || v2.ID != v1.ID {
			t.Fatalf("second EnsureVisitor = %+v, %v; want same id %s", v2, err, v1.ID)
		}
		vb, err := tb.EnsureVisitor(ctx, session)
		if err != nil || vb.ID == v1.ID {
			t.Fatalf("other tenant same session = %+v, %v; want a different visitor", vb, err)
		}
		_, err = ta.EnsureVisitor(ctx, "not-a-uuid")
		wantCode(t, err, porthole.EINVALID)

		upd, err := ta.UpdateVisitor(ctx, v1.ID, "user-1", "Ann", "")
		if err != nil || upd.ExternalID != "user-1" || upd.Name != "Ann" {
			t.Fatalf("UpdateVisitor = %+v, %v", upd, err)
		}
		upd, err = ta.UpdateVisitor(ctx, v1.ID, "", "", "ann@example.com")
		if err != nil || upd.ExternalID != "user-1" || upd.Email != "ann@example.com" {
			t.Fatalf("UpdateVisitor keeps fields = %+v, %v", upd, err)
		}
		_, err = tb.UpdateVisitor(ctx, v1.ID, "x", "", "")
		wantCode(t, err, porthole.ENOTFOUND)

		c1, err := ta.EnsureConversation(ctx, v1.ID, bot.ID)
		if err != nil {
			t.Fatalf("EnsureConversation: %v", err)
		}
		c2, err := ta.EnsureConversation(ctx, v1.ID, bot.ID)
		if err != nil || c2.ID != c1.ID {
			t.Fatalf("second EnsureConversation = %+v, %v", c2, err)
		}
		// Naming another tenant's chatbot or visitor is not found.
		_, err = ta.EnsureConversation(ctx, v1.ID, botB.ID)
		wantCode(t, err, porthole.ENOTFOUND)
		_, err = tb.EnsureConversation(ctx, v1.ID, botB.ID)
		wantCode(t, err, porthole.ENOTFOUND)
		_, err = tb.Conversation(ctx, c1.ID)
		wantCode(t, err, porthole.ENOTFOUND)
	})
}

func TestAppendEventSeqAndIdempotency(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		ta, tb := db.Tenant(a.ID), db.Tenant(b.ID)
		bot := mustChatbot(t, ta, "bot")
		_, conv := mustConversation(t, ta, bot.ID)

		tests := []struct {
			name        string
			ev          store.NewEvent
			wantSeq     int64
			wantCreated bool
			wantCode    string
		}{
			{name: "first visitor message", ev: store.NewEvent{Kind: store.EventMessage, Role: store.RoleVisitor, Text: "hi", ClientID: "c1"}, wantSeq: 1, wantCreated: true},
			{name: "assistant reply", ev: store.NewEvent{Kind: store.EventMessage, Role: store.RoleAssistant, Text: "hello", TurnID: "t1"}, wantSeq: 2, wantCreated: true},
			{name: "retry same client id", ev: store.NewEvent{Kind: store.EventMessage, Role: store.RoleVisitor, Text: "hi", ClientID: "c1"}, wantSeq: 1},
			{name: "turn end with data", ev: store.NewEvent{Kind: store.EventTurnEnd, TurnID: "t1", Data: json.RawMessage(`{"status":"done"}`)}, wantSeq: 3, wantCreated: true},
			{name: "bad role", ev: store.NewEvent{Kind: store.EventMessage, Role: "root", Text: "x"}, wantCode: porthole.EINVALID},
			{name: "bad kind", ev: store.NewEvent{Kind: "drop_table"}, wantCode: porthole.EINVALID},
			{name: "bad data", ev: store.NewEvent{Kind: store.EventForm, Data: json.RawMessage(`{`)}, wantCode: porthole.EINVALID},
		}
		for _, tt := range tests {
			tt.ev.ConversationID = conv.ID
			e, created, err := ta.AppendEvent(ctx, tt.ev)
			if tt.wantCode != "" {
				if porthole.ErrorCode(err) != tt.wantCode {
					t.Fatalf("%s: err = %v, want %s", tt.name, err, tt.wantCode)
				}
				continue
			}
			if err != nil || e.Seq != tt.wantSeq || created != tt.wantCreated {
				t.Fatalf("%s: AppendEvent = seq %d created %v err %v; want seq %d created %v", tt.name, e.Seq, created, err, tt.wantSeq, tt.wantCreated)
			}
		}
		_, _, err := tb.AppendEvent(ctx, store.NewEvent{ConversationID: conv.ID, Kind: store.EventMessage, Role: store.RoleVisitor, Text: "x"})
		wantCode(t, err, porthole.ENOTFOUND)

		list, err := ta.EventsAfter(ctx, conv.ID, 1, 0)
		if err != nil || len(list) != 2 || list[0].Seq != 2 || list[1].Seq != 3 || string(list[1].Data) != `{"status":"done"}` {
			t.Fatalf("EventsAfter(1) = %+v, %v", list, err)
		}
		if other, err := tb.EventsAfter(ctx, conv.ID, 0, 0); err != nil || len(other) != 0 {
			t.Fatalf("other tenant EventsAfter = %+v, %v; want none", other, err)
		}
		last, err := ta.LastEvent(ctx, conv.ID, store.EventTurnEnd)
		if err != nil || last.Seq != 3 {
			t.Fatalf("LastEvent = %+v, %v", last, err)
		}
		_, err = ta.LastEvent(ctx, conv.ID, store.EventForm)
		wantCode(t, err, porthole.ENOTFOUND)

		// Concurrent appends get distinct consecutive numbers; concurrent
		// retries of one client id store one event.
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := 0; i < 10; i++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, _, err := ta.AppendEvent(ctx, store.NewEvent{ConversationID: conv.ID, Kind: store.EventMessage, Role: store.RoleSystem, Text: "x"})
				errs <- err
			}()
			go func() {
				defer wg.Done()
				_, _, err := ta.AppendEvent(ctx, store.NewEvent{ConversationID: conv.ID, Kind: store.EventMessage, Role: store.RoleVisitor, Text: "dup", ClientID: "same"})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent AppendEvent: %v", err)
			}
		}
		all, err := ta.EventsAfter(ctx, conv.ID, 0, 0)
		if err != nil || len(all) != 3+10+1 {
			t.Fatalf("after concurrent appends: %d events, %v; want 14", len(all), err)
		}
		for i, e := range all {
			if e.Seq != int64(i+1) {
				t.Fatalf("event %d has seq %d; want consecutive numbers", i, e.Seq)
			}
		}
	})
}

func TestWidgetSettings(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		ta, tb := db.Tenant(a.ID), db.Tenant(b.ID)
		bot := mustChatbot(t, ta, "bot")

		s, err := ta.WidgetSettings(ctx, bot.ID)
		if err != nil || s.Position != "right" || s.TimeZone != "UTC" || len(s.ActiveHours) != 0 {
			t.Fatalf("default WidgetSettings = %+v, %v", s, err)
		}
		s.Greeting, s.Color, s.TimeZone = "Hello", "#112233", "Europe/Paris"
		s.ActiveHours = []store.ActiveHours{{Days: []int{1, 2, 3, 4, 5}, Start: "09:00", End: "17:30"}}
		s.AllowCIDRs, s.DenyCIDRs = []string{"10.0.0.0/8"}, []string{"10.1.0.0/16"}
		s.IdentitySecret = []byte("sealed-bytes")
		if _, err := ta.PutWidgetSettings(ctx, s); err != nil {
			t.Fatalf("PutWidgetSettings: %v", err)
		}
		got, err := ta.WidgetSettings(ctx, bot.ID)
		if err != nil || got.Greeting != "Hello" || got.TimeZone != "Europe/Paris" || len(got.ActiveHours) != 1 ||
			got.ActiveHours[0].End != "17:30" || got.DenyCIDRs[0] != "10.1.0.0/16" || string(got.IdentitySecret) != "sealed-bytes" {
			t.Fatalf("WidgetSettings = %+v, %v", got, err)
		}
		_, err = tb.WidgetSettings(ctx, bot.ID)
		wantCode(t, err, porthole.ENOTFOUND)
		_, err = tb.PutWidgetSettings(ctx, s)
		wantCode(t, err, porthole.ENOTFOUND)

		// MessageRouting reads the same settings and the conversation's
		// handling in one transaction; the tenant's own only.
		_, conv := mustConversation(t, ta, bot.ID)
		rs, handling, err := ta.MessageRouting(ctx, bot.ID, conv.ID)
		if err != nil || rs.Greeting != "Hello" || len(rs.ActiveHours) != 1 || handling.ID != conv.ID || handling.State != store.StateOpen {
			t.Fatalf("MessageRouting = %+v, %+v, %v", rs, handling, err)
		}
		_, _, err = tb.MessageRouting(ctx, bot.ID, conv.ID)
		wantCode(t, err, porthole.ENOTFOUND)
		other := mustChatbot(t, tb, "other")
		_, _, err = tb.MessageRouting(ctx, other.ID, conv.ID)
		wantCode(t, err, porthole.ENOTFOUND)

		bad := []struct {
			name   string
			change func(*store.WidgetSettings)
		}{
			{name: "bad color", change: func(s *store.WidgetSettings) { s.Color = "red;}" }},
			{name: "bad zone", change: func(s *store.WidgetSettings) { s.TimeZone = "Mars/Base" }},
			{name: "bad cidr", change: func(s *store.WidgetSettings) { s.AllowCIDRs = []string{"10.0.0.0/99"} }},
			{name: "end before start", change: func(s *store.WidgetSettings) {
				s.ActiveHours = []store.ActiveHours{{Days: []int{1}, Start: "18:00", End: "09:00"}}
			}},
			{name: "bad day", change: func(s *store.WidgetSettings) {
				s.ActiveHours = []store.ActiveHours{{Days: []int{7}, Start: "09:00", End: "10:00"}}
			}},
			{name: "bad position", change: func(s *store.WidgetSettings) { s.Position = "top" }},
		}
		for _, tt := range bad {
			c := got
			tt.change(&c)
			_, err := ta.PutWidgetSettings(ctx, c)
			if porthole.ErrorCode(err) != porthole.EINVALID {
				t.Fatalf("%s: err = %v, want invalid", tt.name, err)
			}
		}
	})
}

// TestEndTurn: a turn's events get consecutive numbers in one transaction,
// with their audit entries, its usage and its decisions; one bad part
// stores nothing.
func TestEndTurn(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		ta, tb := db.Tenant(a.ID), db.Tenant(b.ID)
		bot := mustChatbot(t, ta, "bot")
		_, conv := mustConversation(t, ta, bot.ID)
		end := audit.Entry{Actor: audit.Actor{Kind: audit.ActorAssistant, ID: bot.ID}, Action: "chat.turn_end", Target: "turn:t1", Reason: "the turn ended"}
		lookup := audit.Entry{Actor: audit.Actor{Kind: audit.ActorAssistant, ID: bot.ID}, Action: audit.ActionKnowledgeLookup,
			Target: "chatbot:" + bot.ID, Reason: "retrieval"}
		evs, err := ta.EndTurn(ctx, conv.ID, store.TurnEnd{Events: []store.NewEvent{
			{Kind: store.EventMessage, Role: store.RoleAssistant, Text: "Hello", TurnID: "t1"},
			{Kind: store.EventTurnEnd, TurnID: "t1", Data: json.RawMessage(`{"status":"done"}`), Audit: &end}},
			Usage: &store.TokenUsage{InputTokens: 100, OutputTokens: 20}, Decisions: []audit.Entry{lookup}})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].Seq != 1 || evs[1].Seq != 2 || evs[0].Text != "Hello" || evs[1].Kind != store.EventTurnEnd {
			t.Fatalf("appended %+v", evs)
		}
		entries, err := ta.AuditEntries(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		var recorded []string
		for _, e := range entries {
			if e.ConversationID == conv.ID {
				recorded = append(recorded, e.Action)
			}
		}
		// Newest first: the decisions follow the events' own entries.
		if !slices.Equal(recorded, []string{audit.ActionKnowledgeLookup, "chat.turn_end"}) {
			t.Fatalf("the turn's audit entries = %q", recorded)
		}
		if u, err := ta.Usage(ctx, conv.ID); err != nil || u.Turns != 1 || u.InputTokens != 100 || u.OutputTokens != 20 {
			t.Fatalf("usage = %+v, %v", u, err)
		}

		// All or nothing: an invalid second event stores neither.
		_, err = ta.EndTurn(ctx, conv.ID, store.TurnEnd{Events: []store.NewEvent{
			{Kind: store.EventMessage, Role: store.RoleAssistant, Text: "kept?"},
			{Kind: store.EventMessage, Role: store.RoleAssistant, Text: "bad \xff"}}})
		wantCode(t, err, porthole.EINVALID)
		// ...or when a decision names another organization, or the usage
		// is negative.
		foreign := audit.Entry{OrgID: b.ID, Actor: audit.Actor{Kind: audit.ActorAssistant}, Action: "chat.turn_end", Target: "turn:t2"}
		_, err = ta.EndTurn(ctx, conv.ID, store.TurnEnd{Events: []store.NewEvent{
			{Kind: store.EventMessage, Role: store.RoleAssistant, Text: "rolled back"},
			{Kind: store.EventTurnEnd, TurnID: "t2"}}, Decisions: []audit.Entry{foreign}})
		wantCode(t, err, porthole.EINVALID)
		_, err = ta.EndTurn(ctx, conv.ID, store.TurnEnd{Events: []store.NewEvent{{Kind: store.EventTurnEnd, TurnID: "t2"}},
			Usage: &store.TokenUsage{InputTokens: -1}})
		wantCode(t, err, porthole.EINVALID)
		_, err = ta.EndTurn(ctx, conv.ID, store.TurnEnd{Events: []store.NewEvent{
			{Kind: store.EventMessage, Role: store.RoleVisitor, Text: "x", ClientID: "c1"}}})
		wantCode(t, err, porthole.EINVALID)
		// Another tenant's conversation: not found, nothing stored, with
		// events or with only usage and decisions.
		_, err = tb.EndTurn(ctx, conv.ID, store.TurnEnd{Events: []store.NewEvent{
			{Kind: store.EventMessage, Role: store.RoleAssistant, Text: "intruder"}}})
		wantCode(t, err, porthole.ENOTFOUND)
		_, err = tb.EndTurn(ctx, conv.ID, store.TurnEnd{Usage: &store.TokenUsage{InputTokens: 1}})
		wantCode(t, err, porthole.ENOTFOUND)
		_, err = tb.EndTurn(ctx, conv.ID, store.TurnEnd{Decisions: []audit.Entry{lookup}})
		wantCode(t, err, porthole.ENOTFOUND)
		if u, _ := ta.Usage(ctx, conv.ID); u.Turns != 1 {
			t.Fatalf("usage after refused ends = %+v", u)
		}
		got, err := ta.EventsAfter(ctx, conv.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d events stored, want the first 2 only: %+v", len(got), got)
		}
	})
}

// TestRecentMessages: the newest messages, oldest first, only the
// tenant's own; other kinds of event are not among them.
func TestRecentMessages(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		ta, tb := db.Tenant(a.ID), db.Tenant(b.ID)
		bot := mustChatbot(t, ta, "bot")
		_, conv := mustConversation(t, ta, bot.ID)
		for i := range 5 {
			if _, _, err := ta.AppendEvent(ctx, store.NewEvent{ConversationID: conv.ID, Kind: store.EventMessage,
				Role: store.RoleVisitor, Text: fmt.Sprint("m", i+1)}); err != nil {
				t.Fatal(err)
			}
			if i >= 2 {
				// A turn's end between messages is not a message.
				if _, err := ta.EndTurn(ctx, conv.ID, store.TurnEnd{Events: []store.NewEvent{{Kind: store.EventTurnEnd, TurnID: fmt.Sprint("t", i)}}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := ta.RecentMessages(ctx, conv.ID, 3)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, m := range got {
			texts = append(texts, m.Role+":"+m.Text)
		}
		if !slices.Equal(texts, []string{"visitor:m3", "visitor:m4", "visitor:m5"}) {
			t.Fatalf("recent messages = %q", texts)
		}
		if got, err := tb.RecentMessages(ctx, conv.ID, 3); err != nil || len(got) != 0 {
			t.Fatalf("another tenant read %d messages (%v)", len(got), err)
		}
		_, err = ta.RecentMessages(ctx, "not an id", 3)
		wantCode(t, err, porthole.ENOTFOUND)
	})
}
