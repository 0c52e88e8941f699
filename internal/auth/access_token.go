package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Access-token rules.
const (
	// TokenAudience is the aud of every access token.
	TokenAudience = "porthole-api"
	// MaxAccessTokenTTL is the longest an access token lives.
	MaxAccessTokenTTL = 15 * time.Minute
	// MaxTokenBytes bounds a presented token; longer ones are refused before
	// any parsing (a real token is about 800 bytes).
	MaxTokenBytes = 8 << 10
	// signingKeyBits is the RSA modulus size of new keys.
	signingKeyBits = 2048
	// clockSkew is the leeway allowed on exp, nbf and iat.
	clockSkew = 30 * time.Second
)

// AccessClaims are the claims of a Porthole access token.
type AccessClaims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
	OrgID     string `json:"org,omitempty"`
}

// signingKey is a usable key: its public half always, its private half when
// this process may sign with it.
type signingKey struct {
	kid       string
	public    *rsa.PublicKey
	private   *rsa.PrivateKey
	notBefore time.Time
	retireAt  *time.Time
}

// KeySet holds the server's access-token signing keys, loaded from the
// store: it signs with the newest active key and verifies with every key
// not yet expired, so tokens made before a rotation stay valid for their
// lifetime (the overlap). It is safe for concurrent use.
type KeySet struct {
	db      *store.DB
	sealKey cipher.AEAD
	now     func() time.Time
	ttl     time.Duration
	// prePublish is how long a new key is published in the JWKS before it
	// signs, so outside verifiers that cache the JWKS know it in time.
	prePublish time.Duration

	mu         sync.RWMutex
	keys       map[string]*signingKey
	order      []*signingKey // newest first
	jwks       []byte
	loadedAt   time.Time
	lastReload time.Time
}

// newKeySet returns a key set sealing private keys with a key derived from
// serverKey.
func newKeySet(db *store.DB, serverKey []byte, ttl, prePublish time.Duration, now func() time.Time) (*KeySet, error) {
	block, err := aes.NewCipher(deriveKey(serverKey, "jwt-signing-key-seal/v1"))
	if err != nil {
		return nil, fmt.Errorf("auth: unable to prepare the key seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("auth: unable to prepare the key seal: %w", err)
	}
	return &KeySet{db: db, sealKey: aead, now: now, ttl: ttl, prePublish: prePublish, keys: map[string]*signingKey{}}, nil
}

func sealAD(kid string) []byte { return []byte("porthole/jwt-key/v1\x00" + kid) }

// Rotate makes a new signing key. It is published at once and signs after
// the pre-publication delay; the keys it replaces stop signing then and
// stop verifying one token lifetime later.
func (ks *KeySet) Rotate(ctx context.Context) error {
	priv, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return fmt.Errorf("auth: unable to generate a signing key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return fmt.Errorf("auth: unable to encode a signing key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("auth: unable to encode a signing key: %w", err)
	}
	sum := sha256.Sum256(pubDER)
	kid := base64.RawURLEncoding.EncodeToString(sum[:12])
	nonce := make([]byte, ks.sealKey.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("auth: unable to seal a signing key: %w", err)
	}
	sealed := ks.sealKey.Seal(nonce, nonce, privDER, sealAD(kid))
	clear(privDER)
	now := ks.now()
	active := now.Add(ks.prePublish)
	if err := ks.db.CreateSigningKey(ctx, store.SigningKey{KID: kid, PublicDER: pubDER, PrivateSealed: sealed, CreatedAt: now, NotBefore: active}); err != nil {
		return err
	}
	if err := ks.db.RetireSigningKeys(ctx, kid, active, active.Add(ks.ttl+clockSkew)); err != nil {
		return err
	}
	return ks.Reload(ctx)
}

// Reload reads the keys from the store.
func (ks *KeySet) Reload(ctx context.Context) error {
	now := ks.now()
	rows, err := ks.db.SigningKeys(ctx, now)
	if err != nil {
		return err
	}
	keys := map[string]*signingKey{}
	var order []*signingKey
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	jwks.Keys = []map[string]string{}
	for _, row := range rows {
		k := &signingKey{kid: row.KID, notBefore: row.NotBefore, retireAt: row.RetireAt}
		if old, ok := ks.lookup(row.KID); ok && old.private != nil {
			k.public, k.private = old.public, old.private // already opened
		} else {
			pub, err := x509.ParsePKIXPublicKey(row.PublicDER)
			rsaPub, ok := pub.(*rsa.PublicKey)
			if err != nil || !ok {
				return fmt.Errorf("auth: signing key %s has a bad public key", row.KID)
			}
			k.public = rsaPub
			if row.RetireAt == nil || row.RetireAt.After(now) {
				priv, err := ks.open(row)
				if err != nil {
					return err
				}
				k.private = priv
			}
		}
		keys[k.kid] = k
		order = append(order, k)
		jwks.Keys = append(jwks.Keys, map[string]string{
			"kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid,
			"n": base64.RawURLEncoding.EncodeToString(k.public.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.public.E)).Bytes()),
		})
	}
	doc, err := json.Marshal(jwks)
	if err != nil {
		return fmt.Errorf("auth: unable to encode the JWKS: %w", err)
	}
	ks.mu.Lock()
	ks.keys, ks.order, ks.jwks, ks.loadedAt = keys, order, doc, now
	ks.mu.Unlock()
	return nil
}

