package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/docs"
	"github.com/porthole-chat/porthole/internal/api"
)

type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

func mustOpenAPI(tb testing.TB) openAPIDoc {
	tb.Helper()
	var d openAPIDoc
	if err := json.Unmarshal(docs.OpenAPI, &d); err != nil {
		tb.Fatalf("docs/openapi.json is not JSON: %v", err)
	}
	if d.OpenAPI != "3.1.0" {
		tb.Fatalf("openapi = %q, want 3.1.0", d.OpenAPI)
	}
	return d
}

// TestOpenAPICoversEveryRoute fails when a registered route is missing from
// docs/openapi.json, or the document names a route that does not exist, or
// the permissions disagree.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	d := mustOpenAPI(t)
	s := api.NewServer(nil, nil, nil)
	seen := map[string]bool{}
	for _, rt := range s.AllRoutes() {
		key := rt.Method + " " + rt.Path
		seen[key] = true
		ops, ok := d.Paths[rt.Path]
		if !ok {
			t.Errorf("route %s is missing from docs/openapi.json", key)
			continue
		}
		raw, ok := ops[strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("route %s: the path is documented but not the method", key)
			continue
		}
		var op struct {
			Permission *string `json:"x-permission"`
		}
		if err := json.Unmarshal(raw, &op); err != nil || op.Permission == nil {
			t.Errorf("route %s: no x-permission in the document", key)
			continue
		}
		if *op.Permission != rt.Permission {
			t.Errorf("route %s: document says permission %q, the table %q", key, *op.Permission, rt.Permission)
		}
	}
	for path, ops := range d.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			if !seen[key] {
				t.Errorf("docs/openapi.json documents %s, which is not a route", key)
			}
		}
	}
}

// readOnlyPosts are POST routes that change nothing but the audit log: a
// query whose input is too large or too private for a URL. The preview
// runs the model on a message and stores no conversation, usage or budget.
var readOnlyPosts = map[string]bool{
	"POST /api/v1/chatbots/{id}/assistant/preview": true,
}

func TestEveryRouteDeclaresAKnownPermission(t *testing.T) {
	s := api.NewServer(nil, nil, nil)
	for _, rt := range s.AllRoutes() {
		if rt.Permission == "" {
			if rt.Path != "/api/v1/openapi.json" && !strings.HasPrefix(rt.Path, "/api/v1/auth/") {
				t.Errorf("route %s %s is public; only the document and sign-in routes may be", rt.Method, rt.Path)
			}
			continue
		}
		if !api.ValidScope(rt.Permission) && !strings.Contains(rt.Permission, ":") {
			t.Errorf("route %s %s declares unknown permission %q", rt.Method, rt.Path, rt.Permission)
		}
		switch rt.Method {
		case http.MethodGet:
		default:
			if strings.HasSuffix(rt.Permission, ":read") && !readOnlyPosts[rt.Method+" "+rt.Path] {
				t.Errorf("route %s %s changes state with a read permission", rt.Method, rt.Path)
			}
		}
	}
}

func TestScopes(t *testing.T) {
	k := api.APIKeyPrincipal{}
	k.Key.Scopes = []string{"chatbots:write", "origins:read"}
	for perm, want := range map[string]bool{
		"chatbots:write": true, "chatbots:read": true, "origins:read": true,
		"origins:write": false, "settings:read": false, "security_events:read": false,
	} {
		if got := k.Can(perm); got != want {
			t.Errorf("Can(%q) = %v, want %v", perm, got, want)
		}
	}
}
