package auth

import (
	"context"
	"strings"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// LoginInput is a sign-in attempt.
type LoginInput struct {
	Email    string
	Password string
	// OrgID picks the organization to act in; "" picks the user's oldest
	// membership.
	OrgID  string
	Client Client
}

// The answers an attacker sees. They are the same whether or not the email
// belongs to an account.
var (
	errBadCredentials = porthole.Errorf(porthole.EUNAUTHORIZED, "email or password is incorrect")
	errLockedOut      = porthole.Errorf(porthole.ERATELIMITED, "too many failed sign-ins; try again later")
)

// loginSubjects returns the lockout subjects of an attempt: its email (as
// typed, normalized when it parses) and its client IP.
func loginSubjects(email, ip string) (emailKey string, subjects [][]byte) {
	emailKey = strings.ToLower(strings.TrimSpace(email))
	if n, err := store.NormalizeEmail(email); err == nil {
		emailKey = n
	}
	if len(emailKey) > 254 {
		emailKey = emailKey[:254]
	}
	subjects = append(subjects, sha256Sum("email:"+emailKey))
	if ip != "" {
		subjects = append(subjects, sha256Sum("ip:"+ip))
	}
	return emailKey, subjects
}

// Login signs a person in with email and password and starts a new
// session (always a new id). Failures are counted per email and per client
// IP with the limiter; past Config.EmailFailures or Config.IPFailures the
// email or the IP is locked out for Config.Lockout (ERATELIMITED). An
// unknown email costs the same password verification as a known one and
// gets the same answers.
func (s *Service) Login(ctx context.Context, in LoginInput) (SessionResult, error) {
	emailKey, subjects := loginSubjects(in.Email, in.Client.IP)
	if err := s.checkLock(ctx, in.Client, emailKey, subjects); err != nil {
		return SessionResult{}, err
	}
	u, hash, err := s.db.UserByEmail(ctx, in.Email)
	switch {
	case porthole.IsCode(err, porthole.ENOTFOUND):
		VerifyDummy(in.Password)
		return SessionResult{}, s.loginFailed(ctx, in.Client, emailKey, "unknown email")
	case err != nil:
		return SessionResult{}, err
	}
	ok, err := VerifyPassword(hash, in.Password)
	if err != nil || !ok {
		return SessionResult{}, s.loginFailed(ctx, in.Client, emailKey, "wrong password")
	}
	orgID, err := s.pickOrg(ctx, u.ID, in.OrgID)
	if err != nil {
		return SessionResult{}, err
	}
	return s.startSession(ctx, u, orgID, in.Client)
}

// pickOrg returns the organization a session acts in: the asked one when
// the user is a member of it, else the user's oldest membership, else "".
func (s *Service) pickOrg(ctx context.Context, userID, want string) (string, error) {
	list, err := s.db.UserMemberships(ctx, userID)
	if err != nil {
		return "", err
	}
	if want != "" {
		for _, m := range list {
			if m.OrgID == want {
				return want, nil
			}
		}
		return "", porthole.Errorf(porthole.ENOTFOUND, "organization not found")
	}
	if len(list) == 0 {
		return "", nil
	}
	return list[0].OrgID, nil
}

// checkLock refuses an attempt while its email or IP is locked out.
func (s *Service) checkLock(ctx context.Context, c Client, emailKey string, subjects [][]byte) error {
	until, err := s.db.LoginLockedUntil(ctx, s.now(), subjects...)
	if err != nil {
		return err
	}
	if until.IsZero() {
		return nil
	}
	s.record(ctx, c, porthole.SecRateLimited, "", "", "sign-in refused during lockout", map[string]any{"email": emailKey})
	return errLockedOut
}

// loginFailed counts a failure against the email and the IP, locks out the
// ones past their limit (a security event each), and returns the one
// failure answer.
func (s *Service) loginFailed(ctx context.Context, c Client, emailKey, reason string) error {
	s.record(ctx, c, porthole.SecAuthenticationFailed, "", "", "sign-in failed", map[string]any{"email": emailKey, "reason": reason})
	type counter struct {
		what, key string
		limit     porthole.Limit
	}
	counters := []counter{{"email", "login-fail-email:" + emailKey, s.cfg.EmailFailures}}
	if c.IP != "" {
		counters = append(counters, counter{"ip", "login-fail-ip:" + c.IP, s.cfg.IPFailures})
	}
	for _, ct := range counters {
		d, err := s.limiter.Allow(ctx, ct.key, ct.limit, 1)
		if err != nil {
			s.log.Warn("auth: count sign-in failure", "err", err)
			continue
		}
		if d.Allowed && d.Remaining > 0 {
			continue
		}
		subject := "email:" + emailKey
		if ct.what == "ip" {
			subject = "ip:" + c.IP
		}
		if err := s.db.LockLogin(ctx, sha256Sum(subject), s.now().Add(s.cfg.Lockout)); err != nil {
			return err
		}
		s.record(ctx, c, porthole.SecLockout, "", "", "sign-in locked out by "+ct.what+" after repeated failures",
			map[string]any{"by": ct.what, "email": emailKey, "minutes": int(s.cfg.Lockout.Minutes())})
	}
	return errBadCredentials
}
