package auth

import (
	"slices"
	"strings"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Access is a level of access to an area or a chatbot.
type Access int

// Access levels, ordered: write implies read.
const (
	NoAccess Access = iota
	ReadAccess
	WriteAccess
)

// String returns "none", "read" or "write".
func (a Access) String() string {
	switch a {
	case ReadAccess:
		return "read"
	case WriteAccess:
		return "write"
	}
	return "none"
}

// ParseAccess parses "read", "write" or "none" ("" is none).
func ParseAccess(s string) (Access, bool) {
	switch s {
	case "read":
		return ReadAccess, true
	case "write":
		return WriteAccess, true
	case "none", "":
		return NoAccess, true
	}
	return NoAccess, false
}

// AreaRule is one row of the permission table: what each role may do in an
// area, and whether per-chatbot grants narrow it for agents and viewers.
type AreaRule struct {
	Area string
	// Roles maps a role to its access in the area; a missing role has none.
	Roles map[porthole.Role]Access
	// PerChatbot is true for areas whose data belongs to one chatbot: agents
	// and viewers reach it only through a grant on that chatbot.
	PerChatbot bool
}

// Shorthands for the table below.
var (
	allWrite   = map[porthole.Role]Access{porthole.RoleOwner: WriteAccess, porthole.RoleAdmin: WriteAccess, porthole.RoleAgent: WriteAccess, porthole.RoleViewer: ReadAccess}
	adminWrite = map[porthole.Role]Access{porthole.RoleOwner: WriteAccess, porthole.RoleAdmin: WriteAccess, porthole.RoleAgent: ReadAccess, porthole.RoleViewer: ReadAccess}
	ownerWrite = map[porthole.Role]Access{porthole.RoleOwner: WriteAccess, porthole.RoleAdmin: ReadAccess, porthole.RoleAgent: ReadAccess, porthole.RoleViewer: ReadAccess}
	adminsOnly = map[porthole.Role]Access{porthole.RoleOwner: WriteAccess, porthole.RoleAdmin: WriteAccess}
	adminsRead = map[porthole.Role]Access{porthole.RoleOwner: ReadAccess, porthole.RoleAdmin: ReadAccess}
	ownersRead = map[porthole.Role]Access{porthole.RoleOwner: ReadAccess}
)

// Areas is the one table of permissions: every "area:read"/"area:write"
// permission, API key scope and role right comes from it. Agents answer
// conversations; admins configure; owners also run the organization itself.
var Areas = []AreaRule{
	{Area: "organization", Roles: ownerWrite},
	{Area: "chatbots", Roles: adminWrite, PerChatbot: true},
	{Area: "origins", Roles: adminWrite},
	{Area: "settings", Roles: adminWrite},
	{Area: "members", Roles: adminWrite},
	{Area: "api_keys", Roles: adminsOnly},
	{Area: "security_events", Roles: adminsRead},
	{Area: "conversations", Roles: allWrite, PerChatbot: true},
	// Supervising conversations (issue 5): reassign, take over from another
	// agent, legal hold, contact merges and their undo. Owners and admins.
	{Area: "supervision", Roles: adminsOnly},
	{Area: "audit", Roles: adminsRead},
	// Exporting the audit log hands out every payload: owners only.
	{Area: "audit_export", Roles: ownersRead},
	{Area: "knowledge", Roles: adminWrite, PerChatbot: true},
}

// PermSelf is the permission every signed-in person holds, whatever their
// role or organization: it guards routes about the caller's own account
// (sessions, password, logout). API keys do not hold it.
const PermSelf = "account:self"

// PermAny is held by every authenticated principal, person or API key
// (GET /api/v1/me).
const PermAny = "account:any"

// areaRule returns the table row of an area.
func areaRule(area string) (AreaRule, bool) {
	for _, r := range Areas {
		if r.Area == area {
			return r, true
		}
	}
	return AreaRule{}, false
}

// splitPermission parses "area:read" or "area:write".
func splitPermission(perm string) (area string, need Access, ok bool) {
	area, level, found := strings.Cut(perm, ":")
	if !found {
		return "", NoAccess, false
	}
	switch level {
	case "read":
		need = ReadAccess
	case "write":
		need = WriteAccess
	default:
		return "", NoAccess, false
	}
	if _, known := areaRule(area); !known {
		return "", NoAccess, false
	}
	return area, need, true
}

// AllPermissions lists every "area:read" and "area:write", in table order.
func AllPermissions() []string {
	out := make([]string, 0, 2*len(Areas))
	for _, r := range Areas {
		out = append(out, r.Area+":read", r.Area+":write")
	}
	return out
}

// ValidPermission reports whether perm is "area:read" or "area:write" of a
// known area.
func ValidPermission(perm string) bool {
	_, _, ok := splitPermission(perm)
	return ok
}

// RoleAccess returns what a role may do in an area, before chatbot grants.
func RoleAccess(role porthole.Role, area string) Access {
	r, ok := areaRule(area)
	if !ok {
		return NoAccess
	}
	return r.Roles[role]
}

// RolePermissions lists the permissions a role holds, in table order.
func RolePermissions(role porthole.Role) []string {
	var out []string
	for _, perm := range AllPermissions() {
		area, need, _ := splitPermission(perm)
		if RoleAccess(role, area) >= need {
			out = append(out, perm)
		}
	}
	return out
}

// PrincipalKind tells people from programs.
type PrincipalKind string

// Kinds of principal.
const (
	KindUser   PrincipalKind = "user"    // a person, through a session cookie or an access token
	KindAPIKey PrincipalKind = "api_key" // a program, through an organization's API key
)

// How a principal authenticated.
const (
	ViaSession     = "session"      // the session cookie
	ViaAccessToken = "access_token" // an RS256 access token
	ViaAPIKey      = "api_key"      // an organization API key
)

// Principal is who a request acts as. It is built only by Authenticate (or
// tests) and carries what authorization needs: the organization, and the
// role (people) or scopes (API keys).
type Principal struct {
	Kind      PrincipalKind
	Via       string // ViaSession, ViaAccessToken or ViaAPIKey
	UserID    string // people only
	SessionID string // people only: the session the cookie or token belongs to
	TokenID   string // the jti, when authenticated by an access token
	APIKeyID  string // API keys only
	// Org is the organization the principal acts in; "" for a person who
	// belongs to none (they can still see their own account).
	Org    string
	Role   porthole.Role // people only; "" when not a member of Org
	Scopes []string      // API keys only
}

// OrgID returns the organization the principal acts in.
func (p Principal) OrgID() string { return p.Org }

// Actor names the principal in logs and security events.
func (p Principal) Actor() string {
	if p.Kind == KindAPIKey {
		return "api_key:" + p.APIKeyID
	}
	return "user:" + p.UserID
}

// IsUser reports whether the principal is a person.
func (p Principal) IsUser() bool { return p.Kind == KindUser && p.UserID != "" }

// Access returns the principal's organization-wide access to an area: the
// role's for people, the scopes' for API keys. For per-chatbot areas,
// agents and viewers need a grant as well (see ChatbotAccess).
func (p Principal) Access(area string) Access {
	if p.Org == "" {
		return NoAccess
	}
	switch p.Kind {
	case KindUser:
		return RoleAccess(p.Role, area)
	case KindAPIKey:
		switch {
		case slices.Contains(p.Scopes, area+":write"):
			return WriteAccess
		case slices.Contains(p.Scopes, area+":read"):
			return ReadAccess
		}
	}
	return NoAccess
}

// Can reports whether the principal holds a permission ("chatbots:write",
// or PermSelf). For per-chatbot areas it answers whether the principal may
// use the area at all (list the chatbots granted, say); what it may do with
// one chatbot is ChatbotAccess.
func (p Principal) Can(perm string) bool {
	switch perm {
	case PermSelf:
		return p.IsUser()
	case PermAny:
		return p.IsUser() || (p.Kind == KindAPIKey && p.APIKeyID != "")
	}
	area, need, ok := splitPermission(perm)
	if !ok {
		return false
	}
	return p.Access(area) >= need
}

// narrowedByGrants reports whether chatbot grants limit the principal:
// agents and viewers yes; owners, admins and API keys (organization-wide
// credentials) no.
func (p Principal) narrowedByGrants() bool {
	return p.Kind == KindUser && (p.Role == porthole.RoleAgent || p.Role == porthole.RoleViewer)
}

// ChatbotAccess returns what the principal may do in a per-chatbot area of
// one chatbot, given its grant on that chatbot (NoAccess when it has none).
// Owners, admins and API keys have their organization-wide access; agents
// and viewers have the lesser of their role's access and the grant, so a
// chatbot they were not granted is invisible to them (deny by default).
func (p Principal) ChatbotAccess(area string, grant Access) Access {
	a := p.Access(area)
	if r, ok := areaRule(area); !ok || !r.PerChatbot || !p.narrowedByGrants() {
		return a
	}
	return min(a, grant)
}

// SeesAllChatbots reports whether the principal sees every chatbot of its
// organization without grants.
func (p Principal) SeesAllChatbots() bool {
	return !p.narrowedByGrants() && p.Access("chatbots") >= ReadAccess
}

// Conversation sharing policies of a chatbot.
const (
	SharingTeam         = "team"          // everyone with access to the chatbot sees its conversations
	SharingAssignedOnly = "assigned_only" // agents and viewers see only conversations assigned to them
)

// CanSeeConversation decides whether the principal may read a conversation
// of a chatbot, given its grant on the chatbot, the chatbot's sharing policy
// and the conversation's assignee ("" when unassigned). Callers enforce it
// on the server for every conversation they return.
func CanSeeConversation(p Principal, grant Access, policy, assigneeID string) bool {
	if p.ChatbotAccess("conversations", grant) < ReadAccess {
		return false
	}
	if !p.narrowedByGrants() || policy == SharingTeam {
		return true
	}
	// assigned_only, and any policy this code does not know: the narrowest.
	return assigneeID != "" && assigneeID == p.UserID
}

// CanAssignRole reports whether an actor with role actor may give role
// target to someone (by invitation or role change) or change or remove a
// member who holds target: owners may do anything; admins may manage
// admins, agents and viewers; nobody else manages members.
func CanAssignRole(actor, target porthole.Role) bool {
	switch actor {
	case porthole.RoleOwner:
		return target.Valid()
	case porthole.RoleAdmin:
		return target == porthole.RoleAdmin || target == porthole.RoleAgent || target == porthole.RoleViewer
	}
	return false
}
