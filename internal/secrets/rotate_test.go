package secrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
)

func mustRotate(tb testing.TB, v *Vault) int {
	tb.Helper()
	n, err := v.Rotate(context.Background())
	if err != nil {
		tb.Fatalf("Rotate: %v", err)
	}
	return n
}

func TestRotateRewrapsAndOldCiphertextsStillOpen(t *testing.T) {
	store := newMemStore()
	oldKey, newKey := keyLine("old", 1), keyLine("new", 2)
	before := mustNewVault(t, mustParseKeyring(t, oldKey), store)

	orgs := []string{porthole.NewID(), porthole.NewID(), porthole.NewID()}
	sealed := make(map[string][]byte)
	for _, org := range orgs {
		sealed[org] = mustSeal(t, before, org, []byte("secret of "+org))
	}

	// Step 2: every process gets [new, old].
	during := mustNewVault(t, mustParseKeyring(t, newKey+"\n"+oldKey), store)
	for _, org := range orgs {
		mustOpen(t, during, org, sealed[org]) // unwraps with "old", caches
	}
	newOrg := porthole.NewID()
	sealed[newOrg] = mustSeal(t, during, newOrg, []byte("secret of "+newOrg))
	if got := store.masterKeyIDs()[newOrg]; got != "new" {
		t.Fatalf("new data key wrapped by %q, want the primary %q", got, "new")
	}

	// Step 3: rotate.
	if n := mustRotate(t, during); n != len(orgs) {
		t.Fatalf("rotated %d, want %d", n, len(orgs))
	}
	for org, id := range store.masterKeyIDs() {
		if id != "new" {
			t.Fatalf("organization %s still wrapped by %q", org, id)
		}
	}
	if n := mustRotate(t, during); n != 0 {
		t.Fatalf("second rotation re-wrapped %d keys, want 0", n)
	}

	// Everything still opens: the rotating process (cache dropped), a
	// process that cached before rotation, and one that knows only the new
	// key (step 4).
	after := mustNewVault(t, mustParseKeyring(t, newKey), store)
	for name, v := range map[string]*Vault{"rotating process": during, "new key only": after} {
		for org, ct := range sealed {
			if got := string(mustOpen(t, v, org, ct)); got != "secret of "+org {
				t.Fatalf("%s: %s opens to %q", name, org, got)
			}
		}
	}
	for _, org := range orgs {
		if got := string(mustOpen(t, before, org, sealed[org])); got != "secret of "+org {
			t.Fatalf("process that cached the old wrapping: %s opens to %q", org, got)
		}
	}
	if err := CheckKeyringAvailable(context.Background(), store, mustParseKeyring(t, newKey)); err != nil {
		t.Fatalf("after rotation the new key alone should pass the start-up check: %v", err)
	}
}

