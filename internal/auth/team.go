package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// require returns EFORBIDDEN unless the principal holds perm.
func require(p Principal, perm string) error {
	if !p.Can(perm) {
		return porthole.Errorf(porthole.EFORBIDDEN, "missing permission %s", perm)
	}
	return nil
}

// managerRole is the role a principal manages members as: its own for
// people; an API key with members:write manages like an admin (never owners).
func managerRole(p Principal) porthole.Role {
	if p.Kind == KindAPIKey {
		return porthole.RoleAdmin
	}
	return p.Role
}

// Me describes the caller.
type Me struct {
	User        *porthole.User        `json:"user,omitempty"`
	APIKeyID    string                `json:"api_key_id,omitempty"`
	OrgID       string                `json:"organization_id,omitempty"`
	Role        porthole.Role         `json:"role,omitempty"`
	Via         string                `json:"authenticated_via"`
	Permissions []string              `json:"permissions"`
	Memberships []porthole.Membership `json:"memberships,omitempty"`
}

// Me returns who the principal is and what it may do.
func (s *Service) Me(ctx context.Context, p Principal) (Me, error) {
	me := Me{OrgID: p.Org, Role: p.Role, Via: p.Via, Permissions: []string{}}
	for _, perm := range AllPermissions() {
		if p.Can(perm) {
			me.Permissions = append(me.Permissions, perm)
		}
	}
	if p.Kind == KindAPIKey {
		me.APIKeyID = p.APIKeyID
		return me, nil
	}
	u, _, err := s.db.UserByID(ctx, p.UserID)
	if err != nil {
		return Me{}, err
	}
	me.User = &u
	me.Memberships, err = s.db.UserMemberships(ctx, p.UserID)
	return me, err
}

// Members lists the principal's organization's members.
func (s *Service) Members(ctx context.Context, p Principal) ([]store.MemberProfile, error) {
	if err := require(p, "members:read"); err != nil {
		return nil, err
	}
	list, err := s.db.Tenant(p.Org).MemberProfiles(ctx)
	if list == nil {
		list = []store.MemberProfile{}
	}
	return list, err
}

// ownerCount counts the owners of the principal's organization.
func (s *Service) ownerCount(ctx context.Context, orgID string) (int, error) {
	list, err := s.db.Tenant(orgID).Members(ctx)
	n := 0
	for _, m := range list {
		if m.Role == porthole.RoleOwner {
			n++
		}
	}
	return n, err
}

// SetMemberRole changes a member's role. Only owners touch owners; an
// organization keeps at least one owner.
func (s *Service) SetMemberRole(ctx context.Context, p Principal, userID string, role porthole.Role) (porthole.Membership, error) {
	if err := require(p, "members:write"); err != nil {
		return porthole.Membership{}, err
	}
	if !role.Valid() {
		return porthole.Membership{}, porthole.Errorf(porthole.EINVALID, "role must be owner, admin, agent or viewer")
	}
	t := s.db.Tenant(p.Org)
	m, err := t.Member(ctx, userID)
	if err != nil {
		return porthole.Membership{}, err
	}
	if !CanAssignRole(managerRole(p), m.Role) || !CanAssignRole(managerRole(p), role) {
		return porthole.Membership{}, porthole.Errorf(porthole.EFORBIDDEN, "your role cannot give or change the role %s", role)
	}
	if m.Role == porthole.RoleOwner && role != porthole.RoleOwner {
		if n, err := s.ownerCount(ctx, p.Org); err != nil || n < 2 {
			if err != nil {
				return porthole.Membership{}, err
			}
			return porthole.Membership{}, porthole.Errorf(porthole.ECONFLICT, "an organization needs at least one owner")
		}
	}
	if err := t.SetMemberRole(ctx, userID, role); err != nil {
		return porthole.Membership{}, err
	}
	m.Role = role
	return m, nil
}

