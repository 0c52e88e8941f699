package store

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// AnalyticsRow holds the figures of one chatbot on one UTC day. Automated
// visitors (bots, headless browsers, inhuman rates) are left out of every
// figure. See docs/conversations.md for the definitions.
type AnalyticsRow struct {
	Day                 string  `json:"day"` // YYYY-MM-DD, UTC
	ChatbotID           string  `json:"chatbot_id"`
	Conversations       int64   `json:"conversations"`         // started that day, with at least one event
	Messages            int64   `json:"messages"`              // visitor, assistant and agent messages stored that day
	HandedOff           int64   `json:"handed_off"`            // of the conversations, those handed to people
	HandoffRate         float64 `json:"handoff_rate"`          // HandedOff / Conversations
	ResolvedByAssistant int64   `json:"resolved_by_assistant"` // never handed off
	ResolvedByAgent     int64   `json:"resolved_by_agent"`     // an agent held it and it is closed
}

const dayMillis = 24 * 60 * 60 * 1000

// ConversationAnalytics returns the per-day, per-chatbot figures of the
// conversations vis allows, for days in [since, until).
func (t *Tenant) ConversationAnalytics(ctx context.Context, vis Visibility, since, until time.Time) ([]AnalyticsRow, error) {
	if !until.After(since) {
		return nil, nil
	}
	cond, visArgs := vis.where()
	type key struct {
		day     int64
		chatbot string
	}
	rowsBy := map[key]*AnalyticsRow{}
	get := func(day int64, bot string) *AnalyticsRow {
		k := key{day, bot}
		if r := rowsBy[k]; r != nil {
			return r
		}
		r := &AnalyticsRow{Day: time.UnixMilli(day * dayMillis).UTC().Format("2006-01-02"), ChatbotID: bot}
		rowsBy[k] = r
		return r
	}
	err := t.tx(ctx, func(tx *Tx) error {
		args := append([]any{t.orgID, millis(since), millis(until)}, visArgs...)
		rows, err := tx.query(ctx, `SELECT c.created_at / `+fmt.Sprint(dayMillis)+`, c.chatbot_id, count(*),
				sum(CASE WHEN c.handed_off_at > 0 THEN 1 ELSE 0 END),
				sum(CASE WHEN c.handed_off_at = 0 THEN 1 ELSE 0 END),
				sum(CASE WHEN c.agent_handled = 1 AND c.state = 'closed' THEN 1 ELSE 0 END)
			FROM conversations c JOIN visitors v ON v.org_id = c.org_id AND v.id = c.visitor_id
			WHERE c.org_id = ? AND c.created_at >= ? AND c.created_at < ? AND c.last_seq > 0 AND v.automated = 0 AND `+cond+`
			GROUP BY 1, 2`, args...)
		if err != nil {
			return fmt.Errorf("store: unable to compute analytics: %w", err)
		}
		for rows.Next() {
			var day int64
			var bot string
			var n, handed, byAssistant, byAgent int64
			if err := rows.Scan(&day, &bot, &n, &handed, &byAssistant, &byAgent); err != nil {
				rows.Close()
				return fmt.Errorf("store: unable to compute analytics: %w", err)
			}
			r := get(day, bot)
			r.Conversations, r.HandedOff, r.ResolvedByAssistant, r.ResolvedByAgent = n, handed, byAssistant, byAgent
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: unable to compute analytics: %w", err)
		}
		rows, err = tx.query(ctx, `SELECT e.created_at / `+fmt.Sprint(dayMillis)+`, c.chatbot_id, count(*)
			FROM conversation_events e
			JOIN conversations c ON c.org_id = e.org_id AND c.id = e.conversation_id
			JOIN visitors v ON v.org_id = c.org_id AND v.id = c.visitor_id
			WHERE e.org_id = ? AND e.created_at >= ? AND e.created_at < ? AND e.kind = 'message'
				AND e.role IN ('visitor', 'assistant', 'agent') AND v.automated = 0 AND `+cond+`
			GROUP BY 1, 2`, args...)
		if err != nil {
			return fmt.Errorf("store: unable to compute analytics: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var day, n int64
			var bot string
			if err := rows.Scan(&day, &bot, &n); err != nil {
				return fmt.Errorf("store: unable to compute analytics: %w", err)
			}
			get(day, bot).Messages = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	out := make([]AnalyticsRow, 0, len(rowsBy))
	for _, r := range rowsBy {
		if r.Conversations > 0 {
			r.HandoffRate = float64(r.HandedOff) / float64(r.Conversations)
		}
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Day != out[j].Day {
			return out[i].Day < out[j].Day
		}
		return out[i].ChatbotID < out[j].ChatbotID
	})
	return out, nil
}
