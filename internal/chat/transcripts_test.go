package chat_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

func TestExportRespectsSharingPolicy(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := mustFixture(t, db)
		sess := mustJoin(t, f)
		mustSend(t, f, sess, "c1", "=HYPERLINK(\"http://evil\") hello")
		waitTurns(t, f, sess, 1)
		a1 := mustMember(t, f, porthole.RoleAgent, "write")
		a2 := mustMember(t, f, porthole.RoleAgent, "write")
		if _, err := f.svc.TakeOver(ctx, a1, sess.Conversation.ID, chat.ActionInput{}); err != nil {
			t.Fatal(err)
		}
		if err := db.Tenant(f.org.ID).SetConversationSharing(ctx, f.bot.ID, store.SharingAssignedOnly); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name   string
			format string
			want   string
		}{
			{"json", chat.FormatJSON, `"role":"visitor"`},
			{"csv defuses formulas", chat.FormatCSV, `'=HYPERLINK`},
		}
		for _, tt := range tests {
			var buf bytes.Buffer
			n, err := f.svc.ExportTranscripts(ctx, a1, chat.ExportQuery{ConversationID: sess.Conversation.ID, Format: tt.format}, &buf)
			if err != nil || n != 1 || !strings.Contains(buf.String(), tt.want) {
				t.Fatalf("%s: export = %d, %v:\n%s", tt.name, n, err, buf.String())
			}
		}
		var buf bytes.Buffer
		if _, err := f.svc.ExportTranscripts(ctx, a2, chat.ExportQuery{ConversationID: sess.Conversation.ID, Format: chat.FormatJSON}, &buf); !porthole.IsCode(err, porthole.ENOTFOUND) {
			t.Fatalf("other agent export = %v, want ENOTFOUND", err)
		}
		n, err := f.svc.ExportTranscripts(ctx, a2, chat.ExportQuery{Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour), Format: chat.FormatJSON}, &buf)
		if err != nil || n != 0 {
			t.Fatalf("other agent range export = %d, %v; want 0 conversations", n, err)
		}
		timeline, _ := db.Tenant(f.org.ID).ConversationTimeline(ctx, sess.Conversation.ID)
		exports := 0
		for _, e := range timeline {
			if e.Action == chat.ActionExport {
				exports++
			}
		}
		if exports != 2 {
			t.Fatalf("recorded exports = %d, want 2", exports)
		}
	})
}

func TestRetentionDeletesExpiredSkipsHold(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := mustFixture(t, db)
		kept, held := mustJoin(t, f), mustJoin(t, f)
		mustSend(t, f, kept, "c1", "old message")
		mustSend(t, f, held, "c1", "evidence")
		waitTurns(t, f, kept, 1)
		waitTurns(t, f, held, 1)
		admin := mustMember(t, f, porthole.RoleAdmin, "")
		if err := f.svc.SetLegalHold(ctx, admin, held.Conversation.ID, true, "litigation 42"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Tenant(f.org.ID).UpdateSettings(ctx, porthole.Settings{MessageRetentionDays: 30, AuditPayloadRetentionDays: 30}); err != nil {
			t.Fatal(err)
		}
		db.SetClock(func() time.Time { return time.Now().Add(31 * 24 * time.Hour) })
		defer db.SetClock(time.Now)
		r := &chat.Retention{DB: db}
		reports, err := r.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got store.RetentionCounts
		for _, rep := range reports {
			if rep.OrgID == f.org.ID {
				got = rep.Counts
				if rep.Err != nil {
					t.Fatal(rep.Err)
				}
			}
		}
		if got.Messages < 2 || got.HeldSkipped < 2 {
			t.Fatalf("counts = %+v", got)
		}
		if roles := storedRoles(t, f, kept); len(roles) != 0 {
			t.Fatalf("expired conversation still has %v", roles)
		}
		if roles := storedRoles(t, f, held); len(roles) < 2 {
			t.Fatalf("held conversation lost messages: %v", roles)
		}
		entries, _ := db.Tenant(f.org.ID).AuditEntries(ctx, 50)
		found := false
		for _, e := range entries {
			found = found || e.Action == store.ActionRetentionRun
		}
		if !found {
			t.Fatal("no retention.run entry")
		}
	})
}

func TestRetentionRefusesNonPositiveWindows(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	f := mustFixture(t, db)
	ctx := context.Background()
	for _, days := range []int{0, -1} {
		if _, err := db.Tenant(f.org.ID).UpdateSettings(ctx, porthole.Settings{MessageRetentionDays: days, AuditPayloadRetentionDays: 30}); !porthole.IsCode(err, porthole.EINVALID) {
			t.Fatalf("UpdateSettings(%d) = %v, want EINVALID", days, err)
		}
		_, err := db.Tenant(f.org.ID).PurgeExpired(ctx, porthole.Settings{MessageRetentionDays: 30, AuditPayloadRetentionDays: 30,
			ChannelRetentionDays: map[string]int{"whatsapp": days}}, time.Now())
		if !porthole.IsCode(err, porthole.EINVALID) || !strings.Contains(porthole.ErrorMessage(err), "at least 1") {
			t.Fatalf("PurgeExpired(channel %d) = %v, want a clear EINVALID", days, err)
		}
	}
}

func TestAnalyticsExcludeBots(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := mustFixture(t, db)
		human, bot := mustJoin(t, f), mustJoin(t, f)
		if err := f.svc.ObserveClient(ctx, human, "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0", false); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.ObserveClient(ctx, bot, "Googlebot/2.1 (+http://www.google.com/bot.html)", false); err != nil {
			t.Fatal(err)
		}
		mustSend(t, f, human, "c1", "hello")
		mustSend(t, f, bot, "c1", "hello")
		waitTurns(t, f, human, 1)
		mustSend(t, f, human, "c2", "talk to a human")
		admin := mustMember(t, f, porthole.RoleAdmin, "")
		rows, err := f.svc.Analytics(ctx, admin, time.Now().Add(-24*time.Hour), time.Now().Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var conv, handed int64
		for _, r := range rows {
			conv += r.Conversations
			handed += r.HandedOff
		}
		if conv != 1 || handed != 1 {
			t.Fatalf("analytics = %+v; want the bot left out (1 conversation, 1 handed off)", rows)
		}
	})
}
