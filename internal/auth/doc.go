// Package auth owns identity and access for people and programs: password
// hashing (argon2id), sessions (hashed 256-bit cookie values with idle and
// absolute timeouts), sign-in lockouts (failures counted with the
// moving-window limiter), password resets (HMAC-signed, single-use),
// invitations, RS256 access tokens with rotating signing keys and a JWKS,
// token revocation (database or Redis), API keys, and the role and
// per-chatbot permission model (Principal, Areas, CanSeeConversation).
//
// Service is the entry point. Its Authenticate takes the credentials a
// transport found (cookie value, Authorization header) and returns a
// Principal; the HTTP adapter lives in internal/authhttp.
//
// It never imports net/http or writes SQL: it reaches storage through the
// store's methods and tenant-bound handles.
package auth
