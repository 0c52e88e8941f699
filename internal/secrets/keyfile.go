package secrets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// maxKeyFileSize caps what LoadKeyringFile reads: a keyring is a few lines.
const maxKeyFileSize = 64 << 10

// LoadKeyringFile reads a keyring in the ParseKeyring format from path. It
// refuses a file that group or others may access (mode & 0o077 != 0): a key
// that other local users could read is not a secret. A missing file yields an
// error matching fs.ErrNotExist.
func LoadKeyringFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: unable to open master key file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secrets: unable to stat master key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("secrets: master key file %s is not a regular file", path)
	}
	// Windows has no Unix permission bits; its ACLs are the operator's job.
	if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("secrets: master key file %s has mode %#o, which lets group or others at it; run chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("secrets: unable to read master key file: %w", err)
	}
	defer clear(data)
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("secrets: master key file %s is over %d bytes; it is not a keyring", path, maxKeyFileSize)
	}
	k, err := ParseKeyring(string(data))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

const keyFileHeader = `# Porthole master key. Keep this file secret (mode 0600) and back it up with
# the database: without it the encrypted secrets in the database cannot be read.
# Format: one key per line as ID:BASE64; the first key wraps new data keys,
# every key unwraps. To rotate, add a new key as the first line.
`

// GenerateKeyringFile creates a new keyring file at path holding one fresh
// master key, with mode 0600. It never overwrites: if path exists it fails
// with an error matching fs.ErrExist. The file appears complete or not at
// all (it is written beside path and hard-linked into place), so a crash
// never leaves an empty key file behind.
func GenerateKeyringFile(path string) (*Keyring, error) {
	line, err := NewMasterKeyLine()
	if err != nil {
		return nil, err
	}
	content := []byte(keyFileHeader + line + "\n")
	defer clear(content)
	k, err := ParseKeyring(string(content))
	if err != nil {
		return nil, err // unreachable unless NewMasterKeyLine is broken
	}
	if err := createExclusive(path, content); err != nil {
		return nil, err
	}
	return k, nil
}

// createExclusive writes content to a new file at path with mode 0600,
// failing with fs.ErrExist if path exists.
func createExclusive(path string, content []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".porthole-key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("secrets: unable to create master key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := writeAndSync(tmp, content); err != nil {
		return fmt.Errorf("secrets: unable to write master key file: %w", err)
	}
	// os.Link fails if path exists, which makes it an exclusive create of an
	// already complete file.
	err = os.Link(tmpName, path)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("secrets: master key file %s exists already; not overwriting it: %w", path, fs.ErrExist)
	default:
		// Some file systems have no hard links: fall back to O_EXCL.
		f, oerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(oerr, fs.ErrExist) {
			return fmt.Errorf("secrets: master key file %s exists already; not overwriting it: %w", path, fs.ErrExist)
		}
		if oerr != nil {
			return fmt.Errorf("secrets: unable to create master key file: %w", oerr)
		}
		if werr := writeAndSync(f, content); werr != nil {
			os.Remove(path) // ours, created just above and incomplete
			return fmt.Errorf("secrets: unable to write master key file: %w", werr)
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new name durable; best effort where unsupported
		d.Close()
	}
	return nil
}

func writeAndSync(f *os.File, content []byte) error {
	_, err := f.Write(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// LoadOrGenerateKeyringFile is the start-up path of the embedded default. It
// loads the keyring at path; if there is no file there and the store holds no
// data key yet, it generates one (reporting generated = true). If the file is
// missing but the store holds encrypted data, it stops with a one-line
// reason and changes nothing. A loaded keyring is checked with
// CheckKeyringAvailable.
func LoadOrGenerateKeyringFile(ctx context.Context, store DataKeyStore, path string) (k *Keyring, generated bool, err error) {
	k, err = LoadKeyringFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := CheckKeyringAvailable(ctx, store, nil); err != nil {
			return nil, false, fmt.Errorf("%w (expected at %s)", err, path)
		}
		k, err = GenerateKeyringFile(path)
		if errors.Is(err, fs.ErrExist) {
			// Another process sharing the data dir created it first.
			k, err = LoadKeyringFile(path)
		} else if err == nil {
			return k, true, nil
		}
	}
	if err != nil {
		return nil, false, err
	}
	if err := CheckKeyringAvailable(ctx, store, k); err != nil {
		return nil, false, err
	}
	return k, false, nil
}
