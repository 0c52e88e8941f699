package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// SigningKeyFile is the name of the checkpoint signing key in the data
// directory. It is kept apart from the database so that whoever can write
// the database still cannot sign a checkpoint.
const SigningKeyFile = "audit-signing.key"

// SigningKeyName is the key name in checkpoint signatures and verifier keys.
const SigningKeyName = "porthole-audit"

// SigningKey is the checkpoint signing key with its public half.
type SigningKey struct {
	// Signer signs checkpoint notes.
	Signer note.Signer
	// VerifierKey is the public key in note format
	// ("porthole-audit+<hash>+<base64>"): it goes in every bundle's header
	// and is what a buyer pins.
	VerifierKey string
}

// DefaultSigningKeyPath returns where the signing key lives in a data dir.
func DefaultSigningKeyPath(dataDir string) string {
	return filepath.Join(dataDir, SigningKeyFile)
}

// LoadOrCreateSigningKey reads the signing key at path, or, when there is
// no file, generates one and writes it there readable by its owner only.
// An existing key is never overwritten: creation goes through a temporary
// file opened with O_EXCL and an os.Link that fails if the key appeared
// meanwhile, in which case the key that won is loaded. A key file readable
// by group or others is refused.
func LoadOrCreateSigningKey(path string) (*SigningKey, error) {
	k, err := loadSigningKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: unable to create the key directory: %w", err)
	}
	skey, _, err := note.GenerateKey(rand.Reader, SigningKeyName)
	if err != nil {
		return nil, fmt.Errorf("audit: unable to generate a signing key: %w", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: unable to create the signing key: %w", err)
	}
	defer os.Remove(tmp)
	_, err = f.WriteString(skey + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("audit: unable to write the signing key: %w", err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("audit: unable to install the signing key: %w", err)
	}
	return loadSigningKey(path)
}

func loadSigningKey(path string) (*SigningKey, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("audit: signing key %s is accessible to group or others (mode %v); make it 0600", path, info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: unable to read the signing key: %w", err)
	}
	k, err := ParseSigningKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("audit: signing key %s: %w", path, err)
	}
	return k, nil
}

// ParseSigningKey parses a note signer key ("PRIVATE+KEY+name+hash+base64",
// as note.GenerateKey makes) and derives its verifier key.
func ParseSigningKey(skey string) (*SigningKey, error) {
	signer, err := note.NewSigner(skey) // checks the form and the key hash
	if err != nil {
		return nil, err
	}
	parts := strings.SplitN(skey, "+", 5) // base64 may hold "+"
	if len(parts) != 5 {
		return nil, errors.New("malformed signer key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, errors.New("not an Ed25519 signer key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), pub)
	if err != nil {
		return nil, err
	}
	return &SigningKey{Signer: signer, VerifierKey: vkey}, nil
}

// PrintableVerifierKey loads (or creates) the signing key at path and
// returns its verifier key, for `porthole audit key` and for operators who
// publish the key buyers pin.
func PrintableVerifierKey(path string) (string, error) {
	k, err := LoadOrCreateSigningKey(path)
	if err != nil {
		return "", err
	}
	return k.VerifierKey, nil
}