// RemoveMember removes a member from the principal's organization. Only
// owners remove owners; the last owner stays.
func (s *Service) RemoveMember(ctx context.Context, p Principal, userID string) error {
	if err := require(p, "members:write"); err != nil {
		return err
	}
	t := s.db.Tenant(p.Org)
	m, err := t.Member(ctx, userID)
	if err != nil {
		return err
	}
	if !CanAssignRole(managerRole(p), m.Role) {
		return porthole.Errorf(porthole.EFORBIDDEN, "your role cannot remove a member with the role %s", m.Role)
	}
	if m.Role == porthole.RoleOwner {
		if n, err := s.ownerCount(ctx, p.Org); err != nil || n < 2 {
			if err != nil {
				return err
			}
			return porthole.Errorf(porthole.ECONFLICT, "an organization needs at least one owner")
		}
	}
	return t.RemoveMember(ctx, userID)
}

// SetChatbotGrant gives a member read or write access to one chatbot, or
// takes it away (NoAccess). Grants narrow agents and viewers.
func (s *Service) SetChatbotGrant(ctx context.Context, p Principal, chatbotID, userID string, access Access) error {
	if err := require(p, "members:write"); err != nil {
		return err
	}
	t := s.db.Tenant(p.Org)
	m, err := t.Member(ctx, userID)
	if err != nil {
		return err
	}
	if !CanAssignRole(managerRole(p), m.Role) {
		return porthole.Errorf(porthole.EFORBIDDEN, "your role cannot change grants of a member with the role %s", m.Role)
	}
	value := ""
	if access != NoAccess {
		value = access.String()
	}
	return t.SetChatbotGrant(ctx, chatbotID, userID, value)
}

// ChatbotGrant returns the principal's grant on a chatbot of its
// organization (WriteAccess for principals grants do not narrow). Callers
// pass it to Principal.ChatbotAccess and CanSeeConversation.
func (s *Service) ChatbotGrant(ctx context.Context, p Principal, chatbotID string) (Access, error) {
	if !p.narrowedByGrants() {
		return WriteAccess, nil
	}
	grants, err := s.db.Tenant(p.Org).UserChatbotGrants(ctx, p.UserID)
	if err != nil {
		return NoAccess, err
	}
	a, _ := ParseAccess(grants[chatbotID])
	return a, nil
}

// VisibleChatbots filters chatbots (of the principal's organization) down
// to those the principal may read.
func (s *Service) VisibleChatbots(ctx context.Context, p Principal, list []porthole.Chatbot) ([]porthole.Chatbot, error) {
	if p.SeesAllChatbots() {
		return list, nil
	}
	if p.Access("chatbots") < ReadAccess {
		return []porthole.Chatbot{}, nil
	}
	grants, err := s.db.Tenant(p.Org).UserChatbotGrants(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	out := []porthole.Chatbot{}
	for _, c := range list {
		if a, _ := ParseAccess(grants[c.ID]); p.ChatbotAccess("chatbots", a) >= ReadAccess {
			out = append(out, c)
		}
	}
	return out, nil
}

// ConversationVisible decides, for the server, whether the principal may
// see a conversation of a chatbot with the given assignee.
func (s *Service) ConversationVisible(ctx context.Context, p Principal, chatbotID, assigneeID string) (bool, error) {
	grant, err := s.ChatbotGrant(ctx, p, chatbotID)
	if err != nil {
		return false, err
	}
	policy, err := s.db.Tenant(p.Org).ConversationSharing(ctx, chatbotID)
	if err != nil {
		return false, err
	}
	return CanSeeConversation(p, grant, policy, assigneeID), nil
}

// SetConversationSharing sets a chatbot's sharing policy ("team" or
// "assigned_only").
func (s *Service) SetConversationSharing(ctx context.Context, p Principal, chatbotID, policy string) error {
	if err := require(p, "chatbots:write"); err != nil {
		return err
	}
	grant, err := s.ChatbotGrant(ctx, p, chatbotID)
	if err != nil {
		return err
	}
	if p.ChatbotAccess("chatbots", grant) < WriteAccess {
		return porthole.Errorf(porthole.ENOTFOUND, "chatbot not found")
	}
	return s.db.Tenant(p.Org).SetConversationSharing(ctx, chatbotID, policy)
}

// Invitation tokens look like "phi_<org id hex>_<256 random bits>": the org
// id binds the lookup to one tenant, as with API keys.
const invitationPrefix = "phi_"

func newInvitationToken(orgID string) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return invitationPrefix + strings.ReplaceAll(orgID, "-", "") + "_" + base64.RawURLEncoding.EncodeToString(b[:])
}

