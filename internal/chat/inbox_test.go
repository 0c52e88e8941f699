package chat_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// mustMember creates a user with a role in the fixture's organization and
// returns its principal; grant, when not "", is its grant on the chatbot.
func mustMember(tb testing.TB, f *fixture, role porthole.Role, grant string) auth.Principal {
	tb.Helper()
	ctx := context.Background()
	u, err := f.db.CreateUser(ctx, porthole.NewID()+"@example.com", string(role), "")
	if err != nil {
		tb.Fatal(err)
	}
	tn := f.db.Tenant(f.org.ID)
	if _, err := tn.AddMember(ctx, u.ID, role); err != nil {
		tb.Fatal(err)
	}
	if grant != "" {
		if err := tn.SetChatbotGrant(ctx, f.bot.ID, u.ID, grant); err != nil {
			tb.Fatal(err)
		}
	}
	return auth.Principal{Kind: auth.KindUser, Via: auth.ViaSession, UserID: u.ID, Org: f.org.ID, Role: role}
}

func mustSend(tb testing.TB, f *fixture, sess *chat.Session, clientID, text string) {
	tb.Helper()
	if _, _, err := f.svc.SendMessage(context.Background(), sess, clientID, text); err != nil {
		tb.Fatalf("SendMessage(%q): %v", text, err)
	}
}

// roles collects the roles of the stored message events of a conversation.
func storedRoles(tb testing.TB, f *fixture, sess *chat.Session) []string {
	tb.Helper()
	events, err := f.db.Tenant(f.org.ID).EventsAfter(context.Background(), sess.Conversation.ID, 0, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	var roles []string
	for _, e := range events {
		if e.Kind == store.EventMessage {
			roles = append(roles, e.Role)
		}
	}
	return roles
}

// waitIdle waits until no assistant turn runs for the conversation.
func waitTurns(tb testing.TB, f *fixture, sess *chat.Session, wantAssistant int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		for _, r := range storedRoles(tb, f, sess) {
			if r == store.RoleAssistant {
				n++
			}
		}
		if n == wantAssistant {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("assistant messages = %d, want %d (roles %v)", n, wantAssistant, storedRoles(tb, f, sess))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTwoAgentsRaceOneWins(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		f := mustFixture(t, db)
		sess := mustJoin(t, f)
		agents := []auth.Principal{mustMember(t, f, porthole.RoleAgent, "write"), mustMember(t, f, porthole.RoleAgent, "write")}
		for round := 0; round < 5; round++ {
			c, err := db.Tenant(f.org.ID).InboxConversation(context.Background(), sess.Conversation.ID)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, len(agents))
			start := make(chan struct{})
			for i, p := range agents {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = f.svc.TakeOver(context.Background(), p, sess.Conversation.ID, chat.ActionInput{Version: c.LeaseVersion})
				}()
			}
			close(start)
			wg.Wait()
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case !porthole.IsCode(err, porthole.ECONFLICT):
					t.Fatalf("round %d: loser got %v, want ECONFLICT", round, err)
				}
			}
			if wins != 1 {
				t.Fatalf("round %d: %d winners (%v), want exactly 1", round, wins, errs)
			}
			admin := mustMember(t, f, porthole.RoleAdmin, "")
			if _, err := f.svc.Release(context.Background(), admin, sess.Conversation.ID, chat.ActionInput{Reason: "next round"}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestAssistantSilentWhileAgentHolds(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := mustFixture(t, db)
		sess := mustJoin(t, f)
		agent := mustMember(t, f, porthole.RoleAgent, "write")
		mustSend(t, f, sess, "c1", "hello")
		waitTurns(t, f, sess, 1)

		if _, err := f.svc.TakeOver(ctx, agent, sess.Conversation.ID, chat.ActionInput{Reason: "VIP"}); err != nil {
			t.Fatal(err)
		}
		mustSend(t, f, sess, "c2", "are you there?")
		time.Sleep(150 * time.Millisecond) // an echo turn would have answered by now
		waitTurns(t, f, sess, 1)
		timeline, err := db.Tenant(f.org.ID).ConversationTimeline(ctx, sess.Conversation.ID)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range timeline {
			if e.Action == "routing.decision" && e.Target == "agent:"+agent.UserID {
				found = true
			}
		}
		if !found {
			t.Fatalf("no routing.decision to agent:%s in %+v", agent.UserID, timeline)
		}

		if _, err := f.svc.Release(ctx, agent, sess.Conversation.ID, chat.ActionInput{}); err != nil {
			t.Fatal(err)
		}
		mustSend(t, f, sess, "c3", "back to the bot")
		waitTurns(t, f, sess, 2)
	})
}

