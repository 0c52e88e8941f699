package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// BenchmarkRecentMessages reads a turn's history (historyForTurn = 50
// messages) from a conversation of 60 turns: a visitor question, a reply
// of about 300 bytes and a turn end each.
func BenchmarkRecentMessages(b *testing.B) {
	ctx := context.Background()
	db := storetest.MustOpenSQLite(b)
	org := mustOrg(b, db, "bench")
	tn := db.Tenant(org.ID)
	bot := mustChatbot(b, tn, "bot")
	_, conv := mustConversation(b, tn, bot.ID)
	reply := strings.Repeat("Our opening hours are nine to five. ", 8)
	for i := range 60 {
		if _, _, err := tn.AppendEvent(ctx, store.NewEvent{ConversationID: conv.ID, Kind: store.EventMessage,
			Role: store.RoleVisitor, Text: "What are your opening hours?"}); err != nil {
			b.Fatal(err)
		}
		turn := string(rune('a'+i%26)) + "turn"
		if _, err := tn.EndTurn(ctx, conv.ID, store.TurnEnd{Events: []store.NewEvent{
			{Kind: store.EventMessage, Role: store.RoleAssistant, Text: reply, TurnID: turn},
			{Kind: store.EventTurnEnd, TurnID: turn}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		got, err := tn.RecentMessages(ctx, conv.ID, 50)
		if err != nil || len(got) != 50 {
			b.Fatalf("%d messages, %v", len(got), err)
		}
	}
}
