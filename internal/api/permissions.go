package api

import "github.com/porthole-chat/porthole/internal/auth"

// AllScopes lists every "area:read" and "area:write" permission an API key
// may hold. The one table of areas is auth.Areas.
func AllScopes() []string { return auth.AllPermissions() }

// ValidScope reports whether s is a known permission.
func ValidScope(s string) bool { return auth.ValidPermission(s) }
