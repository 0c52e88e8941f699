package porthole

import "time"

// Organization is the tenant: the "business" of the install snippet.
// Everything a tenant owns carries its ID.
type Organization struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Role is a member's role in one organization.
type Role string

// Roles, from most to least powerful.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleAgent  Role = "agent"
	RoleViewer Role = "viewer"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	switch r {
	case RoleOwner, RoleAdmin, RoleAgent, RoleViewer:
		return true
	}
	return false
}

// User is a person who signs in to the dashboard. Users are global; what they
// may see is decided by their memberships.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Membership ties a user to an organization with a role.
type Membership struct {
	OrgID     string    `json:"organization_id"`
	UserID    string    `json:"user_id"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// Chatbot is one assistant of an organization, embedded with the widget.
type Chatbot struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"organization_id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AllowedOrigin is one origin (scheme://host[:port]) allowed to embed the
// organization's widget. Pattern is true for an explicit subdomain wildcard
// such as https://*.example.com.
type AllowedOrigin struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"organization_id"`
	Origin    string    `json:"origin"`
	Pattern   bool      `json:"pattern"`
	CreatedAt time.Time `json:"created_at"`
}

// Settings are the per-tenant settings. Retention windows are in days; zero
// means "keep for ever" only where the field says so.
type Settings struct {
	OrgID string `json:"organization_id"`
	// MessageRetentionDays is how long conversation messages are kept (>= 1).
	MessageRetentionDays int `json:"message_retention_days"`
	// AuditPayloadRetentionDays is how long audit payloads are kept before
	// being purged to their commitments (>= 1).
	AuditPayloadRetentionDays int `json:"audit_payload_retention_days"`
	// ChannelRetentionDays overrides MessageRetentionDays per channel
	// ("web", "whatsapp", ...).
	ChannelRetentionDays map[string]int `json:"channel_retention_days,omitempty"`
	UpdatedAt            time.Time      `json:"updated_at"`
}

// DefaultSettings returns the settings a new organization starts with.
func DefaultSettings(orgID string) Settings {
	return Settings{OrgID: orgID, MessageRetentionDays: 365, AuditPayloadRetentionDays: 730}
}

// Validate checks the settings and returns an EINVALID error naming the
// first bad field.
func (s Settings) Validate() error {
	if s.MessageRetentionDays < 1 {
		return Errorf(EINVALID, "message_retention_days must be at least 1")
	}
	if s.AuditPayloadRetentionDays < 1 {
		return Errorf(EINVALID, "audit_payload_retention_days must be at least 1")
	}
	for ch, d := range s.ChannelRetentionDays {
		if d < 1 {
			return Errorf(EINVALID, "channel_retention_days[%s] must be at least 1", ch)
		}
	}
	return nil
}

// APIKey is an organization's credential for programs. The secret is shown
// once at creation; only its hash is stored. Prefix is the visible part that
// lets a person tell keys apart.
type APIKey struct {
	ID         string     `json:"id"`
	OrgID      string     `json:"organization_id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}
