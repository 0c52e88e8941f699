package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// Contacts (issue 5) are visitor rows seen by the team: a visitor becomes a
// contact when it leaves a name, phone or email (or a verified identity).
// Merging folds one contact (the merged row) into another (the survivor):
// the merged row stays, with merged_into naming the survivor, so its widget
// session keeps working and sees only its own conversations; the
// conversations attached to it are re-pointed (conversations.contact_id) to
// the survivor; the survivor fills its empty fields from the merged row.
// contact_merges keeps what moved so an undo puts every row back exactly.
// Each merge and undo is recorded in the Wake in its own transaction.

// Audit actions of contacts.
const (
	ActionContactMerge     = "contact.merge"
	ActionContactMergeUndo = "contact.merge_undo"
)

// Why two contacts were merged (ContactMerge.Match).
const (
	MatchPhone         = "phone"          // the same E.164 phone number
	MatchVerifiedEmail = "verified_email" // the same email, verified on both rows
	MatchManual        = "manual"         // an admin merged them
)

// Contact is a visitor row as the team sees it. MergedInto is "" for a
// contact that stands on its own and the survivor's id for a row folded
// into another contact.
type Contact struct {
	ID            string    `json:"id"`
	OrgID         string    `json:"organization_id"`
	ExternalID    string    `json:"external_id,omitempty"`
	Name          string    `json:"name,omitempty"`
	Email         string    `json:"email,omitempty"`
	EmailVerified bool      `json:"email_verified"`
	Phone         string    `json:"phone,omitempty"`
	Channel       string    `json:"channel"`
	MergedInto    string    `json:"merged_into,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

const contactColumns = `id, org_id, external_id, name, email, email_verified, phone, channel, merged_into, created_at, updated_at`

func scanContact(row interface{ Scan(...any) error }) (Contact, error) {
	var c Contact
	var verified, created, updated int64
	err := row.Scan(&c.ID, &c.OrgID, &c.ExternalID, &c.Name, &c.Email, &verified, &c.Phone, &c.Channel, &c.MergedInto, &created, &updated)
	c.EmailVerified = verified != 0
	c.CreatedAt, c.UpdatedAt = fromMillis(created), fromMillis(updated)
	return c, err
}

// ContactMerge is one merge of contact MergedID into SurvivorID.
type ContactMerge struct {
	ID         string     `json:"id"`
	OrgID      string     `json:"organization_id"`
	SurvivorID string     `json:"survivor_id"`
	MergedID   string     `json:"merged_id"`
	Match      string     `json:"match"`
	Actor      string     `json:"actor"`
	CreatedAt  time.Time  `json:"created_at"`
	UndoneAt   *time.Time `json:"undone_at,omitempty"`
	UndoneBy   string     `json:"undone_by,omitempty"`
	// Conversations are the conversations the merge re-pointed to the survivor.
	Conversations []string `json:"conversations"`
	// Visitors are the rows the merge pointed at the survivor: the merged
	// row and the rows that had been merged into it before.
	Visitors []string `json:"visitors"`
}

// contactDetails are the fields a merge may fill on the survivor.
type contactDetails struct {
	Name          string `json:"name"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Phone         string `json:"phone"`
}

func detailsOf(c Contact) contactDetails {
	return contactDetails{Name: c.Name, Email: c.Email, EmailVerified: c.EmailVerified, Phone: c.Phone}
}

// repointed is a row a merge changed and the value it had before.
type repointed struct {
	ID       string `json:"id"`
	Previous string `json:"previous"`
}

// mergeSnapshot is contact_merges.snapshot: everything a merge changed,
// with the values before, so an undo restores them.
type mergeSnapshot struct {
	Match          string         `json:"match"`
	SurvivorBefore contactDetails `json:"survivor_before"`
	SurvivorAfter  contactDetails `json:"survivor_after"`
	Conversations  []repointed    `json:"conversations"` // previous contact_id
	Visitors       []repointed    `json:"visitors"`      // previous merged_into
}

