package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// AddOrigin normalizes and adds an allowed origin to the bound organization,
// together with its www / non-www companion (porthole.CompanionOrigin) so a
// site works under both names from day one; a companion that is listed
// already is left alone. Adding an origin that is there already is
// ECONFLICT.
func (t *Tenant) AddOrigin(ctx context.Context, raw string) (porthole.AllowedOrigin, error) {
	origin, pattern, err := porthole.NormalizeOrigin(raw)
	if err != nil {
		return porthole.AllowedOrigin{}, err
	}
	o := porthole.AllowedOrigin{ID: porthole.NewID(), OrgID: t.orgID, Origin: origin, Pattern: pattern,
		CreatedAt: fromMillis(millis(t.db.now()))}
	err = t.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO allowed_origins (id, org_id, origin, pattern, created_at) VALUES (?, ?, ?, ?, ?)`,
			o.ID, o.OrgID, o.Origin, o.Pattern, millis(o.CreatedAt))
		switch {
		case isUniqueViolation(err):
			return porthole.Errorf(porthole.ECONFLICT, "origin %s is already allowed", origin)
		case isForeignKeyViolation(err):
			return notFound("organization")
		case err != nil:
			return fmt.Errorf("store: unable to add origin: %w", err)
		}
		payload := map[string]any{"id": o.ID, "pattern": o.Pattern}
		if twin, ok := porthole.CompanionOrigin(o.Origin); ok {
			res, err := tx.exec(ctx, `INSERT INTO allowed_origins (id, org_id, origin, pattern, created_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (org_id, origin) DO NOTHING`, porthole.NewID(), t.orgID, twin, false, millis(o.CreatedAt))
			if err != nil {
				return fmt.Errorf("store: unable to add companion origin: %w", err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				payload["companion"] = twin
			}
		}
		return t.record(ctx, tx, "origin.add", "origin:"+o.Origin, payload)
	})
	return o, err
}

// Origins lists the bound organization's allowed origins.
func (t *Tenant) Origins(ctx context.Context) ([]porthole.AllowedOrigin, error) {
	var list []porthole.AllowedOrigin
	err := t.read(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT id, org_id, origin, pattern, created_at FROM allowed_origins WHERE org_id = ? ORDER BY origin`, t.orgID)
		if err != nil {
			return fmt.Errorf("store: unable to list origins: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var o porthole.AllowedOrigin
			var created int64
			if err := rows.Scan(&o.ID, &o.OrgID, &o.Origin, &o.Pattern, &created); err != nil {
				return fmt.Errorf("store: unable to list origins: %w", err)
			}
			o.CreatedAt = fromMillis(created)
			list = append(list, o)
		}
		return rows.Err()
	})
	return list, err
}

// RemoveOrigin removes an allowed origin by id.
func (t *Tenant) RemoveOrigin(ctx context.Context, id string) error {
	if !porthole.ValidID(id) {
		return notFound("origin")
	}
	return t.tx(ctx, func(tx *Tx) error {
		var origin string
		err := tx.queryRow(ctx, `SELECT origin FROM allowed_origins WHERE org_id = ? AND id = ?`, t.orgID, id).Scan(&origin)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("origin")
		}
		if err != nil {
			return fmt.Errorf("store: unable to remove origin: %w", err)
		}
		if _, err := tx.exec(ctx, `DELETE FROM allowed_origins WHERE org_id = ? AND id = ?`, t.orgID, id); err != nil {
			return fmt.Errorf("store: unable to remove origin: %w", err)
		}
		return t.record(ctx, tx, "origin.remove", "origin:"+origin, map[string]string{"id": id})
	})
}

// OriginAllowed reports whether a browser origin may embed the bound
// organization's widget.
func (t *Tenant) OriginAllowed(ctx context.Context, origin string) (bool, error) {
	list, err := t.Origins(ctx)
	if err != nil {
		return false, err
	}
	for _, o := range list {
		if porthole.OriginMatches(o, origin) {
			return true, nil
		}
	}
	return false, nil
}
