package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// masterKeySize is the size of every key in this package: AES-256.
const masterKeySize = 32

// maxKeyIDLen bounds key ids; they are stored beside every wrapped data key.
const maxKeyIDLen = 64

// Keyring holds the operator's master keys. The first is the primary, used to
// wrap new data keys; all of them can unwrap. A Keyring is immutable and safe
// for concurrent use; it formats as its key ids only, never the key bytes.
type Keyring struct {
	keys []masterKey
}

type masterKey struct {
	id   string
	aead cipher.AEAD
}

// ParseKeyring parses the key file and environment format: one key per line
// as ID:BASE64 (standard base64 of 32 bytes), the primary first; blank lines
// and lines starting with # are ignored. Errors are one line, name the line
// and key id at fault, and never contain key material.
func ParseKeyring(text string) (*Keyring, error) {
	var keys []masterKey
	seen := make(map[string]int)
	for i, line := range strings.Split(text, "\n") {
		lineNo := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, encoded, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("secrets: master key line %d: want ID:BASE64, found no colon", lineNo)
		}
		id, encoded = strings.TrimSpace(id), strings.TrimSpace(encoded)
		if err := checkKeyID(id); err != nil {
			return nil, fmt.Errorf("secrets: master key line %d: %v", lineNo, err)
		}
		if first, dup := seen[id]; dup {
			return nil, fmt.Errorf("secrets: master key line %d: duplicate key id %q (first on line %d)", lineNo, id, first)
		}
		raw, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			// The decoder's message names an offset, never the input.
			return nil, fmt.Errorf("secrets: master key line %d: key %q is not valid standard base64: %v", lineNo, id, err)
		}
		if len(raw) != masterKeySize {
			return nil, fmt.Errorf("secrets: master key line %d: key %q is %d bytes, want %d", lineNo, id, len(raw), masterKeySize)
		}
		if subtle.ConstantTimeCompare(raw, make([]byte, masterKeySize)) == 1 {
			return nil, fmt.Errorf("secrets: master key line %d: key %q is all zero bytes (a placeholder?)", lineNo, id)
		}
		aead, err := newAEAD(raw)
		clear(raw)
		if err != nil {
			return nil, fmt.Errorf("secrets: master key line %d: key %q: %v", lineNo, id, err)
		}
		seen[id] = lineNo
		keys = append(keys, masterKey{id: id, aead: aead})
	}
	if len(keys) == 0 {
		return nil, errors.New("secrets: no master key found: want at least one line ID:BASE64")
	}
	return &Keyring{keys: keys}, nil
}

// checkKeyID keeps ids short and free of the separators used in the text
// format and in associated data.
func checkKeyID(id string) error {
	if id == "" {
		return errors.New("empty key id")
	}
	if len(id) > maxKeyIDLen {
		return fmt.Errorf("key id is %d characters, at most %d allowed", len(id), maxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("key id %q has a character outside [A-Za-z0-9._-]", id)
		}
	}
	return nil
}

// NewMasterKeyLine returns a fresh master key in the keyring text format,
// ID:BASE64, with a random id. It is what an operator adds as the first line
// of the keyring to rotate.
func NewMasterKeyLine() (string, error) {
	var idBytes [4]byte
	key := make([]byte, masterKeySize)
	defer clear(key)
	if _, err := rand.Read(idBytes[:]); err != nil {
		return "", fmt.Errorf("secrets: unable to generate a master key: %w", err)
	}
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("secrets: unable to generate a master key: %w", err)
	}
	return "k-" + hex.EncodeToString(idBytes[:]) + ":" + base64.StdEncoding.EncodeToString(key), nil
}

// PrimaryID returns the id of the key that wraps new data keys.
func (k *Keyring) PrimaryID() string { return k.keys[0].id }

// IDs returns the ids of all keys, the primary first.
func (k *Keyring) IDs() []string {
	ids := make([]string, len(k.keys))
	for i, key := range k.keys {
		ids[i] = key.id
	}
	return ids
}

