package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Defaults of Config.
const (
	DefaultSessionIdle     = 30 * time.Minute
	DefaultSessionLifetime = 12 * time.Hour
	DefaultResetTTL        = 30 * time.Minute
	DefaultInvitationTTL   = 7 * 24 * time.Hour
	DefaultLockout         = 15 * time.Minute
	DefaultKeyRotation     = 30 * 24 * time.Hour
	DefaultKeyPrePublish   = 10 * time.Minute
)

// Default sign-in failure limits: past them the email, or the IP, is locked
// out for Config.Lockout.
var (
	DefaultEmailFailures = porthole.Limit{N: 5, Window: 15 * time.Minute}
	DefaultIPFailures    = porthole.Limit{N: 20, Window: 15 * time.Minute}
	// resetRequestsPerEmail bounds reset mails per address, so the form
	// cannot be used to flood someone's inbox.
	resetRequestsPerEmail = porthole.Limit{N: 3, Window: time.Hour}
)

// Config holds the account settings. Zero fields take their defaults.
type Config struct {
	// PublicURL is where members reach Porthole: the access tokens' issuer,
	// the base of emailed links, and (when https) what makes cookies Secure
	// and __Host- prefixed.
	PublicURL string
	// ServerKey (32 bytes, see LoadOrCreateServerKey) signs reset tokens and
	// seals the signing keys.
	ServerKey []byte

	SessionIdle     time.Duration // idle timeout of a session
	SessionLifetime time.Duration // absolute lifetime of a session
	AccessTokenTTL  time.Duration // at most MaxAccessTokenTTL
	ResetTTL        time.Duration
	InvitationTTL   time.Duration
	EmailFailures   porthole.Limit // failed sign-ins per email before lockout
	IPFailures      porthole.Limit // failed sign-ins per client IP before lockout
	Lockout         time.Duration  // how long a lockout lasts
	KeyRotation     time.Duration  // age at which Run rotates the signing key
	KeyPrePublish   time.Duration  // how long a new key is published before it signs; negative means 0

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Deps are the services the account service uses.
type Deps struct {
	DB       *store.DB
	Limiter  porthole.Limiter          // counts sign-in failures (ratelimit.NewMemory or NewRedis)
	Recorder porthole.SecurityRecorder // nil records nothing
	// Revocations defaults to the database; use RedisRevocations when Redis
	// is configured.
	Revocations Revocations
	// Mailer sends invitations and reset links; nil means no SMTP: invitation
	// links are returned to the inviter and reset links only reach the
	// operator's CLI.
	Mailer Mailer
	Logger *slog.Logger
}

// Service is identity and access for people and programs: sign-in,
// sessions, access tokens, password resets, invitations, members, grants
// and API keys. It never imports net/http; transports call it with the
// credentials they found (see Authenticate).
type Service struct {
	cfg      Config
	db       *store.DB
	limiter  porthole.Limiter
	rec      porthole.SecurityRecorder
	revoked  Revocations
	mailer   Mailer
	log      *slog.Logger
	keys     *KeySet
	now      func() time.Time
	secure   bool
	resetMAC []byte
	mail     chan mailJob
}

type mailJob struct{ to, subject, body string }

// New returns the service, loading the signing keys (and making the first
// one when there is none).
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if deps.DB == nil || deps.Limiter == nil {
		return nil, errors.New("auth: New needs a DB and a Limiter")
	}
	if len(cfg.ServerKey) != ServerKeySize {
		return nil, fmt.Errorf("auth: the server key must be %d bytes", ServerKeySize)
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("auth: PublicURL must be http(s)://host[:port]")
	}
	cfg.PublicURL = u.Scheme + "://" + u.Host
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.SessionIdle, DefaultSessionIdle)
	def(&cfg.SessionLifetime, DefaultSessionLifetime)
	def(&cfg.AccessTokenTTL, MaxAccessTokenTTL)
	def(&cfg.ResetTTL, DefaultResetTTL)
	def(&cfg.InvitationTTL, DefaultInvitationTTL)
	def(&cfg.Lockout, DefaultLockout)
	def(&cfg.KeyRotation, DefaultKeyRotation)
	if cfg.KeyPrePublish == 0 {
		cfg.KeyPrePublish = DefaultKeyPrePublish
	}
	cfg.KeyPrePublish = max(cfg.KeyPrePublish, 0)
	cfg.AccessTokenTTL = min(cfg.AccessTokenTTL, MaxAccessTokenTTL)
	if cfg.EmailFailures.N <= 0 {
		cfg.EmailFailures = DefaultEmailFailures
	}
	if cfg.IPFailures.N <= 0 {
		cfg.IPFailures = DefaultIPFailures
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if deps.Revocations == nil {
		deps.Revocations = DBRevocations{DB: deps.DB}
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	s := &Service{
		cfg: cfg, db: deps.DB, limiter: deps.Limiter, rec: deps.Recorder, revoked: deps.Revocations,
		mailer: deps.Mailer, log: deps.Logger, now: cfg.Now, secure: u.Scheme == "https",
		resetMAC: deriveKey(cfg.ServerKey, "password-reset-mac/v1"),
		mail:     make(chan mailJob, 256),
	}
	s.keys, err = newKeySet(deps.DB, cfg.ServerKey, cfg.AccessTokenTTL, cfg.KeyPrePublish, cfg.Now)
	if err != nil {
		return nil, err
	}
	if err := s.keys.ensure(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Keys returns the access-token key set (JWKS, rotation, verification).
func (s *Service) Keys() *KeySet { return s.keys }

// Issuer returns the iss of access tokens: the public URL.
func (s *Service) Issuer() string { return s.cfg.PublicURL }

// Config returns the effective configuration, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// Run is the service's background work until ctx ends: it sends queued
// mail, reloads signing keys each minute (picking up other processes'
// rotations), rotates the key when it is older than Config.KeyRotation, and
// deletes expired sessions, resets, revocations and locks. Failures are
// logged and retried on the next tick; Run returns nil when ctx is done.
func (s *Service) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case job := <-s.mail:
			s.send(ctx, job)
		case <-tick.C:
			s.maintain(ctx)
		}
	}
}

