package auth

import (
	"slices"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
)

func TestPermissionMatrix(t *testing.T) {
	// One row per role: the permissions it holds, written out so a change to
	// the table shows up here as a diff a reviewer reads.
	tests := []struct {
		name string
		role porthole.Role
		want string
	}{
		{"owner", porthole.RoleOwner, "organization:read organization:write chatbots:read chatbots:write origins:read origins:write settings:read settings:write members:read members:write api_keys:read api_keys:write security_events:read conversations:read conversations:write supervision:read supervision:write audit:read audit_export:read knowledge:read knowledge:write"},
		{"admin", porthole.RoleAdmin, "organization:read chatbots:read chatbots:write origins:read origins:write settings:read settings:write members:read members:write api_keys:read api_keys:write security_events:read conversations:read conversations:write supervision:read supervision:write audit:read knowledge:read knowledge:write"},
		{"agent", porthole.RoleAgent, "organization:read chatbots:read origins:read settings:read members:read conversations:read conversations:write knowledge:read"},
		{"viewer", porthole.RoleViewer, "organization:read chatbots:read origins:read settings:read members:read conversations:read knowledge:read"},
		{"no role", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(RolePermissions(tt.role), " ")
			if got != tt.want {
				t.Fatalf("RolePermissions(%q) =\n%s\nwant\n%s", tt.role, got, tt.want)
			}
			p := Principal{Kind: KindUser, UserID: porthole.NewID(), Org: porthole.NewID(), Role: tt.role}
			for _, perm := range AllPermissions() {
				if p.Can(perm) != slices.Contains(strings.Fields(tt.want), perm) {
					t.Fatalf("Can(%s) disagrees with RolePermissions", perm)
				}
			}
			if !p.Can(PermSelf) {
				t.Fatal("a person lacks PermSelf")
			}
		})
	}
}

func TestPrincipalEdges(t *testing.T) {
	org := porthole.NewID()
	key := Principal{Kind: KindAPIKey, APIKeyID: porthole.NewID(), Org: org, Scopes: []string{"chatbots:write", "origins:read"}}
	noOrg := Principal{Kind: KindUser, UserID: porthole.NewID(), Role: porthole.RoleOwner}
	tests := []struct {
		name string
		p    Principal
		perm string
		want bool
	}{
		{"key write scope", key, "chatbots:write", true},
		{"key write implies read", key, "chatbots:read", true},
		{"key read scope", key, "origins:read", true},
		{"key read is not write", key, "origins:write", false},
		{"key other area", key, "members:read", false},
		{"key is not a person", key, PermSelf, false},
		{"unknown area", key, "bogus:read", false},
		{"bad level", key, "chatbots:admin", false},
		{"no colon", key, "chatbots", false},
		{"person outside any org", noOrg, "organization:read", false},
		{"person outside any org self", noOrg, PermSelf, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Can(tt.perm); got != tt.want {
				t.Fatalf("Can(%q) = %v, want %v", tt.perm, got, tt.want)
			}
		})
	}
}

func TestChatbotGrantsNarrowAgentsAndViewers(t *testing.T) {
	org := porthole.NewID()
	user := func(role porthole.Role) Principal {
		return Principal{Kind: KindUser, UserID: porthole.NewID(), Org: org, Role: role}
	}
	key := Principal{Kind: KindAPIKey, Org: org, Scopes: []string{"conversations:write"}}
	tests := []struct {
		name  string
		p     Principal
		area  string
		grant Access
		want  Access
	}{
		{"owner without grant", user(porthole.RoleOwner), "chatbots", NoAccess, WriteAccess},
		{"admin without grant", user(porthole.RoleAdmin), "conversations", NoAccess, WriteAccess},
		{"agent without grant sees nothing", user(porthole.RoleAgent), "conversations", NoAccess, NoAccess},
		{"agent read grant", user(porthole.RoleAgent), "conversations", ReadAccess, ReadAccess},
		{"agent write grant", user(porthole.RoleAgent), "conversations", WriteAccess, WriteAccess},
		{"agent write grant cannot configure", user(porthole.RoleAgent), "chatbots", WriteAccess, ReadAccess},
		{"viewer write grant stays read", user(porthole.RoleViewer), "conversations", WriteAccess, ReadAccess},
		{"viewer without grant", user(porthole.RoleViewer), "knowledge", NoAccess, NoAccess},
		{"org-wide area ignores grants", user(porthole.RoleAgent), "origins", NoAccess, ReadAccess},
		{"API key is organization-wide", key, "conversations", NoAccess, WriteAccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.ChatbotAccess(tt.area, tt.grant); got != tt.want {
				t.Fatalf("ChatbotAccess(%s, %s) = %s, want %s", tt.area, tt.grant, got, tt.want)
			}
		})
	}
}

func TestCanSeeConversation(t *testing.T) {
	org := porthole.NewID()
	agent := Principal{Kind: KindUser, UserID: porthole.NewID(), Org: org, Role: porthole.RoleAgent}
	admin := Principal{Kind: KindUser, UserID: porthole.NewID(), Org: org, Role: porthole.RoleAdmin}
	other := porthole.NewID()
	tests := []struct {
		name     string
		p        Principal
		grant    Access
		policy   string
		assignee string
		want     bool
	}{
		{"team policy, granted agent", agent, ReadAccess, SharingTeam, other, true},
		{"team policy, agent without grant", agent, NoAccess, SharingTeam, other, false},
		{"assigned_only, assigned to agent", agent, ReadAccess, SharingAssignedOnly, agent.UserID, true},
		{"assigned_only, assigned to another", agent, WriteAccess, SharingAssignedOnly, other, false},
		{"assigned_only, unassigned", agent, WriteAccess, SharingAssignedOnly, "", false},
		{"unknown policy is narrowest", agent, WriteAccess, "everyone", other, false},
		{"admin sees all under assigned_only", admin, NoAccess, SharingAssignedOnly, other, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CanSeeConversation(tt.p, tt.grant, tt.policy, tt.assignee); got != tt.want {
				t.Fatalf("CanSeeConversation = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCanAssignRole(t *testing.T) {
	tests := []struct {
		name          string
		actor, target porthole.Role
		want          bool
	}{
		{"owner makes owner", porthole.RoleOwner, porthole.RoleOwner, true},
		{"admin makes admin", porthole.RoleAdmin, porthole.RoleAdmin, true},
		{"admin cannot make owner", porthole.RoleAdmin, porthole.RoleOwner, false},
		{"agent cannot manage", porthole.RoleAgent, porthole.RoleViewer, false},
		{"owner invalid role", porthole.RoleOwner, "root", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CanAssignRole(tt.actor, tt.target); got != tt.want {
				t.Fatalf("CanAssignRole(%s, %s) = %v", tt.actor, tt.target, got)
			}
		})
	}
}
