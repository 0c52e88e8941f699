package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// API keys look like "ph_<org id without dashes>_<43 characters>". The org
// id in the key lets the server bind the lookup to one tenant before it
// searches (tenant isolation by construction holds for keys too); the secret
// part is 256 random bits, stored only as its SHA-256 (a slow hash buys
// nothing against a full-entropy secret).
const apiKeyPrefix = "ph_"

// NewAPIKey returns a new key for orgID, its visible prefix (safe to show
// and store) and the hash to store.
func NewAPIKey(orgID string) (key, prefix string, hash []byte) {
	var secret [32]byte
	_, _ = rand.Read(secret[:])
	s := base64.RawURLEncoding.EncodeToString(secret[:])
	key = apiKeyPrefix + strings.ReplaceAll(orgID, "-", "") + "_" + s
	sum := sha256.Sum256([]byte(key))
	return key, key[:len(apiKeyPrefix)+32+1+6], sum[:]
}

// ParseAPIKey checks a presented key's shape and returns the organization it
// names and the hash to look up. ok is false for anything that is not a
// well-formed Porthole key.
func ParseAPIKey(key string) (orgID string, hash []byte, ok bool) {
	if len(key) != len(apiKeyPrefix)+32+1+43 || !strings.HasPrefix(key, apiKeyPrefix) || key[len(apiKeyPrefix)+32] != '_' {
		return "", nil, false
	}
	h := key[len(apiKeyPrefix) : len(apiKeyPrefix)+32]
	orgID = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	if !porthole.ValidID(orgID) {
		return "", nil, false
	}
	if _, err := base64.RawURLEncoding.DecodeString(key[len(apiKeyPrefix)+33:]); err != nil {
		return "", nil, false
	}
	sum := sha256.Sum256([]byte(key))
	return orgID, sum[:], true
}
