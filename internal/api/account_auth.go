package api

import (
	"net"
	"net/http"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/httpx"
)

// AccountAuthenticator authenticates people and programs with the account
// service: the session cookie, "Authorization: Bearer <access token>" and
// "Authorization: Bearer ph_..." API keys. It returns an auth.Principal.
type AccountAuthenticator struct {
	Accounts *auth.Service
}

// Authenticate implements Authenticator.
func (a AccountAuthenticator) Authenticate(r *http.Request) (Principal, error) {
	cred := credentialsOf(r, a.Accounts.CookieName())
	if cred.Empty() {
		return nil, nil
	}
	p, err := a.Accounts.Authenticate(r.Context(), cred)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// credentialsOf reads the session cookie and the Authorization header.
func credentialsOf(r *http.Request, cookieName string) auth.Credentials {
	var cred auth.Credentials
	if c, err := r.Cookie(cookieName); err == nil {
		cred.Cookie = c.Value
	}
	cred.Authorization = r.Header.Get("Authorization")
	return cred
}

// accountService finds the account service among the server's
// authenticators: the service that authenticates requests also serves the
// account routes.
func (s *Server) accountService() *auth.Service {
	var find func(a Authenticator) *auth.Service
	find = func(a Authenticator) *auth.Service {
		switch v := a.(type) {
		case AccountAuthenticator:
			return v.Accounts
		case *AccountAuthenticator:
			return v.Accounts
		case Authenticators:
			for _, inner := range v {
				if svc := find(inner); svc != nil {
					return svc
				}
			}
		}
		return nil
	}
	return find(s.authn)
}

// authPrincipal turns any principal the guard let through into the account
// service's Principal.
func authPrincipal(p Principal) auth.Principal {
	switch v := p.(type) {
	case auth.Principal:
		return v
	case APIKeyPrincipal:
		return auth.Principal{Kind: auth.KindAPIKey, Via: auth.ViaAPIKey, APIKeyID: v.Key.ID, Org: v.Key.OrgID, Scopes: v.Key.Scopes}
	}
	return auth.Principal{}
}

// clientOf describes the request for sessions, limits and security events.
func clientOf(r *http.Request) auth.Client {
	c := auth.Client{UserAgent: r.UserAgent(), RequestID: httpx.RequestID(r.Context())}
	if ip := httpx.ClientIP(r.Context()); ip.IsValid() {
		c.IP = ip.String()
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		c.IP = host
	}
	return c
}

// JWKSHandler serves the public keys of access tokens, for
// GET /.well-known/jwks.json.
func JWKSHandler(accounts *auth.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(accounts.Keys().JWKS())
	})
}
