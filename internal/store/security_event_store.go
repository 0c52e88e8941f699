package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// InsertSecurityEvent stores one security event: in its tenant when OrgID is
// set (and well formed), else with no tenant.
func (db *DB) InsertSecurityEvent(ctx context.Context, ev porthole.SecurityEvent) error {
	if ev.ID == "" {
		ev.ID = porthole.NewID()
	}
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = db.now()
	}
	data := []byte("{}")
	if len(ev.Data) > 0 {
		var err error
		if data, err = json.Marshal(ev.Data); err != nil {
			return fmt.Errorf("store: unable to encode security event: %w", err)
		}
	}
	insert := func(tx *Tx, org any) error {
		_, err := tx.exec(ctx, `INSERT INTO security_events (id, org_id, kind, actor, ip, request_id, detail, data, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ev.ID, org, ev.Kind, ev.Actor, ev.IP, ev.RequestID, ev.Detail, string(data), millis(ev.CreatedAt))
		if err != nil {
			return fmt.Errorf("store: unable to record security event: %w", err)
		}
		logID := audit.SystemOrgID
		if s, ok := org.(string); ok {
			logID = s
		}
		kind := audit.ActorSystem
		return recordAudit(ctx, tx, logID, db.now(), audit.Entry{
			Actor:   audit.Actor{Kind: kind},
			Action:  audit.ActionSecurityPrefix + ev.Kind,
			Target:  ev.Actor,
			Reason:  ev.Detail,
			Payload: audit.Payload(map[string]any{"event_id": ev.ID, "ip": ev.IP, "request_id": ev.RequestID, "data": ev.Data}),
		})
	}
	if porthole.ValidID(ev.OrgID) {
		err := db.Tenant(ev.OrgID).tx(ctx, func(tx *Tx) error { return insert(tx, ev.OrgID) })
		if !isForeignKeyViolation(err) {
			return err
		}
		// The named organization does not exist: keep the event, tenantless.
		ev.Data = nil
	}
	return db.systemTx(ctx, func(tx *Tx) error { return insert(tx, nil) })
}

// SecurityEvents lists the bound organization's newest security events.
func (t *Tenant) SecurityEvents(ctx context.Context, limit int) ([]porthole.SecurityEvent, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var list []porthole.SecurityEvent
	err := t.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT id, org_id, kind, actor, ip, request_id, detail, data, created_at
			FROM security_events WHERE org_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`, t.orgID, limit)
		if err != nil {
			return fmt.Errorf("store: unable to list security events: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var ev porthole.SecurityEvent
			var data string
			var created int64
			if err := rows.Scan(&ev.ID, &ev.OrgID, &ev.Kind, &ev.Actor, &ev.IP, &ev.RequestID, &ev.Detail, &data, &created); err != nil {
				return fmt.Errorf("store: unable to list security events: %w", err)
			}
			if data != "{}" {
				_ = json.Unmarshal([]byte(data), &ev.Data)
			}
			ev.CreatedAt = fromMillis(created)
			list = append(list, ev)
		}
		return rows.Err()
	})
	return list, err
}
