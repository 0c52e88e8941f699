package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Session cookie names. Browsers accept a __Host- cookie only when it is
// Secure, with Path=/ and no Domain; over plain http (local development,
// the demo) the unprefixed name is used instead.
const (
	SessionCookieSecure   = "__Host-porthole_session"
	SessionCookieInsecure = "porthole_session"
)

// sessionTokenLen is the length of a cookie value: 256 random bits in
// unpadded base64url.
const sessionTokenLen = 43

// touchEvery is how often a session's last-seen time is written: finer
// than the idle timeout needs, coarse enough to spare the database.
const touchEvery = time.Minute

// CookieName returns the session cookie's name for this installation.
func (s *Service) CookieName() string {
	if s.secure {
		return SessionCookieSecure
	}
	return SessionCookieInsecure
}

// SecureCookies reports whether cookies must be Secure (public URL is https).
func (s *Service) SecureCookies() bool { return s.secure }

func newSessionToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// SessionResult is a new session: the secret cookie value (given to the
// client once, never stored) and, for convenience, a first access token.
type SessionResult struct {
	Token       string        // the cookie value
	Session     store.Session // public view, with its id
	AccessToken string
	ExpiresIn   time.Duration // of the access token
	User        porthole.User
}

// startSession creates a session with a fresh id for a user acting in orgID.
func (s *Service) startSession(ctx context.Context, u porthole.User, orgID string, c Client) (SessionResult, error) {
	token := newSessionToken()
	now := s.now()
	sess, err := s.db.CreateSession(ctx, store.Session{
		TokenHash: sha256Sum(token), UserID: u.ID, OrgID: orgID, UserAgent: c.UserAgent, IP: c.IP,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.SessionLifetime),
	})
	if err != nil {
		return SessionResult{}, err
	}
	access, _, err := s.keys.issue(s.cfg.PublicURL, u.ID, sess.ID, orgID)
	if err != nil {
		return SessionResult{}, err
	}
	return SessionResult{Token: token, Session: sess, AccessToken: access, ExpiresIn: s.cfg.AccessTokenTTL, User: u}, nil
}

// IssueAccessToken returns a fresh access token for the session the
// principal signed in with. Only a session cookie may ask: a token cannot
// renew itself, so a stolen token dies within its lifetime.
func (s *Service) IssueAccessToken(ctx context.Context, p Principal) (string, time.Duration, error) {
	if !p.IsUser() || p.Via != ViaSession {
		return "", 0, porthole.Errorf(porthole.EFORBIDDEN, "access tokens are issued to session cookies only")
	}
	tok, _, err := s.keys.issue(s.cfg.PublicURL, p.UserID, p.SessionID, p.Org)
	return tok, s.cfg.AccessTokenTTL, err
}

// sessionFromCookie returns the live session of a cookie value, enforcing
// the idle timeout and the absolute lifetime with the service's clock.
func (s *Service) sessionFromCookie(ctx context.Context, token string) (store.Session, error) {
	if len(token) != sessionTokenLen || strings.Trim(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return store.Session{}, errSignInRequired("invalid session")
	}
	sess, err := s.db.SessionByTokenHash(ctx, sha256Sum(token))
	if porthole.IsCode(err, porthole.ENOTFOUND) {
		return store.Session{}, errSignInRequired("session ended")
	}
	if err != nil {
		return store.Session{}, err
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) >= s.cfg.SessionIdle {
		// Ended by time: revoke it so it leaves the member's list too.
		_ = s.endSession(ctx, sess.UserID, sess.ID)
		return store.Session{}, errSignInRequired("session expired")
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := s.db.TouchSession(ctx, sess.ID, now); err != nil {
			return store.Session{}, err
		}
	}
	return sess, nil
}

func errSignInRequired(reason string) error {
	return porthole.WrapError(porthole.EUNAUTHORIZED, porthole.Errorf(porthole.EUNAUTHORIZED, "%s", reason), "sign-in required")
}

// revokeUntil is how long a session id stays on the revocation list: past
// it, no access token of the session can be valid anyway.
func (s *Service) revokeUntil() time.Time { return s.now().Add(s.cfg.AccessTokenTTL + clockSkew) }

// endSession ends one session and the access tokens made for it.
func (s *Service) endSession(ctx context.Context, userID, sessionID string) error {
	if err := s.db.RevokeSession(ctx, userID, sessionID, s.now()); err != nil {
		return err
	}
	return s.revoked.Revoke(ctx, "sid", sessionID, s.revokeUntil())
}

// endAllSessions ends every session of a user but exceptID ("" ends all),
// with their access tokens.
func (s *Service) endAllSessions(ctx context.Context, userID, exceptID string) error {
	ids, err := s.db.RevokeUserSessions(ctx, userID, exceptID, s.now())
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.revoked.Revoke(ctx, "sid", id, s.revokeUntil()); err != nil {
			return err
		}
	}
	return nil
}

// Logout ends the principal's session server-side (and the access tokens
// of that session), whether it came as a cookie or as an access token.
func (s *Service) Logout(ctx context.Context, p Principal) error {
	if !p.IsUser() || p.SessionID == "" {
		return porthole.Errorf(porthole.EFORBIDDEN, "only a signed-in person can sign out")
	}
	err := s.endSession(ctx, p.UserID, p.SessionID)
	if porthole.IsCode(err, porthole.ENOTFOUND) {
		return nil // ended already: signing out twice is fine
	}
	return err
}

// SessionView is one of a member's sessions as they see it.
type SessionView struct {
	store.Session
	Current bool `json:"current"`
}

// Sessions lists the principal's live sessions, the current one marked.
func (s *Service) Sessions(ctx context.Context, p Principal) ([]SessionView, error) {
	if !p.IsUser() {
		return nil, porthole.Errorf(porthole.EFORBIDDEN, "only people have sessions")
	}
	list, err := s.db.UserSessions(ctx, p.UserID, s.now())
	if err != nil {
		return nil, err
	}
	out := []SessionView{}
	for _, sess := range list {
		if s.now().Sub(sess.LastSeenAt) >= s.cfg.SessionIdle {
			continue // idle-expired; ended on its next use or by Run
		}
		out = append(out, SessionView{Session: sess, Current: sess.ID == p.SessionID})
	}
	return out, nil
}

// RevokeSession ends one of the principal's own sessions by its public id;
// another user's session id is ENOTFOUND.
func (s *Service) RevokeSession(ctx context.Context, p Principal, sessionID string) error {
	if !p.IsUser() {
		return porthole.Errorf(porthole.EFORBIDDEN, "only people have sessions")
	}
	return s.endSession(ctx, p.UserID, sessionID)
}
