package secrets

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// keyLine returns a deterministic key line: fill repeated 32 times.
func keyLine(id string, fill byte) string {
	return id + ":" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, masterKeySize))
}

func mustParseKeyring(tb testing.TB, text string) *Keyring {
	tb.Helper()
	k, err := ParseKeyring(text)
	if err != nil {
		tb.Fatalf("ParseKeyring: %v", err)
	}
	return k
}

func TestParseKeyring(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		wantIDs []string
		wantErr string // substring; "" means success
	}{
		{name: "one key", text: keyLine("k1", 1), wantIDs: []string{"k1"}},
		{
			name:    "comments, blank lines, CRLF and spaces",
			text:    "# master keys\r\n\r\n  " + keyLine("new", 2) + "  \r\n# old one below\r\n" + keyLine("old.v1_a-b", 3) + "\r\n",
			wantIDs: []string{"new", "old.v1_a-b"},
		},
		{name: "empty", text: "", wantErr: "no master key found"},
		{name: "only comments", text: "# nothing\n\n#here\n", wantErr: "no master key found"},
		{name: "no colon", text: "just-a-line", wantErr: "line 1: want ID:BASE64"},
		{name: "empty id", text: ":" + strings.TrimPrefix(keyLine("", 1), ":"), wantErr: "empty key id"},
		{name: "bad id character", text: keyLine("a b", 1), wantErr: "outside [A-Za-z0-9._-]"},
		{name: "id too long", text: keyLine(strings.Repeat("a", 65), 1), wantErr: "at most 64"},
		{name: "bad base64", text: "k1:not*base64!", wantErr: `line 1: key "k1" is not valid standard base64`},
		{name: "url base64 refused", text: "k1:" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), wantErr: "not valid standard base64"},
		{name: "too short", text: "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 16)), wantErr: `key "k1" is 16 bytes, want 32`},
		{name: "too long", text: "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 33)), wantErr: "is 33 bytes, want 32"},
		{name: "all zero placeholder", text: "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 32)), wantErr: "all zero bytes"},
		{name: "duplicate id", text: keyLine("k1", 1) + "\n\n" + keyLine("k1", 2), wantErr: `line 3: duplicate key id "k1" (first on line 1)`},
		{name: "second line bad", text: keyLine("k1", 1) + "\nk2:AAAA", wantErr: "line 2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKeyring(tt.text)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseKeyring: %v", err)
				}
				if got := k.IDs(); !slices.Equal(got, tt.wantIDs) {
					t.Fatalf("IDs = %v, want %v", got, tt.wantIDs)
				}
				if k.PrimaryID() != tt.wantIDs[0] {
					t.Fatalf("PrimaryID = %q, want %q", k.PrimaryID(), tt.wantIDs[0])
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseKeyring succeeded, want error containing %q", tt.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantErr) {
				t.Fatalf("error %q does not contain %q", msg, tt.wantErr)
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			// The key material must never appear in an error.
			if _, b64, ok := strings.Cut(tt.text, ":"); ok && len(b64) > 8 && strings.Contains(msg, strings.TrimSpace(b64)) {
				t.Fatalf("error leaks key material: %q", msg)
			}
		})
	}
}

func TestKeyringFormatsWithoutKeyMaterial(t *testing.T) {
	line := keyLine("k1", 0x5a)
	k := mustParseKeyring(t, line)
	_, secret, _ := strings.Cut(line, ":")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, k)
		if strings.Contains(out, secret) || strings.Contains(out, "5a5a") || strings.Contains(out, "90 90") {
			t.Errorf("%s prints key material: %q", verb, out)
		}
		if !strings.Contains(out, "k1") {
			t.Errorf("%s = %q, want the key id", verb, out)
		}
	}
}

func TestNewMasterKeyLine(t *testing.T) {
	a, err := NewMasterKeyLine()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMasterKeyLine()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two generated key lines are equal")
	}
	k := mustParseKeyring(t, a+"\n"+b)
	if len(k.IDs()) != 2 {
		t.Fatalf("IDs = %v", k.IDs())
	}
}

func mustGenerateKeyringFile(tb testing.TB, path string) *Keyring {
	tb.Helper()
	k, err := GenerateKeyringFile(path)
	if err != nil {
		tb.Fatalf("GenerateKeyringFile: %v", err)
	}
	return k
}

func TestGenerateKeyringFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	generated := mustGenerateKeyringFile(t, path)

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %#o, want 0600", info.Mode().Perm())
	}
	loaded, err := LoadKeyringFile(path)
	if err != nil {
		t.Fatalf("LoadKeyringFile: %v", err)
	}
	if loaded.PrimaryID() != generated.PrimaryID() {
		t.Fatalf("loaded primary %q, generated %q", loaded.PrimaryID(), generated.PrimaryID())
	}
	// Same key bytes: what one wraps the other unwraps.
	wk, err := generated.wrap("org", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loaded.unwrap("org", wk); err != nil {
		t.Fatalf("loaded keyring cannot unwrap what the generated one wrapped: %v", err)
	}

	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKeyringFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second GenerateKeyringFile error = %v, want fs.ErrExist", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("existing key file was rewritten")
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("data dir holds %d entries, want only the key file (no temp files left)", len(entries))
	}
}

func TestGenerateKeyringFileNeverOverwritesOtherFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKeyringFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("error = %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "precious" {
		t.Fatalf("file rewritten to %q", got)
	}
}

func TestLoadKeyringFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permission bits are not checked on Windows")
	}
	tests := []struct {
		name    string
		content string // "" with missing = true means no file
		missing bool
		mode    os.FileMode
		wantErr string
		wantIs  error
	}{
		{name: "0600 accepted", content: keyLine("k1", 1), mode: 0o600},
		{name: "0400 accepted", content: keyLine("k1", 1), mode: 0o400},
		{name: "group readable refused", content: keyLine("k1", 1), mode: 0o640, wantErr: "lets group or others at it; run chmod 600"},
		{name: "world readable refused", content: keyLine("k1", 1), mode: 0o644, wantErr: "mode 0644"},
		{name: "group writable refused", content: keyLine("k1", 1), mode: 0o620, wantErr: "group or others"},
		{name: "missing", missing: true, wantIs: fs.ErrNotExist},
		{name: "empty file refused", content: "", mode: 0o600, wantErr: "no master key found"},
		{name: "bad content names the file", content: "k1:AAAA", mode: 0o600, wantErr: "master.key"},
		{name: "too large", content: strings.Repeat("#", maxKeyFileSize+1), mode: 0o600, wantErr: "not a keyring"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			if !tt.missing {
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			k, err := LoadKeyringFile(path)
			switch {
			case tt.wantIs != nil:
				if !errors.Is(err, tt.wantIs) {
					t.Fatalf("error = %v, want %v", err, tt.wantIs)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.ContainsAny(err.Error(), "\r\n") {
					t.Fatalf("error is not one line: %q", err)
				}
			default:
				if err != nil {
					t.Fatalf("LoadKeyringFile: %v", err)
				}
				if k.PrimaryID() != "k1" {
					t.Fatalf("PrimaryID = %q", k.PrimaryID())
				}
			}
		})
	}
}

func TestLoadKeyringFileRefusesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "master.key")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyringFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("error = %v, want not a regular file", err)
	}
}