func TestVisitorAsksForHumanThenWaits(t *testing.T) {
	tests := []struct {
		name string
		text string
	}{
		{"english", "Can I talk to a human please?"},
		{"spanish", "Quiero hablar con una persona"},
		{"german", "Ich möchte mit einem Menschen sprechen"},
		{"one word", "Agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := storetest.MustOpenSQLite(t)
			f := mustFixture(t, db)
			sess := mustJoin(t, f)
			mustSend(t, f, sess, "c1", tt.text)
			c, err := db.Tenant(f.org.ID).InboxConversation(context.Background(), sess.Conversation.ID)
			if err != nil || c.State != store.StateWaiting {
				t.Fatalf("state = %q, %v; want waiting", c.State, err)
			}
			mustSend(t, f, sess, "c2", "hello?")
			time.Sleep(100 * time.Millisecond)
			waitTurns(t, f, sess, 0)
		})
	}
	if chat.AsksForHuman("my travel agent booked it") {
		t.Error(`"agent" inside a sentence must not hand off`)
	}
}

func TestHandoffByAssistantTool(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := mustFixture(t, db)
		sess := mustJoin(t, f)
		if err := f.svc.Handoff(ctx, f.org.ID, sess.Conversation.ID, "refund over the limit"); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Handoff(ctx, f.org.ID, sess.Conversation.ID, "again"); err != nil {
			t.Fatalf("second Handoff: %v", err)
		}
		c, _ := db.Tenant(f.org.ID).InboxConversation(ctx, sess.Conversation.ID)
		if c.State != store.StateWaiting || c.HandedOffAt == nil {
			t.Fatalf("after Handoff: %+v", c)
		}
		other, _ := db.CreateOrganization(ctx, "Other")
		if err := f.svc.Handoff(ctx, other.ID, sess.Conversation.ID, "x"); !porthole.IsCode(err, porthole.ENOTFOUND) {
			t.Fatalf("Handoff from another org = %v, want ENOTFOUND", err)
		}
	})
}

func TestAgentReplyReachesEveryTab(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := mustFixture(t, db)
		sess := mustJoin(t, f)
		tab1, err := f.svc.Subscribe(ctx, sess)
		if err != nil {
			t.Fatal(err)
		}
		defer tab1.Close()
		tab2, err := f.svc.Subscribe(ctx, sess)
		if err != nil {
			t.Fatal(err)
		}
		defer tab2.Close()
		agent := mustMember(t, f, porthole.RoleAgent, "write")
		if _, err := f.svc.Reply(ctx, agent, sess.Conversation.ID, "Hi, Sam here.", "r1"); err != nil {
			t.Fatal(err)
		}
		for _, tab := range []*pubsub.Subscription{tab1, tab2} {
			for {
				fr := nextFrame(t, tab, chat.FrameMessage)
				if fr.Role == store.RoleAgent {
					if fr.Text != "Hi, Sam here." || fr.Seq == 0 {
						t.Fatalf("agent frame = %+v", fr)
					}
					break
				}
			}
		}
	})
}

