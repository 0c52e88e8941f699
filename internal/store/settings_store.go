package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Settings returns the bound organization's settings.
func (t *Tenant) Settings(ctx context.Context) (porthole.Settings, error) {
	var s porthole.Settings
	err := t.tx(ctx, func(tx *Tx) error {
		var channels string
		var updated int64
		err := tx.queryRow(ctx, `SELECT org_id, message_retention_days, audit_payload_retention_days, channel_retention, updated_at
			FROM org_settings WHERE org_id = ?`, t.orgID).
			Scan(&s.OrgID, &s.MessageRetentionDays, &s.AuditPayloadRetentionDays, &channels, &updated)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("organization")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read settings: %w", err)
		}
		if err := json.Unmarshal([]byte(channels), &s.ChannelRetentionDays); err != nil {
			return fmt.Errorf("store: unable to decode channel retention: %w", err)
		}
		s.UpdatedAt = fromMillis(updated)
		return nil
	})
	return s, err
}

// UpdateSettings validates and stores the bound organization's settings.
func (t *Tenant) UpdateSettings(ctx context.Context, s porthole.Settings) (porthole.Settings, error) {
	s.OrgID = t.orgID
	if err := s.Validate(); err != nil {
		return porthole.Settings{}, err
	}
	now := t.db.now()
	err := t.tx(ctx, func(tx *Tx) error {
		var exists int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM organizations WHERE id = ?`, t.orgID).Scan(&exists); err != nil {
			return fmt.Errorf("store: unable to read organization: %w", err)
		}
		if exists == 0 {
			return notFound("organization")
		}
		if err := putSettings(ctx, tx, s, now); err != nil {
			return err
		}
		return t.record(ctx, tx, "settings.update", "organization:"+t.orgID, s)
	})
	if err != nil {
		return porthole.Settings{}, err
	}
	s.UpdatedAt = fromMillis(millis(now))
	return s, nil
}

func putSettings(ctx context.Context, tx *Tx, s porthole.Settings, now time.Time) error {
	channels := s.ChannelRetentionDays
	if channels == nil {
		channels = map[string]int{}
	}
	enc, err := json.Marshal(channels)
	if err != nil {
		return fmt.Errorf("store: unable to encode channel retention: %w", err)
	}
	_, err = tx.exec(ctx, `INSERT INTO org_settings (org_id, message_retention_days, audit_payload_retention_days, channel_retention, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (org_id) DO UPDATE SET message_retention_days = excluded.message_retention_days,
			audit_payload_retention_days = excluded.audit_payload_retention_days,
			channel_retention = excluded.channel_retention, updated_at = excluded.updated_at`,
		s.OrgID, s.MessageRetentionDays, s.AuditPayloadRetentionDays, string(enc), millis(now))
	if err != nil {
		return fmt.Errorf("store: unable to store settings: %w", err)
	}
	return nil
}