// maintain is one tick of Run.
func (s *Service) maintain(ctx context.Context) {
	if err := s.keys.Reload(ctx); err != nil {
		s.log.Warn("auth: reload signing keys", "err", err)
	}
	if k, ok := s.keys.signer(); !ok || s.now().Sub(k.notBefore) > s.cfg.KeyRotation {
		if !s.keys.pendingKey() {
			if err := s.keys.Rotate(ctx); err != nil {
				s.log.Error("auth: rotate signing key", "err", err)
			} else {
				s.log.Info("auth: rotated the access-token signing key")
			}
		}
	}
	before := s.now().Add(-time.Minute)
	if _, err := s.db.DeleteSessionsBefore(ctx, before); err != nil {
		s.log.Warn("auth: purge sessions", "err", err)
	}
	for _, purge := range []func(context.Context, time.Time) error{s.db.DeletePasswordResetsBefore, s.db.DeleteRevokedTokensBefore, s.db.DeleteLoginLocksBefore} {
		if err := purge(ctx, before); err != nil {
			s.log.Warn("auth: purge", "err", err)
		}
	}
}

// pendingKey reports whether a key waits for its pre-publication to end.
func (ks *KeySet) pendingKey() bool {
	now := ks.now()
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	for _, k := range ks.order {
		if k.notBefore.After(now) {
			return true
		}
	}
	return false
}

// enqueueMail hands a mail to Run without waiting; a full queue drops it
// with a log line rather than hold the request (and reveal by timing that
// an address exists).
func (s *Service) enqueueMail(to, subject, body string) {
	select {
	case s.mail <- mailJob{to: to, subject: subject, body: body}:
	default:
		s.log.Error("auth: mail queue full; mail dropped", "subject", subject)
	}
}

func (s *Service) send(ctx context.Context, job mailJob) {
	if s.mailer == nil {
		return
	}
	if err := s.mailer.Send(ctx, job.to, job.subject, job.body); err != nil {
		s.log.Error("auth: send mail", "subject", job.subject, "err", err)
	}
}

// Client describes the request a call comes from, for sessions, limits and
// security events.
type Client struct {
	IP        string
	UserAgent string
	RequestID string
}

// record sends a security event; a nil recorder records nothing.
func (s *Service) record(ctx context.Context, c Client, kind, orgID, actor, detail string, data map[string]any) {
	if s.rec == nil {
		return
	}
	if actor == "" && c.IP != "" {
		actor = "ip:" + c.IP
	}
	s.rec.RecordSecurityEvent(ctx, porthole.SecurityEvent{
		ID: porthole.NewID(), OrgID: orgID, Kind: kind, Actor: actor, IP: c.IP, RequestID: c.RequestID,
		Detail: detail, Data: data, CreatedAt: s.now().UTC(),
	})
}

func sha256Sum(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