func TestRotateWhileServing(t *testing.T) {
	store := newMemStore()
	oldKey, newKey := keyLine("old", 1), keyLine("new", 2)
	before := mustNewVault(t, mustParseKeyring(t, oldKey), store)
	var orgs []string
	sealed := make(map[string][]byte)
	for range 20 {
		org := porthole.NewID()
		orgs = append(orgs, org)
		sealed[org] = mustSeal(t, before, org, []byte(org))
	}
	k := mustParseKeyring(t, newKey+"\n"+oldKey)
	rotator := mustNewVault(t, k, store)
	server := mustNewVault(t, k, store)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				org := orgs[i%len(orgs)]
				pt, err := server.Open(context.Background(), org, sealed[org])
				if err == nil && string(pt) != org {
					err = fmt.Errorf("opened to %q", pt)
				}
				if err != nil {
					errs <- err
					return
				}
				if _, err := server.Seal(context.Background(), org, []byte("more")); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	// Two rotators at once: CAS conflicts are skipped, each key counted once.
	var rotators sync.WaitGroup
	var total int
	var mu sync.Mutex
	for range 2 {
		rotators.Go(func() {
			n, err := rotator.Rotate(context.Background())
			if err != nil {
				errs <- err
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	rotators.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for org, id := range store.masterKeyIDs() {
		if id != "new" {
			t.Fatalf("organization %s still wrapped by %q", org, id)
		}
	}
	if total != len(orgs) {
		t.Fatalf("rotated %d in total, want %d", total, len(orgs))
	}
}

func TestRotateSkipsKeysRotatedElsewhere(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	oldKey, newKey := keyLine("old", 1), keyLine("new", 2)
	before := mustNewVault(t, mustParseKeyring(t, oldKey), store)
	org := porthole.NewID()
	ct := mustSeal(t, before, org, []byte("secret"))

	k := mustParseKeyring(t, newKey+"\n"+oldKey)
	other := mustNewVault(t, k, store)
	raced := false
	store.beforeReplace = func(orgID string) {
		if !raced {
			raced = true
			if _, err := other.rotateOne(ctx, orgID); err != nil {
				t.Errorf("other rotation: %v", err)
			}
		}
	}
	if n := mustRotate(t, mustNewVault(t, k, store)); n != 0 {
		t.Fatalf("rotated %d, want 0: the key was re-wrapped by the other process", n)
	}
	if !raced {
		t.Fatal("the race hook did not run")
	}
	if got := string(mustOpen(t, mustNewVault(t, mustParseKeyring(t, newKey), store), org, ct)); got != "secret" {
		t.Fatalf("opens to %q", got)
	}
}

func TestRotateReportsKeysItCannotUnwrap(t *testing.T) {
	store := newMemStore()
	orgLost := porthole.NewID()
	mustSeal(t, mustNewVault(t, mustParseKeyring(t, keyLine("lost", 9)), store), orgLost, []byte("x"))
	orgOld := porthole.NewID()
	mustSeal(t, mustNewVault(t, mustParseKeyring(t, keyLine("old", 1)), store), orgOld, []byte("y"))

	v := mustNewVault(t, mustParseKeyring(t, keyLine("new", 2)+"\n"+keyLine("old", 1)), store)
	n, err := v.Rotate(context.Background())
	if n != 1 {
		t.Fatalf("rotated %d, want 1 (the one it can unwrap)", n)
	}
	if err == nil || !strings.Contains(err.Error(), `"lost"`) || !strings.Contains(err.Error(), "1 of 2") {
		t.Fatalf("error = %v, want one naming master key \"lost\" and 1 of 2", err)
	}
	if ids := store.masterKeyIDs(); ids[orgLost] != "lost" || ids[orgOld] != "new" {
		t.Fatalf("stored wrappings = %v", ids)
	}
}

func TestCheckKeyringAvailable(t *testing.T) {
	ctx := context.Background()
	empty := newMemStore()
	populated := newMemStore()
	mustSeal(t, mustNewVault(t, mustParseKeyring(t, keyLine("k1", 1)), populated), porthole.NewID(), []byte("x"))
	mixed := newMemStore()
	mustSeal(t, mustNewVault(t, mustParseKeyring(t, keyLine("k1", 1)), mixed), porthole.NewID(), []byte("x"))
	mustSeal(t, mustNewVault(t, mustParseKeyring(t, keyLine("k2", 2)), mixed), porthole.NewID(), []byte("x"))

	tests := []struct {
		name    string
		store   *memStore
		keyring string // "" means no keyring configured
		wantErr string
	}{
		{name: "no key, no data", store: empty},
		{name: "no key, encrypted data", store: populated, wantErr: "master key missing: the database holds encrypted data"},
		{name: "any key, no data", store: empty, keyring: keyLine("k9", 9)},
		{name: "right key", store: populated, keyring: keyLine("k1", 1)},
		{name: "right key not primary", store: populated, keyring: keyLine("k2", 2) + "\n" + keyLine("k1", 1)},
		{name: "key id missing", store: populated, keyring: keyLine("k2", 2), wantErr: `master key "k1" missing`},
		{name: "one of two ids missing", store: mixed, keyring: keyLine("k1", 1), wantErr: `master key "k2" missing`},
		{name: "both ids present", store: mixed, keyring: keyLine("k2", 2) + "\n" + keyLine("k1", 1)},
		{name: "same id, other bytes", store: populated, keyring: keyLine("k1", 7), wantErr: `master key "k1" does not match`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k *Keyring
			if tt.keyring != "" {
				k = mustParseKeyring(t, tt.keyring)
			}
			err := CheckKeyringAvailable(ctx, tt.store, k)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckKeyringAvailable: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestLoadOrGenerateKeyringFile(t *testing.T) {
	ctx := context.Background()

	t.Run("first start generates", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "master.key")
		store := newMemStore()
		k, generated, err := LoadOrGenerateKeyringFile(ctx, store, path)
		if err != nil || !generated {
			t.Fatalf("generated = %v, err = %v", generated, err)
		}
		mustSeal(t, mustNewVault(t, k, store), porthole.NewID(), []byte("x"))
		k2, generated, err := LoadOrGenerateKeyringFile(ctx, store, path)
		if err != nil || generated {
			t.Fatalf("second start: generated = %v, err = %v", generated, err)
		}
		if k2.PrimaryID() != k.PrimaryID() {
			t.Fatalf("second start loaded %q, want %q", k2.PrimaryID(), k.PrimaryID())
		}
	})

	t.Run("key file lost with data present", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "master.key")
		store := newMemStore()
		k := mustGenerateKeyringFile(t, path)
		mustSeal(t, mustNewVault(t, k, store), porthole.NewID(), []byte("x"))
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrGenerateKeyringFile(ctx, store, path)
		if err == nil || !strings.Contains(err.Error(), "master key missing") || strings.ContainsAny(err.Error(), "\n") {
			t.Fatalf("error = %v, want a one-line master key missing", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a new key file was written (stat err %v)", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("data dir holds %d entries, want none", len(entries))
		}
	})

	t.Run("replaced key file with data present", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "master.key")
		store := newMemStore()
		mustSeal(t, mustNewVault(t, mustParseKeyring(t, keyLine("k1", 1)), store), porthole.NewID(), []byte("x"))
		mustGenerateKeyringFile(t, path)
		before, _ := os.ReadFile(path)
		_, _, err := LoadOrGenerateKeyringFile(ctx, store, path)
		if err == nil || !strings.Contains(err.Error(), `master key "k1" missing`) {
			t.Fatalf("error = %v, want master key \"k1\" missing", err)
		}
		if after, _ := os.ReadFile(path); string(after) != string(before) {
			t.Fatal("key file rewritten")
		}
	})

	t.Run("loose permissions refused, not regenerated", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "master.key")
		mustGenerateKeyringFile(t, path)
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadOrGenerateKeyringFile(ctx, newMemStore(), path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("error = %v, want chmod 600 advice", err)
		}
	})
}
