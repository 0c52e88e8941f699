package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Argon2id parameters: OWASP ASVS 5 asks for at least t=2, m=19 MiB, p=1;
// these are that. Stored hashes carry their parameters, so raising them later
// only needs a rehash at the next sign-in.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Password length rules: at least 12 characters; at most 1024 bytes, far
// above the 64 characters people must be able to use, and low enough that a
// huge "password" cannot be used to burn CPU.
const (
	MinPasswordRunes = 12
	MaxPasswordBytes = 1024
)

// HashPassword returns the PHC-style argon2id hash of password, exactly as
// typed: no trimming, no truncation, no normalization.
func HashPassword(password string) (string, error) {
	if err := CheckPasswordPolicy(password); err != nil {
		return "", err
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: unable to read random salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches hash, in constant time for
// a given hash. A malformed hash is an error, never a match.
func VerifyPassword(hash, password string) (bool, error) {
	if len(password) > MaxPasswordBytes {
		return false, nil
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false, fmt.Errorf("auth: password hash is not argon2id")
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<22 || t > 64 {
		return false, fmt.Errorf("auth: password hash has bad parameters")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("auth: password hash has a bad salt")
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) < 16 {
		return false, fmt.Errorf("auth: password hash has a bad key")
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when a sign-in names an unknown email, so
// the answer takes as long as for a known one.
var dummyHash = func() string {
	h, err := HashPassword("porthole-dummy-password-for-timing")
	if err != nil {
		panic(err)
	}
	return h
}()

// VerifyDummy spends the same time as VerifyPassword on a real hash.
func VerifyDummy(password string) { _, _ = VerifyPassword(dummyHash, password) }

// CheckPasswordPolicy refuses passwords that are too short, too long, not
// valid UTF-8, or among the most common.
func CheckPasswordPolicy(password string) error {
	if !utf8.ValidString(password) {
		return porthole.Errorf(porthole.EINVALID, "password must be valid UTF-8 text")
	}
	if utf8.RuneCountInString(password) < MinPasswordRunes {
		return porthole.Errorf(porthole.EINVALID, "password must be at least %d characters", MinPasswordRunes)
	}
	if len(password) > MaxPasswordBytes {
		return porthole.Errorf(porthole.EINVALID, "password must be at most %d bytes", MaxPasswordBytes)
	}
	if isCommonPassword(password) {
		return porthole.Errorf(porthole.EINVALID, "password is too common; choose another")
	}
	return nil
}
