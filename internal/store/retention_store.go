package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// ActionRetentionRun is the audit action of one retention run of a tenant.
const ActionRetentionRun = "retention.run"

// RetentionCounts is what one retention run deleted in one organization.
type RetentionCounts struct {
	Messages         int64    `json:"messages"`
	Notes            int64    `json:"notes"`
	Attachments      int64    `json:"attachments"`
	KnowledgeSources int64    `json:"knowledge_sources"`
	HeldSkipped      int64    `json:"held_skipped"` // expired events kept because of a legal hold
	AttachmentKeys   []string `json:"-"`            // blobs the caller deletes from file storage
}

// PurgeExpired deletes the bound organization's conversation events,
// notes and attachments older than their retention window (the channel's
// window from settings, else the organization's), skipping conversations
// under legal hold, and the knowledge of chatbots that no longer exist. The
// run is recorded as retention.run with its counts in the same
// transaction. Settings that fail Validate (a window of 0 or less) are
// refused with EINVALID and nothing is deleted.
func (t *Tenant) PurgeExpired(ctx context.Context, settings porthole.Settings, now time.Time) (RetentionCounts, error) {
	if err := settings.Validate(); err != nil {
		return RetentionCounts{}, porthole.Errorf(porthole.EINVALID, "retention refused: %s", porthole.ErrorMessage(err))
	}
	var out RetentionCounts
	err := t.tx(ctx, func(tx *Tx) error {
		out = RetentionCounts{}
		channels := make([]string, 0, len(settings.ChannelRetentionDays))
		for ch := range settings.ChannelRetentionDays {
			channels = append(channels, ch)
		}
		sort.Strings(channels)
		windows := map[string]any{"default": settings.MessageRetentionDays}
		// Each channel with its own window, then every other channel with the default.
		type scopeCond struct {
			cond string
			args []any
			days int
		}
		var scopes []scopeCond
		for _, ch := range channels {
			scopes = append(scopes, scopeCond{"c.channel = ?", []any{ch}, settings.ChannelRetentionDays[ch]})
			windows[ch] = settings.ChannelRetentionDays[ch]
		}
		def := scopeCond{cond: "1 = 1", days: settings.MessageRetentionDays}
		if len(channels) > 0 {
			def.cond = "c.channel NOT IN (" + placeholders(len(channels)) + ")"
			for _, ch := range channels {
				def.args = append(def.args, ch)
			}
		}
		scopes = append(scopes, def)
		for _, sc := range scopes {
			cutoff := millis(now.Add(-time.Duration(sc.days) * 24 * time.Hour))
			convs := `SELECT c.id FROM conversations c WHERE c.org_id = ? AND c.legal_hold = 0 AND ` + sc.cond
			convArgs := append([]any{t.orgID}, sc.args...)
			n, err := t.deleteCount(ctx, tx, `DELETE FROM conversation_events WHERE org_id = ? AND created_at < ? AND conversation_id IN (`+convs+`)`,
				append([]any{t.orgID, cutoff}, convArgs...))
			if err != nil {
				return err
			}
			out.Messages += n
			if n, err = t.deleteCount(ctx, tx, `DELETE FROM conversation_notes WHERE org_id = ? AND created_at < ? AND conversation_id IN (`+convs+`)`,
				append([]any{t.orgID, cutoff}, convArgs...)); err != nil {
				return err
			}
			out.Notes += n
			rows, err := tx.query(ctx, `SELECT storage_key FROM conversation_attachments WHERE org_id = ? AND created_at < ? AND conversation_id IN (`+convs+`)`,
				append([]any{t.orgID, cutoff}, convArgs...)...)
			if err != nil {
				return fmt.Errorf("store: unable to list expired attachments: %w", err)
			}
			for rows.Next() {
				var key string
				if err := rows.Scan(&key); err != nil {
					rows.Close()
					return fmt.Errorf("store: unable to list expired attachments: %w", err)
				}
				out.AttachmentKeys = append(out.AttachmentKeys, key)
			}
			rows.Close()
			if n, err = t.deleteCount(ctx, tx, `DELETE FROM conversation_attachments WHERE org_id = ? AND created_at < ? AND conversation_id IN (`+convs+`)`,
				append([]any{t.orgID, cutoff}, convArgs...)); err != nil {
				return err
			}
			out.Attachments += n
			var held int64
			if err := tx.queryRow(ctx, `SELECT count(*) FROM conversation_events e JOIN conversations c ON c.org_id = e.org_id AND c.id = e.conversation_id
				WHERE e.org_id = ? AND e.created_at < ? AND c.legal_hold = 1 AND `+sc.cond, append([]any{t.orgID, cutoff}, sc.args...)...).Scan(&held); err != nil {
				return fmt.Errorf("store: unable to count held events: %w", err)
			}
			out.HeldSkipped += held
		}
		// Knowledge of deleted chatbots: the foreign keys cascade already;
		// this catches anything a failed cascade or an old schema left.
		n, err := t.deleteCount(ctx, tx, `DELETE FROM knowledge_sources WHERE org_id = ? AND chatbot_id NOT IN (SELECT id FROM chatbots WHERE org_id = ?)`,
			[]any{t.orgID, t.orgID})
		if err != nil {
			return err
		}
		out.KnowledgeSources = n
		return recordAudit(ctx, tx, t.orgID, t.db.now(), audit.Entry{OrgID: t.orgID,
			Actor: audit.Actor{Kind: audit.ActorSystem, ID: "retention"}, Action: ActionRetentionRun, Target: "organization:" + t.orgID,
			Reason:  "expired messages, notes and attachments deleted by the retention windows; conversations under legal hold skipped",
			Payload: audit.Payload(map[string]any{"counts": out, "windows_days": windows})})
	})
	if err != nil {
		return RetentionCounts{}, err
	}
	return out, nil
}

func (t *Tenant) deleteCount(ctx context.Context, tx *Tx, q string, args []any) (int64, error) {
	res, err := tx.exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("store: unable to delete expired rows: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: unable to delete expired rows: %w", err)
	}
	return n, nil
}

// AddAttachment registers an attachment blob of a conversation (the file
// service calls it), so retention deletes it with the conversation's
// messages.
func (t *Tenant) AddAttachment(ctx context.Context, conversationID, eventID, storageKey string, size int64) (string, error) {
	if !porthole.ValidID(conversationID) {
		return "", notFound("conversation")
	}
	if storageKey == "" || len(storageKey) > 1024 {
		return "", porthole.Errorf(porthole.EINVALID, "storage key must be 1 to 1024 bytes")
	}
	id := porthole.NewID()
	err := t.tx(ctx, func(tx *Tx) error {
		if err := t.conversationExists(ctx, tx, conversationID); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO conversation_attachments (id, org_id, conversation_id, event_id, storage_key, size_bytes, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, id, t.orgID, conversationID, eventID, storageKey, size, millis(t.db.now()))
		if err != nil {
			return fmt.Errorf("store: unable to store attachment: %w", err)
		}
		return nil
	})
	return id, err
}