func (m *mergeSnapshot) ids() (convs, visitors []string) {
	convs, visitors = []string{}, []string{}
	for _, c := range m.Conversations {
		convs = append(convs, c.ID)
	}
	for _, v := range m.Visitors {
		visitors = append(visitors, v.ID)
	}
	return convs, visitors
}

// lockRows is the row lock of a read that a change depends on: merges of
// the same contacts are serialized on PostgreSQL (SQLite serializes writes).
//
// The lock is FOR NO KEY UPDATE, not FOR UPDATE: a merge never changes a
// visitor's id, and the weaker lock leaves the row to the foreign-key
// checks of other writers (FOR KEY SHARE). With FOR UPDATE, a turn's end
// numbering its second event (whose update of the conversation row checks
// the row's visitor again) waited for a merge that waited for that
// conversation row: a deadlock.
func lockRows(tx *Tx) string {
	if tx.db.dialect == Postgres {
		return " FOR NO KEY UPDATE"
	}
	return ""
}

func (t *Tenant) contact(ctx context.Context, tx *Tx, id string, lock bool) (Contact, error) {
	q := `SELECT ` + contactColumns + ` FROM visitors WHERE org_id = ? AND id = ?`
	if lock {
		q += lockRows(tx)
	}
	c, err := scanContact(tx.queryRow(ctx, q, t.orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, notFound("contact")
	}
	if err != nil {
		return Contact{}, fmt.Errorf("store: unable to read contact: %w", err)
	}
	return c, nil
}

// Contact returns one visitor row of the bound organization as a contact.
func (t *Tenant) Contact(ctx context.Context, id string) (Contact, error) {
	if !porthole.ValidID(id) {
		return Contact{}, notFound("contact")
	}
	var c Contact
	err := t.tx(ctx, func(tx *Tx) error {
		var err error
		c, err = t.contact(ctx, tx, id, false)
		return err
	})
	return c, err
}

// ContactFilter selects contacts. Zero fields select all.
type ContactFilter struct {
	// Query matches the name, email or phone (case-insensitive substring).
	Query string
	// Before pages: contacts updated strictly before it (unix ms), 0 for the newest.
	Before int64
	Limit  int // 1..500, default 100
}

// Contacts lists the bound organization's contacts that stand on their own
// (not merged into another) and have a name, email, phone or verified
// identity, newest first. Unless vis.All, only contacts with at least one
// conversation the visibility allows are listed.
func (t *Tenant) Contacts(ctx context.Context, vis Visibility, f ContactFilter) ([]Contact, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	if len(f.Query) > 200 {
		return nil, porthole.Errorf(porthole.EINVALID, "q is at most 200 bytes")
	}
	q := `SELECT ` + contactColumns + ` FROM visitors v WHERE v.org_id = ? AND v.merged_into = ''
		AND (v.name <> '' OR v.email <> '' OR v.phone <> '' OR v.external_id <> '')`
	args := []any{t.orgID}
	if !vis.All {
		cond, vargs := vis.where()
		q += ` AND EXISTS (SELECT 1 FROM conversations c JOIN visitors cv ON cv.org_id = c.org_id AND cv.id = c.visitor_id
			WHERE c.org_id = v.org_id AND (c.contact_id = v.id OR (c.contact_id = '' AND (c.visitor_id = v.id OR cv.merged_into = v.id)))
			AND ` + cond + `)`
		args = append(args, vargs...)
	}
	if s := strings.ToLower(strings.TrimSpace(f.Query)); s != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
		q += ` AND (lower(v.name) LIKE ? ESCAPE '\' OR lower(v.email) LIKE ? ESCAPE '\' OR v.phone LIKE ? ESCAPE '\')`
		args = append(args, like, like, like)
	}
	if f.Before > 0 {
		q += ` AND v.updated_at < ?`
		args = append(args, f.Before)
	}
	q += ` ORDER BY v.updated_at DESC, v.id DESC LIMIT ?`
	args = append(args, f.Limit)
	var out []Contact
	err := t.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("store: unable to list contacts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanContact(rows)
			if err != nil {
				return fmt.Errorf("store: unable to list contacts: %w", err)
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// ContactConversations lists the conversations of a contact that vis
// allows, newest activity first: those re-pointed to it, those of its own
// visitor row (unless that row is merged into another contact) and those
// its merged rows started after their merge.
func (t *Tenant) ContactConversations(ctx context.Context, vis Visibility, contactID string) ([]InboxConversation, error) {
	if !porthole.ValidID(contactID) {
		return nil, notFound("contact")
	}
	cond, args := vis.where()
	q := `SELECT ` + inboxColumns + inboxFrom + ` WHERE c.org_id = ? AND ` + cond + `
		AND (c.contact_id = ? OR (c.contact_id = '' AND ((c.visitor_id = ? AND v.merged_into = '') OR v.merged_into = ?)))
		ORDER BY c.updated_at DESC, c.id DESC LIMIT 500`
	args = append(append([]any{t.orgID}, args...), contactID, contactID, contactID)
	var out []InboxConversation
	err := t.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("store: unable to list contact conversations: %w", err)
		}
		defer rows.Close()
		now := t.db.now()
		for rows.Next() {
			c, err := scanInbox(rows, now)
			if err != nil {
				return fmt.Errorf("store: unable to list contact conversations: %w", err)
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// MergedContacts returns the visitor rows merged into a contact.
func (t *Tenant) MergedContacts(ctx context.Context, contactID string) ([]Contact, error) {
	if !porthole.ValidID(contactID) {
		return nil, notFound("contact")
	}
	var out []Contact
	err := t.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT `+contactColumns+` FROM visitors WHERE org_id = ? AND merged_into = ?
			ORDER BY created_at, id LIMIT 500`, t.orgID, contactID)
		if err != nil {
			return fmt.Errorf("store: unable to list merged contacts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanContact(rows)
			if err != nil {
				return fmt.Errorf("store: unable to list merged contacts: %w", err)
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

const contactMergeColumns = `id, org_id, survivor_id, merged_id, actor, snapshot, created_at, undone_at, undone_by`

func scanContactMerge(row interface{ Scan(...any) error }) (ContactMerge, mergeSnapshot, error) {
	var m ContactMerge
	var snap mergeSnapshot
	var raw string
	var created, undone int64
	if err := row.Scan(&m.ID, &m.OrgID, &m.SurvivorID, &m.MergedID, &m.Actor, &raw, &created, &undone, &m.UndoneBy); err != nil {
		return ContactMerge{}, mergeSnapshot{}, err
	}
	if err := json.Unmarshal([]byte(raw), &snap); err != nil {
		return ContactMerge{}, mergeSnapshot{}, fmt.Errorf("store: contact merge %s has a broken snapshot: %w", m.ID, err)
	}
	m.Match = snap.Match
	m.CreatedAt, m.UndoneAt = fromMillis(created), optMillis(undone)
	m.Conversations, m.Visitors = snap.ids()
	return m, snap, nil
}

func (t *Tenant) contactMerge(ctx context.Context, tx *Tx, id string, lock bool) (ContactMerge, mergeSnapshot, error) {
	q := `SELECT ` + contactMergeColumns + ` FROM contact_merges WHERE org_id = ? AND id = ?`
	if lock {
		q += lockRows(tx)
	}
	m, snap, err := scanContactMerge(tx.queryRow(ctx, q, t.orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return ContactMerge{}, mergeSnapshot{}, notFound("contact merge")
	}
	if err != nil {
		return ContactMerge{}, mergeSnapshot{}, fmt.Errorf("store: unable to read contact merge: %w", err)
	}
	return m, snap, nil
}

// ContactMerge returns one merge of the bound organization.
func (t *Tenant) ContactMerge(ctx context.Context, id string) (ContactMerge, error) {
	if !porthole.ValidID(id) {
		return ContactMerge{}, notFound("contact merge")
	}
	var m ContactMerge
	err := t.tx(ctx, func(tx *Tx) error {
		var err error
		m, _, err = t.contactMerge(ctx, tx, id, false)
		return err
	})
	return m, err
}

// ContactMerges lists the merges in which contactID survived or was
// merged, newest first, undone ones included.
func (t *Tenant) ContactMerges(ctx context.Context, contactID string) ([]ContactMerge, error) {
	if !porthole.ValidID(contactID) {
		return nil, notFound("contact")
	}
	var out []ContactMerge
	err := t.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT `+contactMergeColumns+` FROM contact_merges
			WHERE org_id = ? AND (survivor_id = ? OR merged_id = ?) ORDER BY created_at DESC, id DESC LIMIT 500`,
			t.orgID, contactID, contactID)
		if err != nil {
			return fmt.Errorf("store: unable to list contact merges: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			m, _, err := scanContactMerge(rows)
			if err != nil {
				return fmt.Errorf("store: unable to list contact merges: %w", err)
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	return out, err
}

// MergeContacts folds contact mergedID into survivorID, recorded as
// contact.merge (actor and reason from ctx) in the same transaction. Both
// must be contacts of the bound organization that stand on their own: an
// unknown id (another organization's included) is ENOTFOUND, a row already
// merged or the same id twice is ECONFLICT / EINVALID.
func (t *Tenant) MergeContacts(ctx context.Context, survivorID, mergedID string) (ContactMerge, error) {
	if !porthole.ValidID(survivorID) || !porthole.ValidID(mergedID) {
		return ContactMerge{}, notFound("contact")
	}
	if survivorID == mergedID {
		return ContactMerge{}, porthole.Errorf(porthole.EINVALID, "a contact cannot be merged into itself")
	}
	var m ContactMerge
	err := t.tx(ctx, func(tx *Tx) error {
		survivor, err := t.contact(ctx, tx, survivorID, true)
		if err != nil {
			return err
		}
		merged, err := t.contact(ctx, tx, mergedID, true)
		if err != nil {
			return err
		}
		m, err = t.mergeContacts(ctx, tx, survivor, merged, MatchManual)
		return err
	})
	return m, err
}

// mergeContacts folds merged into survivor inside tx and records it.
func (t *Tenant) mergeContacts(ctx context.Context, tx *Tx, survivor, merged Contact, match string) (ContactMerge, error) {
	if survivor.MergedInto != "" {
		return ContactMerge{}, porthole.Errorf(porthole.ECONFLICT, "contact %s was merged into %s; merge into that contact instead", survivor.ID, survivor.MergedInto)
	}
	if merged.MergedInto != "" {
		return ContactMerge{}, porthole.Errorf(porthole.ECONFLICT, "contact %s is already merged into %s", merged.ID, merged.MergedInto)
	}
	snap := mergeSnapshot{Match: match, SurvivorBefore: detailsOf(survivor), Conversations: []repointed{}, Visitors: []repointed{}}
	after := snap.SurvivorBefore
	if after.Name == "" {
		after.Name = merged.Name
	}
	if after.Phone == "" {
		after.Phone = merged.Phone
	}
	switch {
	case after.Email == "":
		after.Email, after.EmailVerified = merged.Email, merged.EmailVerified
	case strings.EqualFold(after.Email, merged.Email) && merged.EmailVerified:
		after.EmailVerified = true
	}
	snap.SurvivorAfter = after

	// The conversations attached to the merged contact: re-pointed ones,
	// its own, and those of rows merged into it before.
	rows, err := tx.query(ctx, `SELECT c.id, c.contact_id FROM conversations c JOIN visitors v ON v.org_id = c.org_id AND v.id = c.visitor_id
		WHERE c.org_id = ? AND (c.contact_id = ? OR (c.contact_id = '' AND (c.visitor_id = ? OR v.merged_into = ?)))
		ORDER BY c.id`, t.orgID, merged.ID, merged.ID, merged.ID)
	if err != nil {
		return ContactMerge{}, fmt.Errorf("store: unable to read contact conversations: %w", err)
	}
	for rows.Next() {
		var r repointed
		if err := rows.Scan(&r.ID, &r.Previous); err != nil {
			rows.Close()
			return ContactMerge{}, fmt.Errorf("store: unable to read contact conversations: %w", err)
		}
		snap.Conversations = append(snap.Conversations, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return ContactMerge{}, fmt.Errorf("store: unable to read contact conversations: %w", err)
	}
	snap.Visitors = append(snap.Visitors, repointed{ID: merged.ID, Previous: ""})
	vrows, err := tx.query(ctx, `SELECT id FROM visitors WHERE org_id = ? AND merged_into = ? ORDER BY id`, t.orgID, merged.ID)
	if err != nil {
		return ContactMerge{}, fmt.Errorf("store: unable to read merged contacts: %w", err)
	}
	for vrows.Next() {
		r := repointed{Previous: merged.ID}
		if err := vrows.Scan(&r.ID); err != nil {
			vrows.Close()
			return ContactMerge{}, fmt.Errorf("store: unable to read merged contacts: %w", err)
		}
		snap.Visitors = append(snap.Visitors, r)
	}
	vrows.Close()
	if err := vrows.Err(); err != nil {
		return ContactMerge{}, fmt.Errorf("store: unable to read merged contacts: %w", err)
	}

	now := millis(t.db.now())
	for _, c := range snap.Conversations {
		if _, err := tx.exec(ctx, `UPDATE conversations SET contact_id = ? WHERE org_id = ? AND id = ?`, survivor.ID, t.orgID, c.ID); err != nil {
			return ContactMerge{}, fmt.Errorf("store: unable to re-point conversation: %w", err)
		}
	}
	for _, v := range snap.Visitors {
		if _, err := tx.exec(ctx, `UPDATE visitors SET merged_into = ?, updated_at = ? WHERE org_id = ? AND id = ?`, survivor.ID, now, t.orgID, v.ID); err != nil {
			return ContactMerge{}, fmt.Errorf("store: unable to merge contact: %w", err)
		}
	}
	if err := t.setContactDetails(ctx, tx, survivor.ID, after, now); err != nil {
		return ContactMerge{}, err
	}

	actor, reason := auditActorAndReason(ctx)
	raw, err := json.Marshal(snap)
	if err != nil {
		return ContactMerge{}, fmt.Errorf("store: unable to encode contact merge: %w", err)
	}
	m := ContactMerge{ID: porthole.NewID(), OrgID: t.orgID, SurvivorID: survivor.ID, MergedID: merged.ID, Match: match,
		Actor: actor, CreatedAt: fromMillis(now)}
	m.Conversations, m.Visitors = snap.ids()
	if _, err := tx.exec(ctx, `INSERT INTO contact_merges (id, org_id, survivor_id, merged_id, reason, actor, snapshot, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, m.ID, t.orgID, survivor.ID, merged.ID, truncate(reason, 1000), actor, string(raw), now); err != nil {
		return ContactMerge{}, fmt.Errorf("store: unable to record contact merge: %w", err)
	}
	// No name, email or phone in the entry: the ids say what moved.
	return m, t.record(ctx, tx, ActionContactMerge, "contact:"+survivor.ID, map[string]any{
		"merge_id": m.ID, "survivor_id": survivor.ID, "merged_id": merged.ID, "match": match,
		"conversations": m.Conversations, "visitors": m.Visitors})
}

func (t *Tenant) setContactDetails(ctx context.Context, tx *Tx, id string, d contactDetails, now int64) error {
	verified := 0
	if d.EmailVerified {
		verified = 1
	}
	res, err := tx.exec(ctx, `UPDATE visitors SET name = ?, email = ?, email_verified = ?, phone = ?, updated_at = ?
		WHERE org_id = ? AND id = ?`, d.Name, d.Email, verified, d.Phone, now, t.orgID, id)
	if err != nil {
		return fmt.Errorf("store: unable to update contact: %w", err)
	}
	return expectOne(res, "contact")
}

// UndoContactMerge puts back every row a merge changed: the merged rows
// stand on their own again, their conversations point where they pointed
// before, and the survivor's fields the merge filled are emptied again
// (a field changed since is kept). Recorded as contact.merge_undo. A merge
// already undone, or one a later merge built on (the survivor or merged
// row was merged again since), is ECONFLICT: undo the later merge first.
func (t *Tenant) UndoContactMerge(ctx context.Context, mergeID string) (ContactMerge, error) {
	if !porthole.ValidID(mergeID) {
		return ContactMerge{}, notFound("contact merge")
	}
	var m ContactMerge
	err := t.tx(ctx, func(tx *Tx) error {
		var snap mergeSnapshot
		var err error
		m, snap, err = t.contactMerge(ctx, tx, mergeID, true)
		if err != nil {
			return err
		}
		if m.UndoneAt != nil {
			return porthole.Errorf(porthole.ECONFLICT, "this merge was undone already")
		}
		survivor, err := t.contact(ctx, tx, m.SurvivorID, true)
		if err != nil {
			return err
		}
		merged, err := t.contact(ctx, tx, m.MergedID, true)
		if err != nil {
			return err
		}
		if survivor.MergedInto != "" || merged.MergedInto != survivor.ID {
			return porthole.Errorf(porthole.ECONFLICT, "a later merge changed these contacts; undo it first")
		}
		now := millis(t.db.now())
		for _, c := range snap.Conversations {
			if _, err := tx.exec(ctx, `UPDATE conversations SET contact_id = ? WHERE org_id = ? AND id = ? AND contact_id = ?`,
				c.Previous, t.orgID, c.ID, survivor.ID); err != nil {
				return fmt.Errorf("store: unable to re-point conversation: %w", err)
			}
		}
		for _, v := range snap.Visitors {
			if _, err := tx.exec(ctx, `UPDATE visitors SET merged_into = ?, updated_at = ? WHERE org_id = ? AND id = ? AND merged_into = ?`,
				v.Previous, now, t.orgID, v.ID, survivor.ID); err != nil {
				return fmt.Errorf("store: unable to unmerge contact: %w", err)
			}
		}
		// A field is put back only where it still holds what the merge set.
		restored := detailsOf(survivor)
		before, after := snap.SurvivorBefore, snap.SurvivorAfter
		if restored.Name == after.Name {
			restored.Name = before.Name
		}
		if restored.Phone == after.Phone {
			restored.Phone = before.Phone
		}
		if restored.Email == after.Email && restored.EmailVerified == after.EmailVerified {
			restored.Email, restored.EmailVerified = before.Email, before.EmailVerified
		}
		if restored != detailsOf(survivor) {
			if err := t.setContactDetails(ctx, tx, survivor.ID, restored, now); err != nil {
				return err
			}
		}
		actor, _ := auditActorAndReason(ctx)
		if _, err := tx.exec(ctx, `UPDATE contact_merges SET undone_at = ?, undone_by = ? WHERE org_id = ? AND id = ?`,
			now, actor, t.orgID, m.ID); err != nil {
			return fmt.Errorf("store: unable to record contact merge undo: %w", err)
		}
		m.UndoneAt, m.UndoneBy = optMillis(now), actor
		return t.record(ctx, tx, ActionContactMergeUndo, "contact:"+survivor.ID, map[string]any{
			"merge_id": m.ID, "survivor_id": survivor.ID, "merged_id": merged.ID,
			"conversations": m.Conversations, "visitors": m.Visitors})
	})
	return m, err
}

// ContactUpgrade is what a visitor left about itself (the contact form):
// empty fields keep the stored value. Phone must be E.164 already
// (porthole.NormalizePhone). EmailVerified is true only when the email
// came from a verified source (a signed identity), never when typed.
type ContactUpgrade struct {
	VisitorID     string
	Name          string
	Email         string
	EmailVerified bool
	Phone         string
}

// UpgradeContact writes a visitor's contact details onto its own row (the
// anonymous visitor becomes a contact in place, same id) and, when another
// contact of the organization that stands on its own has the same phone,
// or the same email verified on both rows, merges this row into the oldest
// such contact in the same transaction (recorded as contact.merge, actor
// and reason from ctx). It returns the row and the merge, nil when none.
// A typed email replacing a verified one is no longer verified. A row
// already merged is updated but not merged again.
func (t *Tenant) UpgradeContact(ctx context.Context, in ContactUpgrade) (Contact, *ContactMerge, error) {
	if !porthole.ValidID(in.VisitorID) {
		return Contact{}, nil, notFound("visitor")
	}
	if len(in.Name) > 200 || len(in.Email) > 320 || len(in.Phone) > 16 {
		return Contact{}, nil, porthole.Errorf(porthole.ETOOLARGE, "contact fields are too long")
	}
	if in.Phone != "" {
		if p, err := porthole.NormalizePhone(in.Phone, ""); err != nil || p != in.Phone {
			return Contact{}, nil, porthole.Errorf(porthole.EINVALID, "phone must be in E.164 form")
		}
	}
	var c Contact
	var merge *ContactMerge
	err := t.tx(ctx, func(tx *Tx) error {
		cur, err := t.contact(ctx, tx, in.VisitorID, true)
		if err != nil {
			return err
		}
		d := detailsOf(cur)
		if in.Name != "" {
			d.Name = in.Name
		}
		if in.Phone != "" {
			d.Phone = in.Phone
		}
		if in.Email != "" {
			d.EmailVerified = in.EmailVerified || (cur.EmailVerified && strings.EqualFold(cur.Email, in.Email))
			d.Email = in.Email
		}
		now := millis(t.db.now())
		if err := t.setContactDetails(ctx, tx, cur.ID, d, now); err != nil {
			return err
		}
		if c, err = t.contact(ctx, tx, cur.ID, false); err != nil {
			return err
		}
		if c.MergedInto != "" || (c.Phone == "" && !c.EmailVerified) {
			return nil
		}
		match, other, err := t.matchingContact(ctx, tx, c)
		if err != nil || match == "" {
			return err
		}
		m, err := t.mergeContacts(ctx, tx, other, c, match)
		if err != nil {
			return err
		}
		merge = &m
		c, err = t.contact(ctx, tx, cur.ID, false)
		return err
	})
	return c, merge, err
}

// matchingContact finds the oldest other contact standing on its own with
// c's phone, else with c's verified email verified too.
func (t *Tenant) matchingContact(ctx context.Context, tx *Tx, c Contact) (string, Contact, error) {
	try := func(match, cond string, arg any) (string, Contact, error) {
		other, err := scanContact(tx.queryRow(ctx, `SELECT `+contactColumns+` FROM visitors
			WHERE org_id = ? AND id <> ? AND merged_into = '' AND `+cond+` ORDER BY created_at, id LIMIT 1`+lockRows(tx),
			t.orgID, c.ID, arg))
		if errors.Is(err, sql.ErrNoRows) {
			return "", Contact{}, nil
		}
		if err != nil {
			return "", Contact{}, fmt.Errorf("store: unable to look for a matching contact: %w", err)
		}
		return match, other, nil
	}
	if c.Phone != "" {
		if match, other, err := try(MatchPhone, `phone = ?`, c.Phone); err != nil || match != "" {
			return match, other, err
		}
	}
	if c.EmailVerified && c.Email != "" {
		return try(MatchVerifiedEmail, `email_verified = 1 AND lower(email) = ?`, strings.ToLower(c.Email))
	}
	return "", Contact{}, nil
}

// auditActorAndReason returns the actor in ctx as "kind:id" and the reason.
func auditActorAndReason(ctx context.Context) (string, string) {
	a, reason := audit.ActorFrom(ctx)
	if a.ID == "" {
		return string(a.Kind), reason
	}
	return string(a.Kind) + ":" + a.ID, reason
}