// Has reports whether the keyring holds a key with the given id.
func (k *Keyring) Has(id string) bool { return k.key(id) != nil }

// String returns the key ids, so a keyring that ends up in a log shows no
// key material.
func (k *Keyring) String() string {
	if k == nil {
		return "Keyring(nil)"
	}
	return "Keyring(" + strings.Join(k.IDs(), ",") + ")"
}

// GoString is String, for %#v.
func (k *Keyring) GoString() string { return k.String() }

func (k *Keyring) key(id string) *masterKey {
	for i := range k.keys {
		if k.keys[i].id == id {
			return &k.keys[i]
		}
	}
	return nil
}

// Format versions: the first byte of a wrapped key and of a sealed secret.
const (
	wrapVersion1   byte = 1
	secretVersion1 byte = 1
)

func wrapAssociatedData(orgID, masterKeyID string) []byte {
	return []byte("porthole/dek/v1\x00" + orgID + "\x00" + masterKeyID)
}

func secretAssociatedData(orgID string) []byte {
	return []byte("porthole/secret/v1\x00" + orgID)
}

// wrap encrypts dek for orgID under the primary key.
func (k *Keyring) wrap(orgID string, dek []byte) (WrappedKey, error) {
	primary := &k.keys[0]
	ciphertext, err := sealVersioned(primary.aead, wrapVersion1, dek, wrapAssociatedData(orgID, primary.id))
	if err != nil {
		return WrappedKey{}, err
	}
	return WrappedKey{MasterKeyID: primary.id, Ciphertext: ciphertext}, nil
}

// errMasterKeyMissing and errMasterKeyMismatch tell the two ways a stored
// data key cannot be unwrapped apart.
var (
	errMasterKeyMissing  = errors.New("master key missing from the keyring")
	errMasterKeyMismatch = errors.New("master key does not unwrap the data key")
)

// unwrap decrypts the data key of orgID. The caller owns (and clears) the
// returned bytes.
func (k *Keyring) unwrap(orgID string, wk WrappedKey) ([]byte, error) {
	key := k.key(wk.MasterKeyID)
	if key == nil {
		return nil, fmt.Errorf("%w: data key of organization %s is wrapped by master key %q", errMasterKeyMissing, orgID, wk.MasterKeyID)
	}
	dek, err := openVersioned(key.aead, wrapVersion1, wk.Ciphertext, wrapAssociatedData(orgID, wk.MasterKeyID))
	if err != nil || len(dek) != masterKeySize {
		clear(dek)
		return nil, fmt.Errorf("%w: master key %q, organization %s (wrong key under that id, or the row was altered)", errMasterKeyMismatch, wk.MasterKeyID, orgID)
	}
	return dek, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealVersioned returns version | nonce | sealed.
func sealVersioned(aead cipher.AEAD, version byte, plaintext, associatedData []byte) ([]byte, error) {
	nonceSize := aead.NonceSize()
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("secrets: unable to read random nonce: %w", err)
	}
	return aead.Seal(out, out[1:1+nonceSize], plaintext, associatedData), nil
}

var errUndecryptable = errors.New("ciphertext is malformed or fails authentication")

// openVersioned reverses sealVersioned; any malformed, truncated or altered
// input yields errUndecryptable.
func openVersioned(aead cipher.AEAD, version byte, ciphertext, associatedData []byte) ([]byte, error) {
	nonceSize := aead.NonceSize()
	if len(ciphertext) < 1+nonceSize+aead.Overhead() || ciphertext[0] != version {
		return nil, errUndecryptable
	}
	plaintext, err := aead.Open(nil, ciphertext[1:1+nonceSize], ciphertext[1+nonceSize:], associatedData)
	if err != nil {
		return nil, errUndecryptable
	}
	return plaintext, nil
}
