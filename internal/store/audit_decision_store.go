package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// RecordDecision appends one entry to the bound tenant's audit log in a
// transaction of its own. It is for decisions that change nothing in the
// database (a routing choice, a knowledge lookup, a tool call); a decision
// that stores something records through that write's transaction instead
// (NewEvent.Audit, Tenant.record), so the two commit together.
//
// The entry's organization is the bound tenant's: an entry naming another
// one is refused. A zero Actor is taken from ctx (audit.WithActor), as is an
// empty Reason. A ConversationID must name a conversation of the tenant,
// else ENOTFOUND, so the replay of a conversation holds only its own
// tenant's decisions.
func (t *Tenant) RecordDecision(ctx context.Context, e audit.Entry) error {
	if !porthole.ValidID(t.orgID) {
		return notFound("organization")
	}
	e, err := t.decisionEntry(ctx, e)
	if err != nil {
		return err
	}
	return t.tx(ctx, func(tx *Tx) error {
		if e.ConversationID != "" {
			if err := t.conversationExists(ctx, tx, e.ConversationID); err != nil {
				return err
			}
		}
		return recordAudit(ctx, tx, t.orgID, t.db.now(), e)
	})
}

// recordEventAudit appends the audit entry of a conversation event inside
// the event's transaction (see NewEvent.Audit). The conversation was found
// by the event's own write, so it is not looked up again.
func (t *Tenant) recordEventAudit(ctx context.Context, tx *Tx, conversationID string, e audit.Entry) error {
	e.ConversationID = conversationID
	e, err := t.decisionEntry(ctx, e)
	if err != nil {
		return err
	}
	return recordAudit(ctx, tx, t.orgID, t.db.now(), e)
}

// decisionEntry binds e to the tenant and fills in the actor and reason
// from ctx when the caller left them out.
func (t *Tenant) decisionEntry(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	if e.OrgID != "" && e.OrgID != t.orgID {
		return audit.Entry{}, porthole.Errorf(porthole.EINVALID, "audit entry for another organization")
	}
	e.OrgID = t.orgID
	if e.Actor.Kind == "" {
		actor, reason := audit.ActorFrom(ctx)
		e.Actor = actor
		if e.Reason == "" {
			e.Reason = reason
		}
	}
	if e.ConversationID != "" && !porthole.ValidID(e.ConversationID) {
		return audit.Entry{}, notFound("conversation")
	}
	return e, nil
}

// conversationExists answers ENOTFOUND unless the tenant has the conversation.
func (t *Tenant) conversationExists(ctx context.Context, tx *Tx, conversationID string) error {
	var one int
	err := tx.queryRow(ctx, `SELECT 1 FROM conversations WHERE org_id = ? AND id = ?`, t.orgID, conversationID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("conversation")
	}
	if err != nil {
		return fmt.Errorf("store: unable to read conversation: %w", err)
	}
	return nil
}
