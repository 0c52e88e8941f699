package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// MaxNameLength caps names of organizations, chatbots and keys.
const MaxNameLength = 200

func validName(what, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", porthole.Errorf(porthole.EINVALID, "%s name must not be empty", what)
	}
	if len(name) > MaxNameLength {
		return "", porthole.Errorf(porthole.EINVALID, "%s name must be at most %d bytes", what, MaxNameLength)
	}
	return name, nil
}

// CreateOrganization creates a tenant with default settings.
func (db *DB) CreateOrganization(ctx context.Context, name string) (porthole.Organization, error) {
	name, err := validName("organization", name)
	if err != nil {
		return porthole.Organization{}, err
	}
	org := porthole.Organization{ID: porthole.NewID(), Name: name, CreatedAt: fromMillis(millis(db.now()))}
	err = db.Tenant(org.ID).tx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)`,
			org.ID, org.Name, millis(org.CreatedAt)); err != nil {
			return fmt.Errorf("store: unable to create organization: %w", err)
		}
		if err := putSettings(ctx, tx, porthole.DefaultSettings(org.ID), db.now()); err != nil {
			return err
		}
		return db.Tenant(org.ID).record(ctx, tx, "organization.create", "organization:"+org.ID, map[string]string{"name": org.Name})
	})
	return org, err
}

// Organization returns the bound organization.
func (t *Tenant) Organization(ctx context.Context) (porthole.Organization, error) {
	var org porthole.Organization
	err := t.read(ctx, func(tx *Tx) error {
		var created int64
		err := tx.queryRow(ctx, `SELECT id, name, created_at FROM organizations WHERE id = ?`, t.orgID).
			Scan(&org.ID, &org.Name, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("organization")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read organization: %w", err)
		}
		org.CreatedAt = fromMillis(created)
		return nil
	})
	return org, err
}

// RenameOrganization changes the bound organization's name.
func (t *Tenant) RenameOrganization(ctx context.Context, name string) error {
	name, err := validName("organization", name)
	if err != nil {
		return err
	}
	return t.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE organizations SET name = ? WHERE id = ?`, name, t.orgID)
		if err != nil {
			return fmt.Errorf("store: unable to rename organization: %w", err)
		}
		if err := expectOne(res, "organization"); err != nil {
			return err
		}
		return t.record(ctx, tx, "organization.rename", "organization:"+t.orgID, map[string]string{"name": name})
	})
}

// OrganizationIDs lists every organization id, system-wide, for background
// workers that visit each tenant in turn (retention, checkpoints).
func (db *DB) OrganizationIDs(ctx context.Context) ([]string, error) {
	var ids []string
	err := db.systemTx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT id FROM organizations ORDER BY id`)
		if err != nil {
			return fmt.Errorf("store: unable to list organizations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("store: unable to list organizations: %w", err)
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	return ids, err
}

// expectOne turns "no row changed" into ENOTFOUND.
func expectOne(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: unable to count changed rows: %w", err)
	}
	if n == 0 {
		return notFound(what)
	}
	return nil
}
