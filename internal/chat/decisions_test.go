package chat_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// mustTimeline returns the conversation's recorded decisions.
func mustTimeline(tb testing.TB, f *fixture, sess *chat.Session) []audit.Entry {
	tb.Helper()
	list, err := f.db.Tenant(f.org.ID).ConversationTimeline(context.Background(), sess.Conversation.ID)
	if err != nil {
		tb.Fatalf("ConversationTimeline: %v", err)
	}
	return list
}

// wantActions fails unless the timeline holds these actions and targets,
// in order, all about the session's conversation.
func wantActions(tb testing.TB, list []audit.Entry, sess *chat.Session, want ...[2]string) {
	tb.Helper()
	var got [][2]string
	for _, e := range list {
		got = append(got, [2]string{e.Action, e.Target})
		if e.ConversationID != sess.Conversation.ID {
			tb.Fatalf("entry %d is about conversation %q, want %q", e.Seq, e.ConversationID, sess.Conversation.ID)
		}
	}
	if len(got) != len(want) {
		tb.Fatalf("timeline = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] && !(want[i][1] == "*" && got[i][0] == want[i][0]) {
			tb.Fatalf("timeline = %v, want %v", got, want)
		}
	}
}

// TestTurnRecordsItsDecisions: a visitor message records who answers it,
// and the turn's end records how it ended, in that order; a retried message
// records nothing more.
func TestTurnRecordsItsDecisions(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := mustFixture(t, db)
		sess := mustJoin(t, f)
		sub, err := f.svc.Subscribe(ctx, sess)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		for range 2 {
			if _, _, err := f.svc.SendMessage(ctx, sess, "c1", "hello"); err != nil {
				t.Fatal(err)
			}
		}
		end := nextFrame(t, sub, chat.FrameTurnEnd)
		list := mustTimeline(t, f, sess)
		wantActions(t, list, sess, [2]string{audit.ActionRoutingDecision, chat.RouteAssistant}, [2]string{chat.ActionTurn, "turn:" + end.TurnID})
		if a := list[0].Actor; a.Kind != audit.ActorVisitor || a.ID != sess.Visitor.ID || list[0].Reason == "" {
			t.Fatalf("routing decision = %+v; want the visitor as actor and a reason", list[0])
		}
		var turn struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(list[1].Payload, &turn); err != nil || turn.Status != chat.TurnDone || list[1].Actor.Kind != audit.ActorAssistant {
			t.Fatalf("turn entry = %+v (%v)", list[1], err)
		}
	})
}

// TestOfflineRecordsItsDecisions: outside active hours every visitor message
// records the offline route and no turn runs; the accepted contact form is
// recorded with its email in the purgeable payload only.
func TestOfflineRecordsItsDecisions(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	ctx := context.Background()
	f := mustFixture(t, db)
	tn := db.Tenant(f.org.ID)
	s, _ := tn.WidgetSettings(ctx, f.bot.ID)
	s.TimeZone = "America/New_York"
	s.ActiveHours = []store.ActiveHours{{Days: []int{1, 2, 3, 4, 5}, Start: "09:00", End: "17:00"}}
	if _, err := tn.PutWidgetSettings(ctx, s); err != nil {
		t.Fatal(err)
	}
	sess := mustJoin(t, f) // the fixture clock is Monday 05:00 in New York
	for _, id := range []string{"m1", "m2"} {
		if _, _, err := f.svc.SendMessage(ctx, sess, id, "anyone there?"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.SubmitForm(ctx, sess, chat.ContactFormID, map[string]string{"name": "Ann", "email": "not-an-email"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SubmitForm(ctx, sess, chat.ContactFormID, map[string]string{"name": "Ann", "email": "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	list := mustTimeline(t, f, sess)
	wantActions(t, list, sess,
		[2]string{audit.ActionRoutingDecision, chat.RouteOffline},
		[2]string{audit.ActionRoutingDecision, chat.RouteOffline},
		[2]string{chat.ActionContactForm, "form:" + chat.ContactFormID}) // the invalid submission records nothing
	form := list[2]
	if strings.Contains(form.Target+form.Reason, "ann@") || strings.Contains(form.Target+form.Reason, "Ann") {
		t.Fatalf("contact form entry has personal data outside its payload: %+v", form)
	}
	var payload struct {
		Fields []string `json:"fields"`
		Email  string   `json:"email"`
	}
	if err := json.Unmarshal(form.Payload, &payload); err != nil || payload.Email != "ann@example.com" ||
		strings.Join(payload.Fields, ",") != "name,email" || strings.Contains(string(form.Payload), "Ann") {
		t.Fatalf("contact form payload = %s (%v)", form.Payload, err)
	}
}
