package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Chatbot access levels of a grant.
const (
	GrantRead  = "read"
	GrantWrite = "write"
)

// Conversation sharing policies of a chatbot.
const (
	SharingTeam         = "team"
	SharingAssignedOnly = "assigned_only"
)

// ChatbotGrant gives one member read or write access to one chatbot.
type ChatbotGrant struct {
	ChatbotID string `json:"chatbot_id"`
	UserID    string `json:"user_id"`
	Access    string `json:"access"`
}

// SetChatbotGrant gives a member access ("read" or "write") to a chatbot of
// the bound organization; access "" removes the grant. A chatbot or member
// of another organization is ENOTFOUND.
func (t *Tenant) SetChatbotGrant(ctx context.Context, chatbotID, userID, access string) error {
	if access != "" && access != GrantRead && access != GrantWrite {
		return porthole.Errorf(porthole.EINVALID, "access must be read, write or none")
	}
	if !porthole.ValidID(chatbotID) {
		return notFound("chatbot")
	}
	if !porthole.ValidID(userID) {
		return notFound("member")
	}
	return t.tx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM chatbots WHERE org_id = ? AND id = ?`, t.orgID, chatbotID).Scan(&n); err != nil {
			return fmt.Errorf("store: unable to set grant: %w", err)
		}
		if n == 0 {
			return notFound("chatbot")
		}
		if err := tx.queryRow(ctx, `SELECT count(*) FROM memberships WHERE org_id = ? AND user_id = ?`, t.orgID, userID).Scan(&n); err != nil {
			return fmt.Errorf("store: unable to set grant: %w", err)
		}
		if n == 0 {
			return notFound("member")
		}
		if access == "" {
			if _, err := tx.exec(ctx, `DELETE FROM chatbot_grants WHERE org_id = ? AND chatbot_id = ? AND user_id = ?`, t.orgID, chatbotID, userID); err != nil {
				return fmt.Errorf("store: unable to remove grant: %w", err)
			}
			return nil
		}
		_, err := tx.exec(ctx, `INSERT INTO chatbot_grants (org_id, chatbot_id, user_id, access, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (org_id, chatbot_id, user_id) DO UPDATE SET access = excluded.access`,
			t.orgID, chatbotID, userID, access, millis(t.db.now()))
		switch {
		case isForeignKeyViolation(err):
			return notFound("chatbot")
		case err != nil:
			return fmt.Errorf("store: unable to set grant: %w", err)
		}
		return nil
	})
}

// UserChatbotGrants returns a member's grants in the bound organization as
// chatbot id -> access.
func (t *Tenant) UserChatbotGrants(ctx context.Context, userID string) (map[string]string, error) {
	out := map[string]string{}
	if !porthole.ValidID(userID) {
		return out, nil
	}
	err := t.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT chatbot_id, access FROM chatbot_grants WHERE org_id = ? AND user_id = ?`, t.orgID, userID)
		if err != nil {
			return fmt.Errorf("store: unable to list grants: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, access string
			if err := rows.Scan(&id, &access); err != nil {
				return fmt.Errorf("store: unable to list grants: %w", err)
			}
			out[id] = access
		}
		return rows.Err()
	})
	return out, err
}

// ChatbotGrants lists the grants on one chatbot of the bound organization.
func (t *Tenant) ChatbotGrants(ctx context.Context, chatbotID string) ([]ChatbotGrant, error) {
	var list []ChatbotGrant
	if !porthole.ValidID(chatbotID) {
		return nil, notFound("chatbot")
	}
	err := t.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT chatbot_id, user_id, access FROM chatbot_grants WHERE org_id = ? AND chatbot_id = ? ORDER BY user_id`, t.orgID, chatbotID)
		if err != nil {
			return fmt.Errorf("store: unable to list grants: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var g ChatbotGrant
			if err := rows.Scan(&g.ChatbotID, &g.UserID, &g.Access); err != nil {
				return fmt.Errorf("store: unable to list grants: %w", err)
			}
			list = append(list, g)
		}
		return rows.Err()
	})
	return list, err
}

// SetConversationSharing sets a chatbot's conversation sharing policy
// ("team" or "assigned_only").
func (t *Tenant) SetConversationSharing(ctx context.Context, chatbotID, policy string) error {
	if policy != SharingTeam && policy != SharingAssignedOnly {
		return porthole.Errorf(porthole.EINVALID, "policy must be team or assigned_only")
	}
	if !porthole.ValidID(chatbotID) {
		return notFound("chatbot")
	}
	return t.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO chatbot_policies (org_id, chatbot_id, conversation_sharing, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (org_id, chatbot_id) DO UPDATE SET conversation_sharing = excluded.conversation_sharing, updated_at = excluded.updated_at`,
			t.orgID, chatbotID, policy, millis(t.db.now()))
		switch {
		case isForeignKeyViolation(err):
			return notFound("chatbot")
		case err != nil:
			return fmt.Errorf("store: unable to set sharing policy: %w", err)
		}
		return nil
	})
}

// ConversationSharing returns a chatbot's conversation sharing policy;
// "team" when none was set. A chatbot of another organization is ENOTFOUND.
func (t *Tenant) ConversationSharing(ctx context.Context, chatbotID string) (string, error) {
	if !porthole.ValidID(chatbotID) {
		return "", notFound("chatbot")
	}
	var policy sql.NullString
	err := t.tx(ctx, func(tx *Tx) error {
		err := tx.queryRow(ctx, `SELECT p.conversation_sharing FROM chatbots c
			LEFT JOIN chatbot_policies p ON p.org_id = c.org_id AND p.chatbot_id = c.id
			WHERE c.org_id = ? AND c.id = ?`, t.orgID, chatbotID).Scan(&policy)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("chatbot")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read sharing policy: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if !policy.Valid {
		return SharingTeam, nil
	}
	return policy.String, nil
}

// MemberProfile is a membership with the member's email and name, for team
// pages.
type MemberProfile struct {
	porthole.Membership
	Email string `json:"email"`
	Name  string `json:"name"`
}

// MemberProfiles lists the bound organization's members with their email
// and name, oldest membership first.
func (t *Tenant) MemberProfiles(ctx context.Context) ([]MemberProfile, error) {
	var list []MemberProfile
	err := t.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT m.org_id, m.user_id, m.role, m.created_at, u.email, u.name
			FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ? ORDER BY m.created_at, m.user_id`, t.orgID)
		if err != nil {
			return fmt.Errorf("store: unable to list members: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var p MemberProfile
			var role string
			var created int64
			if err := rows.Scan(&p.OrgID, &p.UserID, &role, &created, &p.Email, &p.Name); err != nil {
				return fmt.Errorf("store: unable to list members: %w", err)
			}
			p.Role, p.CreatedAt = porthole.Role(role), fromMillis(created)
			list = append(list, p)
		}
		return rows.Err()
	})
	return list, err
}