func parseInvitationToken(token string) (orgID string, hash []byte, ok bool) {
	rest, found := strings.CutPrefix(token, invitationPrefix)
	if !found || len(rest) != 32+1+43 || rest[32] != '_' {
		return "", nil, false
	}
	h := rest[:32]
	orgID = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	if !porthole.ValidID(orgID) {
		return "", nil, false
	}
	if _, err := base64.RawURLEncoding.DecodeString(rest[33:]); err != nil {
		return "", nil, false
	}
	return orgID, sha256Sum(token), true
}

// InviteResult is a new invitation. Link is set only when no Mailer is
// configured: the inviter passes it on themselves.
type InviteResult struct {
	Invitation store.Invitation `json:"invitation"`
	Link       string           `json:"link,omitempty"`
	Emailed    bool             `json:"emailed"`
}

// Invite invites someone by email to the principal's organization with a
// role no higher than the inviter may give.
func (s *Service) Invite(ctx context.Context, p Principal, email string, role porthole.Role) (InviteResult, error) {
	if err := require(p, "members:write"); err != nil {
		return InviteResult{}, err
	}
	if !role.Valid() {
		return InviteResult{}, porthole.Errorf(porthole.EINVALID, "role must be owner, admin, agent or viewer")
	}
	if !CanAssignRole(managerRole(p), role) {
		return InviteResult{}, porthole.Errorf(porthole.EFORBIDDEN, "your role cannot invite a %s", role)
	}
	token := newInvitationToken(p.Org)
	now := s.now()
	inv, err := s.db.Tenant(p.Org).CreateInvitation(ctx, store.Invitation{Email: email, Role: role, InvitedBy: p.Actor(), CreatedAt: now, ExpiresAt: now.Add(s.cfg.InvitationTTL)}, sha256Sum(token))
	if err != nil {
		return InviteResult{}, err
	}
	link := s.cfg.PublicURL + "/app/invitations/accept?token=" + url.QueryEscape(token)
	if s.mailer == nil {
		return InviteResult{Invitation: inv, Link: link}, nil
	}
	org, err := s.db.Tenant(p.Org).Organization(ctx)
	if err != nil {
		return InviteResult{}, err
	}
	s.enqueueMail(inv.Email, "You are invited to "+strings.ReplaceAll(org.Name, "\n", " ")+" on Porthole",
		"You are invited to join "+org.Name+" on Porthole as "+string(role)+".\n\nAccept within "+
			s.cfg.InvitationTTL.String()+":\n\n"+link+"\n")
	return InviteResult{Invitation: inv, Emailed: true}, nil
}

// Invitations lists the principal's organization's pending invitations.
func (s *Service) Invitations(ctx context.Context, p Principal) ([]store.Invitation, error) {
	if err := require(p, "members:read"); err != nil {
		return nil, err
	}
	list, err := s.db.Tenant(p.Org).Invitations(ctx, s.now())
	if list == nil {
		list = []store.Invitation{}
	}
	return list, err
}

var errBadInvitation = porthole.Errorf(porthole.EINVALID, "the invitation is invalid, used or expired")

