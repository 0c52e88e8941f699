package chat

import (
	"context"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// MaxIdentityTokenLifetime is how far in the future an identity token's exp
// may lie: tokens are meant to be minted per page view.
const MaxIdentityTokenLifetime = time.Hour

// Identity is what a widget claims about its visitor, signed by the
// business's backend: either UserID with UserHash (hex HMAC-SHA256 of the
// user id under the chatbot's identity secret) or Token (a JWT, HS256 under
// the identity secret or RS256 under the registered public key).
type Identity struct {
	UserID   string `json:"user_id,omitempty"`
	UserHash string `json:"user_hash,omitempty"`
	Token    string `json:"token,omitempty"`
}

// VerifiedIdentity is an identity whose signature checked out. Name and
// Email come only from signed token claims.
type VerifiedIdentity struct {
	UserID string
	Name   string
	Email  string
}

type identityClaims struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	jwt.RegisteredClaims
}

func refused(reason string) error {
	return porthole.Errorf(porthole.EUNAUTHORIZED, "identity refused: %s", reason)
}

// SetIdentitySecret seals secret with the vault and saves it in the
// chatbot's widget settings.
func (s *Service) SetIdentitySecret(ctx context.Context, orgID, chatbotID string, secret []byte) error {
	if s.vault == nil {
		return porthole.Errorf(porthole.EUNAVAILABLE, "no secrets vault configured")
	}
	if len(secret) < 16 {
		return porthole.Errorf(porthole.EINVALID, "identity secret must be at least 16 bytes")
	}
	tn := s.db.Tenant(orgID)
	settings, err := tn.WidgetSettings(ctx, chatbotID)
	if err != nil {
		return err
	}
	sealed, err := s.vault.Seal(ctx, orgID, secret)
	if err != nil {
		return err
	}
	settings.IdentitySecret = sealed
	_, err = tn.PutWidgetSettings(ctx, settings)
	return err
}

// VerifyIdentity checks a claimed identity against the chatbot's identity
// secret or public key. Any failure is EUNAUTHORIZED and the caller carries
// on with an anonymous visitor.
func (s *Service) VerifyIdentity(ctx context.Context, orgID, chatbotID string, id Identity) (VerifiedIdentity, error) {
	settings, err := s.db.Tenant(orgID).WidgetSettings(ctx, chatbotID)
	if err != nil {
		return VerifiedIdentity{}, err
	}
	var secret []byte
	if len(settings.IdentitySecret) > 0 && s.vault != nil {
		secret, err = s.vault.Open(ctx, orgID, settings.IdentitySecret)
		if err != nil {
			return VerifiedIdentity{}, refused("the identity secret cannot be opened")
		}
	}
	switch {
	case id.Token != "":
		return s.verifyToken(id.Token, secret, settings.IdentityPublicKey)
	case id.UserID != "":
		if len(secret) == 0 {
			return VerifiedIdentity{}, refused("identity verification is not configured")
		}
		if len(id.UserID) > 255 {
			return VerifiedIdentity{}, refused("user_id is too long")
		}
		got, err := hex.DecodeString(id.UserHash)
		if err != nil || len(got) != sha256.Size {
			return VerifiedIdentity{}, refused("user_hash is not a hex HMAC-SHA256")
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(id.UserID))
		if !hmac.Equal(got, mac.Sum(nil)) {
			return VerifiedIdentity{}, refused("user_hash does not match")
		}
		return VerifiedIdentity{UserID: id.UserID}, nil
	}
	return VerifiedIdentity{}, refused("no user_id or token")
}

func (s *Service) verifyToken(token string, secret []byte, publicKeyPEM string) (VerifiedIdentity, error) {
	if len(token) > 8192 {
		return VerifiedIdentity{}, refused("token is too long")
	}
	var claims identityClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		switch t.Method.Alg() {
		case jwt.SigningMethodHS256.Alg():
			if len(secret) == 0 {
				return nil, errors.New("no identity secret")
			}
			return secret, nil
		case jwt.SigningMethodRS256.Alg():
			return parseRSAPublicKey(publicKeyPEM)
		}
		return nil, errors.New("unexpected algorithm")
	}, jwt.WithValidMethods([]string{"HS256", "RS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(s.now))
	if err != nil {
		return VerifiedIdentity{}, refused("token is invalid or expired")
	}
	if claims.ExpiresAt.Time.After(s.now().Add(MaxIdentityTokenLifetime + 30*time.Second)) {
		return VerifiedIdentity{}, refused("token lives too long")
	}
	if claims.Subject == "" || len(claims.Subject) > 255 || len(claims.Name) > 200 || len(claims.Email) > 320 {
		return VerifiedIdentity{}, refused("token claims are missing or too long")
	}
	return VerifiedIdentity{UserID: claims.Subject, Name: claims.Name, Email: claims.Email}, nil
}

func parseRSAPublicKey(p string) (*rsa.PublicKey, error) {
	if p == "" {
		return nil, errors.New("no identity public key")
	}
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, errors.New("identity public key is not PEM")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rsaKey, ok := key.(*rsa.PublicKey)
	if !ok || rsaKey.N.BitLen() < 2048 {
		return nil, errors.New("identity public key must be RSA of 2048 bits or more")
	}
	return rsaKey, nil
}
