package assistant

import (
	"fmt"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/store"
)

// TestHistoryMessagesWindow pins what a turn sends of its history: the
// newest visitor message always, older messages newest first while the
// budget lasts, agents as the assistant, no system notes or empty texts,
// nothing after the last visitor message, and a visitor message first.
func TestHistoryMessagesWindow(t *testing.T) {
	v := func(s string) store.Message { return store.Message{Role: store.RoleVisitor, Text: s} }
	a := func(s string) store.Message { return store.Message{Role: store.RoleAssistant, Text: s} }
	long := strings.Repeat("x", 400) // 104 tokens by estimateTokens
	cases := []struct {
		name    string
		history []store.Message
		budget  int
		want    string
	}{
		{"empty", nil, 100, ""},
		{"no visitor message", []store.Message{a("hello")}, 100, ""},
		{"roles", []store.Message{v("q1"), a("a1"), {Role: store.RoleAgent, Text: "agent"}, {Role: store.RoleSystem, Text: "note"}, v("q2")}, 100,
			"user:q1 assistant:a1 assistant:agent user:q2"},
		{"empty texts skipped", []store.Message{v("q1"), a(""), v(""), v("q2")}, 100, "user:q1 user:q2"},
		{"trailing reply dropped", []store.Message{v("q1"), a("a1")}, 100, "user:q1"},
		{"opens with the visitor", []store.Message{a("greeting"), {Role: store.RoleSystem, Text: "note"}, a("more"), v("q1")}, 100, "user:q1"},
		{"budget keeps the newest", []store.Message{v("q0" + long), a("a0"), v("q1"), a("a1"), v("q2")}, 50,
			"user:q1 assistant:a1 user:q2"},
		{"budget stops at the first that does not fit", []store.Message{v("q0"), a(long), v("q1"), a("a1"), v("q2")}, 50,
			"user:q1 assistant:a1 user:q2"},
		{"last visitor message kept over budget", []store.Message{v("q0"), v("q1" + long)}, 10, "user:q1" + long},
		{"leading reply after trim dropped", []store.Message{v("q0" + long), a("a0"), v("q1")}, 30, "user:q1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			msgs := historyMessages(c.history, c.budget)
			for _, m := range msgs {
				got = append(got, fmt.Sprint(m.Role, ":", m.Text))
			}
			if s := strings.Join(got, " "); s != c.want {
				t.Fatalf("history = %q, want %q", s, c.want)
			}
			if len(msgs) != cap(msgs) {
				t.Fatalf("history of %d messages allocated for %d", len(msgs), cap(msgs))
			}
		})
	}
}
