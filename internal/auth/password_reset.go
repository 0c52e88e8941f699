package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Reset tokens look like "<reset id>.<expiry, unix seconds>.<HMAC-SHA256>":
// the MAC (under a key derived from the server key) makes them unforgeable
// and lets a forged one be refused without touching the database; the
// stored hash makes them single-use.
const maxResetTokenLen = 200

var errBadResetToken = porthole.Errorf(porthole.EINVALID, "the reset link is invalid, used or expired; ask for a new one")

func (s *Service) resetMACOf(id string, exp int64) string {
	m := hmac.New(sha256.New, s.resetMAC)
	m.Write([]byte("porthole/password-reset/v1\x00" + id + "\x00" + strconv.FormatInt(exp, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newResetToken stores a reset for a user and returns its token.
func (s *Service) newResetToken(ctx context.Context, userID string) (string, error) {
	id := porthole.NewID()
	now := s.now()
	exp := now.Add(s.cfg.ResetTTL)
	token := id + "." + strconv.FormatInt(exp.Unix(), 10) + "." + s.resetMACOf(id, exp.Unix())
	err := s.db.CreatePasswordReset(ctx, store.PasswordReset{ID: id, UserID: userID, TokenHash: sha256Sum(token), CreatedAt: now, ExpiresAt: exp})
	return token, err
}

func (s *Service) resetLink(token string) string {
	return s.cfg.PublicURL + "/app/password-reset?token=" + url.QueryEscape(token)
}

// RequestPasswordReset mails a reset link when the email belongs to an
// account. It answers the same (nil) whether or not it does, and sends at
// most a few mails per address an hour. Without a Mailer no link leaves the
// server: the operator uses IssuePasswordResetLink from the CLI.
func (s *Service) RequestPasswordReset(ctx context.Context, email string, c Client) error {
	emailKey, _ := loginSubjects(email, "")
	u, _, err := s.db.UserByEmail(ctx, email)
	if porthole.IsCode(err, porthole.ENOTFOUND) {
		return nil
	}
	if err != nil {
		return err
	}
	d, err := s.limiter.Allow(ctx, "reset-email:"+emailKey, resetRequestsPerEmail, 1)
	if err != nil || !d.Allowed {
		s.record(ctx, c, porthole.SecRateLimited, "", "", "password reset requests over the limit", map[string]any{"email": emailKey})
		return nil
	}
	if s.mailer == nil {
		s.log.Warn("auth: password reset requested but no SMTP is configured; use `porthole admin reset-password`", "user", u.ID)
		return nil
	}
	token, err := s.newResetToken(ctx, u.ID)
	if err != nil {
		return err
	}
	s.enqueueMail(u.Email, "Reset your Porthole password",
		"Someone asked to reset the password of your Porthole account.\n\nTo choose a new password, open this link within "+
			strconv.Itoa(int(s.cfg.ResetTTL.Minutes()))+" minutes:\n\n"+s.resetLink(token)+"\n\nIf it was not you, ignore this mail; your password stays as it is.\n")
	return nil
}

// IssuePasswordResetLink returns a reset link for an account, for the
// operator's CLI. An unknown email is ENOTFOUND (the operator may know).
func (s *Service) IssuePasswordResetLink(ctx context.Context, email string) (string, error) {
	u, _, err := s.db.UserByEmail(ctx, email)
	if err != nil {
		return "", err
	}
	token, err := s.newResetToken(ctx, u.ID)
	if err != nil {
		return "", err
	}
	return s.resetLink(token), nil
}

// ConfirmPasswordReset sets a new password with a reset token, once. It
// ends every session of the account. Forged, used and expired tokens get
// the same EINVALID answer.
func (s *Service) ConfirmPasswordReset(ctx context.Context, token, newPassword string, c Client) error {
	if len(token) > maxResetTokenLen {
		return errBadResetToken
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || !porthole.ValidID(parts[0]) {
		return errBadResetToken
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return errBadResetToken
	}
	if !hmac.Equal([]byte(parts[2]), []byte(s.resetMACOf(parts[0], exp))) {
		s.record(ctx, c, porthole.SecBadSignature, "", "", "password reset token with a bad signature", nil)
		return errBadResetToken
	}
	if !s.now().Before(time.Unix(exp, 0)) {
		return errBadResetToken
	}
	// Check the new password before using up the token.
	hash, err := HashPassword(newPassword)
	if err != nil {
		return err
	}
	userID, err := s.db.ConsumePasswordReset(ctx, parts[0], sha256Sum(token), s.now())
	if porthole.IsCode(err, porthole.ENOTFOUND) {
		return errBadResetToken
	}
	if err != nil {
		return err
	}
	if err := s.db.SetPasswordHash(ctx, userID, hash); err != nil {
		return err
	}
	return s.endAllSessions(ctx, userID, "")
}

// ChangePassword changes the principal's password after checking the
// current one, ends every session of the account and starts a new one for
// the caller (new id, new cookie).
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string, c Client) (SessionResult, error) {
	if !p.IsUser() {
		return SessionResult{}, porthole.Errorf(porthole.EFORBIDDEN, "only people have passwords")
	}
	u, hash, err := s.db.UserByID(ctx, p.UserID)
	if err != nil {
		return SessionResult{}, err
	}
	emailKey, subjects := loginSubjects(u.Email, c.IP)
	if err := s.checkLock(ctx, c, emailKey, subjects); err != nil {
		return SessionResult{}, err
	}
	if ok, err := VerifyPassword(hash, current); err != nil || !ok {
		_ = s.loginFailed(ctx, c, emailKey, "wrong current password")
		return SessionResult{}, porthole.Errorf(porthole.EINVALID, "current password is incorrect")
	}
	newHash, err := HashPassword(next)
	if err != nil {
		return SessionResult{}, err
	}
	if err := s.db.SetPasswordHash(ctx, u.ID, newHash); err != nil {
		return SessionResult{}, err
	}
	if err := s.endAllSessions(ctx, u.ID, ""); err != nil {
		return SessionResult{}, err
	}
	return s.startSession(ctx, u, p.Org, c)
}
