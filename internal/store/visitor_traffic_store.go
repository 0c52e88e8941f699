package store

import (
	"context"
	"fmt"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Reasons a visitor is marked as automated traffic.
const (
	AutomatedBotUserAgent = "bot_user_agent" // a known crawler or bot User-Agent
	AutomatedHeadless     = "headless"       // the widget reported a headless browser
	AutomatedInhumanRate  = "inhuman_rate"   // messages faster than a person types
)

// MarkVisitorAutomated flags a visitor as automated traffic, which
// analytics leave out. The first reason stays; marking again changes
// nothing. An unknown visitor is ENOTFOUND.
func (t *Tenant) MarkVisitorAutomated(ctx context.Context, visitorID, reason string) error {
	if !porthole.ValidID(visitorID) {
		return notFound("visitor")
	}
	switch reason {
	case AutomatedBotUserAgent, AutomatedHeadless, AutomatedInhumanRate:
	default:
		return porthole.Errorf(porthole.EINVALID, "unknown automated reason %q", reason)
	}
	return t.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE visitors SET automated = 1,
				automated_reason = CASE WHEN automated_reason = '' THEN ? ELSE automated_reason END
			WHERE org_id = ? AND id = ?`, reason, t.orgID, visitorID)
		if err != nil {
			return fmt.Errorf("store: unable to mark visitor: %w", err)
		}
		return expectOne(res, "visitor")
	})
}
