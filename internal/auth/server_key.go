package auth

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ServerKeySize is the size of the server key: 256 bits.
const ServerKeySize = 32

// ServerKeyFileName is the server key's file in the data directory.
const ServerKeyFileName = "auth.key"

// LoadOrCreateServerKey reads the server key from path (standard base64 of
// 32 bytes), creating the file with a fresh random key (mode 0600) when it
// does not exist. The server key signs password-reset tokens and seals the
// access-token signing keys stored in the database; every process of one
// installation must use the same file.
func LoadOrCreateServerKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, ServerKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("auth: unable to generate the server key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("auth: unable to create the directory of %s: %v", path, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) { // another process created it first
			return LoadOrCreateServerKey(path)
		}
		if err != nil {
			return nil, fmt.Errorf("auth: unable to create the server key file %s: %v", path, err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("auth: unable to write the server key file %s: %v", path, werr)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: unable to read the server key file %s: %v", path, err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != ServerKeySize {
		return nil, fmt.Errorf("auth: the server key file %s must hold standard base64 of %d bytes", path, ServerKeySize)
	}
	return key, nil
}

// deriveKey derives a 32-byte purpose key from the server key, so one file
// serves several purposes without one key ever being used for two.
func deriveKey(serverKey []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, serverKey, nil, "porthole/"+purpose, 32)
	if err != nil { // only for lengths HKDF cannot produce; 32 always works
		panic(err)
	}
	return k
}