func (ks *KeySet) open(row store.SigningKey) (*rsa.PrivateKey, error) {
	n := ks.sealKey.NonceSize()
	if len(row.PrivateSealed) < n {
		return nil, fmt.Errorf("auth: signing key %s is not sealed", row.KID)
	}
	der, err := ks.sealKey.Open(nil, row.PrivateSealed[:n], row.PrivateSealed[n:], sealAD(row.KID))
	if err != nil {
		return nil, fmt.Errorf("auth: signing key %s cannot be opened with this server key (auth.key differs between processes?)", row.KID)
	}
	defer clear(der)
	key, err := x509.ParsePKCS8PrivateKey(der)
	priv, ok := key.(*rsa.PrivateKey)
	if err != nil || !ok {
		return nil, fmt.Errorf("auth: signing key %s is not an RSA key", row.KID)
	}
	return priv, nil
}

func (ks *KeySet) lookup(kid string) (*signingKey, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	k, ok := ks.keys[kid]
	return k, ok
}

// signer returns the key to sign with now: the newest key past its
// pre-publication whose retirement has not come.
func (ks *KeySet) signer() (*signingKey, bool) {
	now := ks.now()
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	for _, k := range ks.order {
		if k.private != nil && !k.notBefore.After(now) && (k.retireAt == nil || k.retireAt.After(now)) {
			return k, true
		}
	}
	return nil, false
}

// JWKS returns the JSON Web Key Set of the public keys that verify tokens.
func (ks *KeySet) JWKS() []byte {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.jwks
}

// ensure makes a first key when there is none that can sign.
func (ks *KeySet) ensure(ctx context.Context) error {
	if err := ks.Reload(ctx); err != nil {
		return err
	}
	if _, ok := ks.signer(); ok {
		return nil
	}
	ks.mu.RLock()
	pending := false
	for _, k := range ks.order {
		if k.notBefore.After(ks.now()) {
			pending = true
		}
	}
	ks.mu.RUnlock()
	if pending {
		return nil
	}
	saved := ks.prePublish
	ks.prePublish = 0 // the first key signs at once
	defer func() { ks.prePublish = saved }()
	return ks.Rotate(ctx)
}

// reloadForUnknownKID reloads the keys when a token names a kid not in
// memory (another process rotated), at most once per ten seconds, so junk
// kids cannot turn into one database query each.
func (ks *KeySet) reloadForUnknownKID(ctx context.Context) {
	ks.mu.Lock()
	now := ks.now()
	if now.Sub(ks.lastReload) < 10*time.Second {
		ks.mu.Unlock()
		return
	}
	ks.lastReload = now
	ks.mu.Unlock()
	_ = ks.Reload(ctx) // on failure the old keys stay; the token is refused
}

// issue signs an access token for a session.
func (ks *KeySet) issue(iss, userID, sessionID, orgID string) (string, AccessClaims, error) {
	k, ok := ks.signer()
	if !ok {
		return "", AccessClaims{}, porthole.Errorf(porthole.EUNAVAILABLE, "no access-token signing key is active")
	}
	now := ks.now()
	claims := AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    iss,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{TokenAudience},
			ExpiresAt: jwt.NewNumericDate(now.Add(ks.ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        porthole.NewID(),
		},
		SessionID: sessionID,
		OrgID:     orgID,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.private)
	if err != nil {
		return "", AccessClaims{}, fmt.Errorf("auth: unable to sign an access token: %w", err)
	}
	return s, claims, nil
}

// Headers that would let a token choose its own verification key. Porthole
// knows its keys; a token that names one any other way is refused.
var forbiddenHeaders = []string{"jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit"}

// VerifyAccessToken checks an access token's form, signature and claims:
// RS256 only, a known kid, no key-carrying headers, our issuer and audience,
// not expired, and a lifetime no longer than MaxAccessTokenTTL. It does not
// consult revocations (Service.Authenticate does). Every failure is the same
// EUNAUTHORIZED error; the reason goes to the internal cause only.
func (ks *KeySet) VerifyAccessToken(ctx context.Context, token, issuer string) (AccessClaims, error) {
	refuse := func(reason string) (AccessClaims, error) {
		return AccessClaims{}, porthole.WrapError(porthole.EUNAUTHORIZED, fmt.Errorf("access token refused: %s", reason), "invalid access token")
	}
	// Cheap shape checks before any decoding: size and exactly two dots.
	if len(token) > MaxTokenBytes {
		return refuse("too long")
	}
	if strings.Count(token, ".") != 2 {
		return refuse("not three parts")
	}
	var claims AccessClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithAudience(TokenAudience),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(ks.now),
		jwt.WithStrictDecoding(),
	)
	_, err := parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		for _, h := range forbiddenHeaders {
			if _, present := t.Header[h]; present {
				return nil, fmt.Errorf("header %q is not accepted", h)
			}
		}
		if t.Method.Alg() != jwt.SigningMethodRS256.Alg() {
			return nil, fmt.Errorf("alg %q is not RS256", t.Method.Alg())
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" || len(kid) > 64 {
			return nil, fmt.Errorf("no usable kid")
		}
		k, ok := ks.lookup(kid)
		if !ok {
			ks.reloadForUnknownKID(ctx)
			if k, ok = ks.lookup(kid); !ok {
				return nil, fmt.Errorf("unknown kid")
			}
		}
		return k.public, nil
	})
	if err != nil {
		return refuse(err.Error())
	}
	switch {
	case claims.IssuedAt == nil || claims.ExpiresAt == nil:
		return refuse("no iat or exp")
	case claims.ExpiresAt.Sub(claims.IssuedAt.Time) > MaxAccessTokenTTL:
		return refuse("lifetime over 15 minutes")
	case !porthole.ValidID(claims.Subject) || !porthole.ValidID(claims.SessionID) || claims.ID == "":
		return refuse("sub, sid or jti missing")
	case claims.OrgID != "" && !porthole.ValidID(claims.OrgID):
		return refuse("bad org")
	}
	return claims, nil
}
