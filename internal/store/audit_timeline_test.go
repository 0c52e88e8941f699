package store

import (
	"context"
	"strings"
	"testing"
)

// A conversation's timeline is read through its index: the plan names
// audit_entries_conversation and sorts nothing, so the read does not grow
// with the organization's whole log.
func TestConversationTimelineReadsThroughItsIndex(t *testing.T) {
	ctx := context.Background()
	db := openSQLiteForTest(t)
	rows, err := db.sql.QueryContext(ctx, "EXPLAIN QUERY PLAN "+timelineQuery(SQLite), "org", "conversation")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(plan, "; ")
	if !strings.Contains(got, "USING INDEX audit_entries_conversation (org_id=? AND conversation_id=?)") || strings.Contains(got, "TEMP B-TREE") {
		t.Fatalf("timeline plan %q; want a search of audit_entries_conversation without a sort", got)
	}
}
