package secrets

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
)

func mustNewVault(tb testing.TB, k *Keyring, store DataKeyStore, opts ...VaultOption) *Vault {
	tb.Helper()
	v, err := NewVault(k, store, opts...)
	if err != nil {
		tb.Fatalf("NewVault: %v", err)
	}
	return v
}

func mustSeal(tb testing.TB, v *Vault, orgID string, plaintext []byte) []byte {
	tb.Helper()
	ct, err := v.Seal(context.Background(), orgID, plaintext)
	if err != nil {
		tb.Fatalf("Seal(%s): %v", orgID, err)
	}
	return ct
}

func mustOpen(tb testing.TB, v *Vault, orgID string, ciphertext []byte) []byte {
	tb.Helper()
	pt, err := v.Open(context.Background(), orgID, ciphertext)
	if err != nil {
		tb.Fatalf("Open(%s): %v", orgID, err)
	}
	return pt
}

// wantUndecryptable fails unless err is the caller-safe EINVALID refusal.
func wantUndecryptable(tb testing.TB, pt []byte, err error) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("Open succeeded with %q, want refusal", pt)
	}
	if code := porthole.ErrorCode(err); code != porthole.EINVALID {
		tb.Fatalf("error code = %q (%v), want %q", code, err, porthole.EINVALID)
	}
	if msg := porthole.ErrorMessage(err); msg != MsgUndecryptable {
		tb.Fatalf("message = %q, want %q", msg, MsgUndecryptable)
	}
}

func TestVaultRoundTrip(t *testing.T) {
	v := mustNewVault(t, mustParseKeyring(t, keyLine("k1", 1)), newMemStore())
	orgID := porthole.NewID()
	tests := []struct {
		name      string
		plaintext []byte
	}{
		{name: "empty", plaintext: []byte{}},
		{name: "api key", plaintext: []byte("sk-proj-0123456789abcdef")},
		{name: "binary", plaintext: []byte{0, 1, 2, 0xff, 0xfe, 0}},
		{name: "large", plaintext: bytes.Repeat([]byte("webhook-secret "), 4096)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := mustSeal(t, v, orgID, tt.plaintext)
			if len(ct) != 1+12+len(tt.plaintext)+16 {
				t.Fatalf("ciphertext is %d bytes, want %d", len(ct), 1+12+len(tt.plaintext)+16)
			}
			if ct[0] != 1 {
				t.Fatalf("version byte = %d, want 1", ct[0])
			}
			if len(tt.plaintext) > 4 && bytes.Contains(ct, tt.plaintext[:len(tt.plaintext)/2]) {
				t.Fatal("ciphertext contains the plaintext")
			}
			if got := mustOpen(t, v, orgID, ct); !bytes.Equal(got, tt.plaintext) {
				t.Fatalf("Open = %q, want %q", got, tt.plaintext)
			}
		})
	}
}

func TestSealIsRandomized(t *testing.T) {
	v := mustNewVault(t, mustParseKeyring(t, keyLine("k1", 1)), newMemStore())
	orgID := porthole.NewID()
	a := mustSeal(t, v, orgID, []byte("same"))
	b := mustSeal(t, v, orgID, []byte("same"))
	if bytes.Equal(a, b) || bytes.Equal(a[1:13], b[1:13]) {
		t.Fatal("two seals of the same plaintext share a nonce or ciphertext")
	}
}