func TestNotesNeverReachTheVisitor(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := mustFixture(t, db)
		sess := mustJoin(t, f)
		tab, err := f.svc.Subscribe(ctx, sess)
		if err != nil {
			t.Fatal(err)
		}
		defer tab.Close()
		agent := mustMember(t, f, porthole.RoleAgent, "write")
		if _, err := f.svc.AddNote(ctx, agent, sess.Conversation.ID, "SECRET: customer is a reseller"); err != nil {
			t.Fatal(err)
		}
		history, err := f.svc.History(ctx, sess, 0, 200)
		if err != nil {
			t.Fatal(err)
		}
		for _, fr := range history {
			if b, _ := json.Marshal(fr); containsSecret(string(b)) {
				t.Fatalf("resume from 0 shows the note: %s", b)
			}
		}
		select {
		case b := <-tab.C():
			if containsSecret(string(b)) {
				t.Fatalf("visitor socket got the note: %s", b)
			}
		case <-time.After(100 * time.Millisecond):
		}
		detail, err := f.svc.Conversation(ctx, agent, sess.Conversation.ID, 0)
		if err != nil || len(detail.Notes) != 1 {
			t.Fatalf("agent view notes = %+v, %v", detail.Notes, err)
		}
	})
}

func containsSecret(s string) bool { return strings.Contains(s, "SECRET") }

func TestAgentWithoutGrantCannotSeeOrTake(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := mustFixture(t, db)
		sess := mustJoin(t, f)
		stranger := mustMember(t, f, porthole.RoleAgent, "")
		viewer := mustMember(t, f, porthole.RoleViewer, "write")
		id := sess.Conversation.ID
		if _, err := f.svc.Conversation(ctx, stranger, id, 0); !porthole.IsCode(err, porthole.ENOTFOUND) {
			t.Fatalf("read without grant = %v, want ENOTFOUND", err)
		}
		if _, err := f.svc.TakeOver(ctx, stranger, id, chat.ActionInput{}); !porthole.IsCode(err, porthole.ENOTFOUND) {
			t.Fatalf("take without grant = %v, want ENOTFOUND", err)
		}
		if list, err := f.svc.Conversations(ctx, stranger, store.InboxFilter{}); err != nil || len(list) != 0 {
			t.Fatalf("list without grant = %d, %v", len(list), err)
		}
		if _, err := f.svc.TakeOver(ctx, viewer, id, chat.ActionInput{}); !porthole.IsCode(err, porthole.EFORBIDDEN) {
			t.Fatalf("viewer take = %v, want EFORBIDDEN", err)
		}
		// assigned_only: another agent with a grant does not see a conversation assigned to a colleague.
		if err := db.Tenant(f.org.ID).SetConversationSharing(ctx, f.bot.ID, store.SharingAssignedOnly); err != nil {
			t.Fatal(err)
		}
		admin := mustMember(t, f, porthole.RoleAdmin, "")
		a1 := mustMember(t, f, porthole.RoleAgent, "write")
		a2 := mustMember(t, f, porthole.RoleAgent, "write")
		if _, err := f.svc.Reassign(ctx, admin, id, a1.UserID, chat.ActionInput{Reason: "a1 speaks German"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Conversation(ctx, a1, id, 0); err != nil {
			t.Fatalf("assignee read = %v", err)
		}
		if _, err := f.svc.Conversation(ctx, a2, id, 0); !porthole.IsCode(err, porthole.ENOTFOUND) {
			t.Fatalf("other agent under assigned_only = %v, want ENOTFOUND", err)
		}
		if _, err := f.svc.Reassign(ctx, a1, id, a2.UserID, chat.ActionInput{}); !porthole.IsCode(err, porthole.EFORBIDDEN) {
			t.Fatalf("agent reassign = %v, want EFORBIDDEN", err)
		}
	})
}

// TestInboxLearnsOfNewConversations: a conversation's first visitor message
// is announced on the inbox topic, so a live inbox shows it without a reload;
// later messages are not (they change no hands).
func TestInboxLearnsOfNewConversations(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	f := mustFixture(t, db)
	owner := mustMember(t, f, porthole.RoleOwner, "")
	sub, err := f.svc.SubscribeInbox(context.Background(), owner)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	sess := mustJoin(t, f)
	mustSend(t, f, sess, "c1", "hello there")
	select {
	case msg := <-sub.C():
		var frame chat.HandlingFrame
		if err := json.Unmarshal(msg, &frame); err != nil || frame.ConversationID != sess.Conversation.ID || frame.State != store.StateOpen {
			t.Fatalf("inbox frame = %s, %v", msg, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the inbox heard nothing of a new conversation")
	}
}
