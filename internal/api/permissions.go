package api

// Areas that permissions ("area:read", "area:write") and API key scopes
// name. One table: the route table, key scopes and roles all draw from it.
var Areas = []string{
	"organization",
	"chatbots",
	"origins",
	"settings",
	"security_events",
}

// AllScopes lists every "area:read" and "area:write" permission.
func AllScopes() []string {
	out := make([]string, 0, 2*len(Areas))
	for _, a := range Areas {
		out = append(out, a+":read", a+":write")
	}
	return out
}

// ValidScope reports whether s is a known permission.
func ValidScope(s string) bool {
	for _, a := range AllScopes() {
		if a == s {
			return true
		}
	}
	return false
}
