package api

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Principal is who a request acts as: a member through a session or access
// token, or a program through an API key.
type Principal interface {
	// OrgID is the organization the principal acts in.
	OrgID() string
	// Actor names the principal in logs and the audit log ("user:ID", "api_key:ID").
	Actor() string
	// Can reports whether the principal holds a permission ("chatbots:write").
	Can(permission string) bool
}

// Authenticator turns a request's credentials into a principal. It returns
// (nil, nil) when the request carries no credentials at all, and an
// EUNAUTHORIZED error when it carries bad ones.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// Authenticators tries each authenticator in turn; the first that finds
// credentials decides.
type Authenticators []Authenticator

// Authenticate implements Authenticator.
func (as Authenticators) Authenticate(r *http.Request) (Principal, error) {
	for _, a := range as {
		p, err := a.Authenticate(r)
		if err != nil || p != nil {
			return p, err
		}
	}
	return nil, nil
}

// APIKeyPrincipal is a program acting with an organization's API key.
type APIKeyPrincipal struct {
	Key porthole.APIKey
}

// OrgID implements Principal.
func (p APIKeyPrincipal) OrgID() string { return p.Key.OrgID }

// Actor implements Principal.
func (p APIKeyPrincipal) Actor() string { return "api_key:" + p.Key.ID }

// Can implements Principal: a key holds exactly its scopes, where
// "area:write" implies "area:read".
func (p APIKeyPrincipal) Can(permission string) bool {
	if slices.Contains(p.Key.Scopes, permission) {
		return true
	}
	if area, ok := strings.CutSuffix(permission, ":read"); ok {
		return slices.Contains(p.Key.Scopes, area+":write")
	}
	return false
}

// APIKeyAuthenticator authenticates "Authorization: Bearer ph_..." API keys.
type APIKeyAuthenticator struct {
	DB *store.DB
}

// Authenticate implements Authenticator.
func (a APIKeyAuthenticator) Authenticate(r *http.Request) (Principal, error) {
	token, ok := bearerToken(r)
	if !ok || !strings.HasPrefix(token, "ph_") {
		return nil, nil
	}
	orgID, hash, ok := auth.ParseAPIKey(token)
	if !ok {
		return nil, porthole.Errorf(porthole.EUNAUTHORIZED, "invalid API key")
	}
	k, err := a.DB.Tenant(orgID).APIKeyByHash(r.Context(), hash)
	if porthole.IsCode(err, porthole.ENOTFOUND) {
		return nil, porthole.Errorf(porthole.EUNAUTHORIZED, "invalid API key")
	}
	if err != nil {
		return nil, err
	}
	return APIKeyPrincipal{Key: k}, nil
}

// bearerToken returns the token of an "Authorization: Bearer" header. A
// header longer than 8 KiB is refused without looking further.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" || len(h) > 8<<10 {
		return "", false
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the request's principal, or nil.
func PrincipalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}
