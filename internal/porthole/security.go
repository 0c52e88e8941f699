package porthole

import (
	"context"
	"time"
)

// Kinds of security events. New kinds are added here so the list stays in
// one place.
const (
	SecAuthorizationFailed  = "authorization_failed"
	SecAuthenticationFailed = "authentication_failed"
	SecRateLimited          = "rate_limited"
	SecBadSignature         = "bad_signature"
	SecRejectedUpload       = "rejected_upload"
	SecCORSRefused          = "cors_refused"
	SecParameterPollution   = "parameter_pollution"
	SecOriginRefused        = "origin_refused"
	SecTicketRefused        = "ticket_refused"
	SecSSRFRefused          = "ssrf_refused"
	SecLockout              = "lockout"
	SecCSRFRefused          = "csrf_refused"
	SecDecryptFailed        = "decrypt_failed"
)

// SecurityEvent is one security-relevant event: a refusal, a limit hit, a
// failed check. OrgID is empty when no tenant is known yet (a refused CORS
// preflight, say).
type SecurityEvent struct {
	ID        string         `json:"id"`
	OrgID     string         `json:"organization_id,omitempty"`
	Kind      string         `json:"kind"`
	Actor     string         `json:"actor,omitempty"` // "ip:1.2.3.4", "user:ID", "apikey:ID", ...
	IP        string         `json:"ip,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
	Detail    string         `json:"detail"`
	Data      map[string]any `json:"data,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
}

// SecurityRecorder is the one path every security event takes. Record must
// not fail the caller's request: implementations log what they cannot store.
type SecurityRecorder interface {
	RecordSecurityEvent(ctx context.Context, ev SecurityEvent)
}

// SecurityRecorderFunc adapts a function to SecurityRecorder.
type SecurityRecorderFunc func(ctx context.Context, ev SecurityEvent)

// RecordSecurityEvent calls f.
func (f SecurityRecorderFunc) RecordSecurityEvent(ctx context.Context, ev SecurityEvent) { f(ctx, ev) }