func TestOpenRefusesOtherOrganizations(t *testing.T) {
	store := newMemStore()
	v := mustNewVault(t, mustParseKeyring(t, keyLine("k1", 1)), store)
	orgA, orgB, orgNoKey := porthole.NewID(), porthole.NewID(), porthole.NewID()
	ctA := mustSeal(t, v, orgA, []byte("tenant A's OpenAI key"))
	mustSeal(t, v, orgB, []byte("tenant B's own secret")) // B has a data key too

	tests := []struct {
		name  string
		vault *Vault
		orgID string
	}{
		{name: "copied into another tenant's row", vault: v, orgID: orgB},
		{name: "another tenant, fresh process", vault: mustNewVault(t, mustParseKeyring(t, keyLine("k1", 1)), store), orgID: orgB},
		{name: "tenant without a data key", vault: v, orgID: orgNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.vault.Open(context.Background(), tt.orgID, ctA)
			wantUndecryptable(t, pt, err)
		})
	}
	if _, err := store.DataKey(context.Background(), orgNoKey); !porthole.IsCode(err, porthole.ENOTFOUND) {
		t.Fatalf("Open created a data key for %s (err %v)", orgNoKey, err)
	}
}

// TestWrappedKeyCopiedToAnotherTenantFails checks the second wall: even
// with B's row holding A's wrapped data key, the associated data of the
// wrapping refuses to unwrap it for B.
func TestWrappedKeyCopiedToAnotherTenantFails(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	k := mustParseKeyring(t, keyLine("k1", 1))
	v := mustNewVault(t, k, store)
	orgA, orgB := porthole.NewID(), porthole.NewID()
	ctA := mustSeal(t, v, orgA, []byte("secret"))
	wkA, err := store.DataKey(ctx, orgA)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateDataKey(ctx, orgB, wkA); err != nil {
		t.Fatal(err)
	}
	fresh := mustNewVault(t, k, store)
	_, err = fresh.Open(ctx, orgB, ctA)
	if porthole.ErrorCode(err) != porthole.EINTERNAL || !strings.Contains(err.Error(), "does not unwrap") {
		t.Fatalf("Open with a copied wrapped key: error %v, want EINTERNAL does not unwrap", err)
	}
}

func TestOpenRefusesTamperedAndTruncated(t *testing.T) {
	v := mustNewVault(t, mustParseKeyring(t, keyLine("k1", 1)), newMemStore())
	orgID := porthole.NewID()
	ct := mustSeal(t, v, orgID, []byte("a webhook secret"))
	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 0x01
		return c
	}
	tests := []struct {
		name       string
		ciphertext []byte
	}{
		{name: "nil", ciphertext: nil},
		{name: "version byte only", ciphertext: ct[:1]},
		{name: "no tag", ciphertext: ct[:1+12]},
		{name: "one byte short", ciphertext: ct[:len(ct)-1]},
		{name: "minimum length but cut", ciphertext: ct[:1+12+16]},
		{name: "extra byte", ciphertext: append(bytes.Clone(ct), 0)},
		{name: "unknown version", ciphertext: append([]byte{2}, ct[1:]...)},
		{name: "version zero", ciphertext: append([]byte{0}, ct[1:]...)},
		{name: "nonce flipped", ciphertext: flip(1)},
		{name: "body flipped", ciphertext: flip(1 + 12)},
		{name: "tag flipped", ciphertext: flip(len(ct) - 1)},
		{name: "plaintext passed as ciphertext", ciphertext: []byte("a webhook secret that is long enough to pass length checks")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := v.Open(context.Background(), orgID, tt.ciphertext)
			wantUndecryptable(t, pt, err)
		})
	}
	if got := mustOpen(t, v, orgID, ct); string(got) != "a webhook secret" {
		t.Fatalf("original no longer opens: %q", got)
	}
}