// AcceptInvitation uses an invitation once. A new email becomes an account
// with the given name and password; an existing account must give its
// current password. The person becomes a member and is signed in.
func (s *Service) AcceptInvitation(ctx context.Context, token, name, password string, c Client) (SessionResult, error) {
	orgID, hash, ok := parseInvitationToken(token)
	if !ok {
		return SessionResult{}, errBadInvitation
	}
	t := s.db.Tenant(orgID)
	inv, err := t.PendingInvitation(ctx, hash, s.now())
	if porthole.IsCode(err, porthole.ENOTFOUND) {
		return SessionResult{}, errBadInvitation
	}
	if err != nil {
		return SessionResult{}, err
	}
	u, pwHash, err := s.db.UserByEmail(ctx, inv.Email)
	switch {
	case porthole.IsCode(err, porthole.ENOTFOUND):
		newHash, err := HashPassword(password)
		if err != nil {
			return SessionResult{}, err
		}
		if u, err = s.db.CreateUser(ctx, inv.Email, name, newHash); err != nil {
			return SessionResult{}, err
		}
	case err != nil:
		return SessionResult{}, err
	default:
		emailKey, subjects := loginSubjects(inv.Email, c.IP)
		if err := s.checkLock(ctx, c, emailKey, subjects); err != nil {
			return SessionResult{}, err
		}
		if ok, err := VerifyPassword(pwHash, password); err != nil || !ok {
			return SessionResult{}, s.loginFailed(ctx, c, emailKey, "wrong password on invitation")
		}
	}
	if _, err := t.AcceptInvitation(ctx, inv.ID, u.ID, s.now()); err != nil {
		if porthole.IsCode(err, porthole.ENOTFOUND) {
			return SessionResult{}, errBadInvitation
		}
		return SessionResult{}, err
	}
	return s.startSession(ctx, u, orgID, c)
}

// CreateAPIKeyResult is a new API key: Key is shown once and never stored.
type CreateAPIKeyResult struct {
	Key    string          `json:"key"`
	APIKey porthole.APIKey `json:"api_key"`
}

// CreateAPIKey makes an API key of the principal's organization with the
// given scopes, none beyond what the principal holds itself.
func (s *Service) CreateAPIKey(ctx context.Context, p Principal, name string, scopes []string) (CreateAPIKeyResult, error) {
	if err := require(p, "api_keys:write"); err != nil {
		return CreateAPIKeyResult{}, err
	}
	if len(scopes) == 0 {
		return CreateAPIKeyResult{}, porthole.Errorf(porthole.EINVALID, "scopes must name at least one permission")
	}
	var clean []string
	for _, sc := range scopes {
		if !ValidPermission(sc) {
			return CreateAPIKeyResult{}, porthole.Errorf(porthole.EINVALID, "unknown scope %q", truncate(sc, 40))
		}
		if !p.Can(sc) {
			return CreateAPIKeyResult{}, porthole.Errorf(porthole.EFORBIDDEN, "you cannot give a key the scope %s you do not hold", sc)
		}
		if !slices.Contains(clean, sc) {
			clean = append(clean, sc)
		}
	}
	key, prefix, hash := NewAPIKey(p.Org)
	k, err := s.db.Tenant(p.Org).CreateAPIKey(ctx, porthole.APIKey{Name: name, Prefix: prefix, Scopes: clean}, hash)
	if err != nil {
		return CreateAPIKeyResult{}, err
	}
	return CreateAPIKeyResult{Key: key, APIKey: k}, nil
}

// APIKeys lists the principal's organization's keys (never their secrets).
func (s *Service) APIKeys(ctx context.Context, p Principal) ([]porthole.APIKey, error) {
	if err := require(p, "api_keys:read"); err != nil {
		return nil, err
	}
	list, err := s.db.Tenant(p.Org).APIKeys(ctx)
	if list == nil {
		list = []porthole.APIKey{}
	}
	return list, err
}

// RevokeAPIKey revokes a key of the principal's organization; it stops
// working at once.
func (s *Service) RevokeAPIKey(ctx context.Context, p Principal, id string) error {
	if err := require(p, "api_keys:write"); err != nil {
		return err
	}
	return s.db.Tenant(p.Org).RevokeAPIKey(ctx, id)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
