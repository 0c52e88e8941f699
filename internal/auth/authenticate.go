package auth

import (
	"context"
	"strings"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Credentials are what a request presented: the session cookie's value and
// the Authorization header, as found by the transport.
type Credentials struct {
	Cookie        string
	Authorization string
}

// Empty reports whether the request presented no credentials at all.
func (c Credentials) Empty() bool { return c.Cookie == "" && c.Authorization == "" }

// ErrNoCredentials is returned by Authenticate when the request carried no
// credentials at all.
var ErrNoCredentials = porthole.Errorf(porthole.EUNAUTHORIZED, "sign-in required")

// Authenticate turns credentials into a principal. An Authorization header
// wins over the cookie: "Bearer ph_..." is an API key, any other bearer
// value an access token. Bad credentials are EUNAUTHORIZED with a message
// that never says which check failed.
func (s *Service) Authenticate(ctx context.Context, cred Credentials) (Principal, error) {
	if cred.Authorization != "" {
		token, ok := bearer(cred.Authorization)
		if !ok {
			return Principal{}, porthole.Errorf(porthole.EUNAUTHORIZED, "Authorization must be Bearer <token>")
		}
		if strings.HasPrefix(token, apiKeyPrefix) {
			return s.authenticateAPIKey(ctx, token)
		}
		return s.authenticateAccessToken(ctx, token)
	}
	if cred.Cookie != "" {
		sess, err := s.sessionFromCookie(ctx, cred.Cookie)
		if err != nil {
			return Principal{}, err
		}
		return s.userPrincipal(ctx, ViaSession, sess.UserID, sess.ID, "", sess.OrgID)
	}
	return Principal{}, ErrNoCredentials
}

// bearer returns the token of "Bearer <token>". A header over the token cap
// is refused before anything else looks at it.
func bearer(h string) (string, bool) {
	if len(h) > MaxTokenBytes+len("Bearer ") {
		return "", false
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

func (s *Service) authenticateAccessToken(ctx context.Context, token string) (Principal, error) {
	claims, err := s.keys.VerifyAccessToken(ctx, token, s.cfg.PublicURL)
	if err != nil {
		return Principal{}, err
	}
	revoked, err := s.revoked.Revoked(ctx, claims.SessionID, claims.ID)
	if err != nil {
		return Principal{}, err
	}
	if revoked {
		return Principal{}, porthole.Errorf(porthole.EUNAUTHORIZED, "invalid access token")
	}
	return s.userPrincipal(ctx, ViaAccessToken, claims.Subject, claims.SessionID, claims.ID, claims.OrgID)
}

func (s *Service) authenticateAPIKey(ctx context.Context, key string) (Principal, error) {
	orgID, hash, ok := ParseAPIKey(key)
	if !ok {
		return Principal{}, porthole.Errorf(porthole.EUNAUTHORIZED, "invalid API key")
	}
	k, err := s.db.Tenant(orgID).APIKeyByHash(ctx, hash)
	if porthole.IsCode(err, porthole.ENOTFOUND) {
		return Principal{}, porthole.Errorf(porthole.EUNAUTHORIZED, "invalid API key")
	}
	if err != nil {
		return Principal{}, err
	}
	var scopes []string
	for _, sc := range k.Scopes {
		if ValidPermission(sc) { // a scope of an area since removed grants nothing
			scopes = append(scopes, sc)
		}
	}
	return Principal{Kind: KindAPIKey, Via: ViaAPIKey, APIKeyID: k.ID, Org: k.OrgID, Scopes: scopes}, nil
}

// userPrincipal builds a person's principal with their current role in the
// organization the session acts in, read fresh so a role change or removal
// takes effect at once. A person who is no longer a member acts in no
// organization.
func (s *Service) userPrincipal(ctx context.Context, via, userID, sessionID, tokenID, orgID string) (Principal, error) {
	p := Principal{Kind: KindUser, Via: via, UserID: userID, SessionID: sessionID, TokenID: tokenID}
	if orgID == "" {
		return p, nil
	}
	m, err := s.db.Tenant(orgID).Member(ctx, userID)
	if porthole.IsCode(err, porthole.ENOTFOUND) {
		return p, nil
	}
	if err != nil {
		return Principal{}, err
	}
	p.Org, p.Role = orgID, m.Role
	return p, nil
}

// RevokeAccessToken puts one access token (by its jti) on the revocation
// list, for the token's remaining lifetime.
func (s *Service) RevokeAccessToken(ctx context.Context, jti string) error {
	if jti == "" {
		return porthole.Errorf(porthole.EINVALID, "token id is empty")
	}
	return s.revoked.Revoke(ctx, "jti", jti, s.revokeUntil())
}