func TestWrongMasterKey(t *testing.T) {
	store := newMemStore()
	orgID := porthole.NewID()
	ct := mustSeal(t, mustNewVault(t, mustParseKeyring(t, keyLine("k1", 1)), store), orgID, []byte("secret"))

	tests := []struct {
		name    string
		keyring string
		wantMsg string
	}{
		{name: "same id, other bytes", keyring: keyLine("k1", 2), wantMsg: `master key "k1"`},
		{name: "other id", keyring: keyLine("k2", 1), wantMsg: `wrapped by master key "k1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNewVault(t, mustParseKeyring(t, tt.keyring), store)
			pt, err := v.Open(context.Background(), orgID, ct)
			if err == nil {
				t.Fatalf("Open succeeded with %q", pt)
			}
			if code := porthole.ErrorCode(err); code != porthole.EINTERNAL {
				t.Fatalf("code = %q (%v), want %q", code, err, porthole.EINTERNAL)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %q does not name the key (%q)", err, tt.wantMsg)
			}
			// Seal must not replace the organization's data key either.
			if _, err := v.Seal(context.Background(), orgID, []byte("x")); err == nil {
				t.Fatal("Seal succeeded with a keyring that cannot unwrap the data key")
			}
		})
	}
	if ids := store.masterKeyIDs(); ids[orgID] != "k1" || store.createCount() != 1 {
		t.Fatalf("stored data key changed: %v, %d creates", ids, store.createCount())
	}
}

func TestConcurrentSealCreatesOneDataKey(t *testing.T) {
	store := newMemStore()
	k := mustParseKeyring(t, keyLine("k1", 1))
	shared := mustNewVault(t, k, store)
	orgID := porthole.NewID()

	const workers = 32
	var wg sync.WaitGroup
	cts := make([][]byte, workers)
	errs := make([]error, workers)
	start := make(chan struct{})
	for i := range workers {
		v := shared
		if i%2 == 1 {
			v = mustNewVault(t, k, store) // another process
		}
		wg.Go(func() {
			<-start
			cts[i], errs[i] = v.Seal(context.Background(), orgID, []byte{byte(i)})
		})
	}
	close(start)
	wg.Wait()

	if n := store.createCount(); n != 1 {
		t.Fatalf("%d data keys created, want 1", n)
	}
	reader := mustNewVault(t, k, store)
	for i := range workers {
		if errs[i] != nil {
			t.Fatalf("Seal %d: %v", i, errs[i])
		}
		if got := mustOpen(t, reader, orgID, cts[i]); !bytes.Equal(got, []byte{byte(i)}) {
			t.Fatalf("ciphertext %d opens to %v", i, got)
		}
	}
}

func TestInvalidOrgID(t *testing.T) {
	v := mustNewVault(t, mustParseKeyring(t, keyLine("k1", 1)), newMemStore())
	for _, orgID := range []string{"", "a\x00b"} {
		if _, err := v.Seal(context.Background(), orgID, []byte("x")); !porthole.IsCode(err, porthole.EINVALID) {
			t.Errorf("Seal(%q) error = %v, want EINVALID", orgID, err)
		}
		if _, err := v.Open(context.Background(), orgID, []byte("x")); !porthole.IsCode(err, porthole.EINVALID) {
			t.Errorf("Open(%q) error = %v, want EINVALID", orgID, err)
		}
	}
}

func TestNewVaultNeedsKeyAndStore(t *testing.T) {
	if _, err := NewVault(nil, newMemStore()); err == nil {
		t.Error("NewVault without keyring succeeded")
	}
	if _, err := NewVault(mustParseKeyring(t, keyLine("k1", 1)), nil); err == nil {
		t.Error("NewVault without store succeeded")
	}
}

func TestDecryptFailureIsRecorded(t *testing.T) {
	var mu sync.Mutex
	var events []porthole.SecurityEvent
	rec := porthole.SecurityRecorderFunc(func(_ context.Context, ev porthole.SecurityEvent) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, ev)
	})
	v := mustNewVault(t, mustParseKeyring(t, keyLine("k1", 1)), newMemStore(), WithSecurityRecorder(rec))
	orgA, orgB := porthole.NewID(), porthole.NewID()
	ct := mustSeal(t, v, orgA, []byte("secret"))
	mustSeal(t, v, orgB, []byte("other"))
	if _, err := v.Open(context.Background(), orgB, ct); err == nil {
		t.Fatal("Open succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 1 || events[0].Kind != porthole.SecDecryptFailed || events[0].OrgID != orgB {
		t.Fatalf("events = %+v, want one %s for %s", events, porthole.SecDecryptFailed, orgB)
	}
}
