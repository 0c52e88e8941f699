package store_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/secrets"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/store/storetest"
)

func mustKeyring(tb testing.TB, lines ...string) *secrets.Keyring {
	tb.Helper()
	k, err := secrets.ParseKeyring(strings.Join(lines, "\n"))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func mustKeyLine(tb testing.TB) string {
	tb.Helper()
	l, err := secrets.NewMasterKeyLine()
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// TestSecretsAtRest runs the envelope against the real store: a secret sealed
// for one tenant and copied into another's row does not open, and master key
// rotation re-wraps data keys while every secret keeps opening.
func TestSecretsAtRest(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustOrg(t, db, "A"), mustOrg(t, db, "B")
		oldLine := mustKeyLine(t)
		vault, err := secrets.NewVault(mustKeyring(t, oldLine), db.DataKeys())
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := vault.Seal(ctx, a.ID, []byte("sk-live-openai-key"))
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if bytes.Contains(sealed, []byte("sk-live")) {
			t.Fatal("ciphertext holds the plaintext")
		}
		if _, err := vault.Seal(ctx, b.ID, []byte("b's key")); err != nil {
			t.Fatal(err)
		}
		_, err = vault.Open(ctx, b.ID, sealed)
		if porthole.ErrorCode(err) != porthole.EINVALID {
			t.Fatalf("Open of A's secret as B = %v; want refusal", err)
		}

		has, err := db.DataKeys().HasDataKeys(ctx)
		if err != nil || !has {
			t.Fatalf("HasDataKeys = %v, %v", has, err)
		}
		if err := secrets.CheckKeyringAvailable(ctx, db.DataKeys(), nil); err == nil {
			t.Fatal("a missing master key was accepted for a database holding encrypted data")
		}

		// Rotation: the new key goes first; a fresh vault (a restarted process) re-wraps.
		newLine := mustKeyLine(t)
		both := mustKeyring(t, newLine, oldLine)
		rotator, err := secrets.NewVault(both, db.DataKeys())
		if err != nil {
			t.Fatal(err)
		}
		n, err := rotator.Rotate(ctx)
		if err != nil || n != 2 {
			t.Fatalf("Rotate = %d, %v; want 2", n, err)
		}
		onlyNew, err := secrets.NewVault(mustKeyring(t, newLine), db.DataKeys())
		if err != nil {
			t.Fatal(err)
		}
		got, err := onlyNew.Open(ctx, a.ID, sealed)
		if err != nil || string(got) != "sk-live-openai-key" {
			t.Fatalf("Open after rotation with only the new key = %q, %v", got, err)
		}
		if err := secrets.CheckKeyringAvailable(ctx, db.DataKeys(), mustKeyring(t, oldLine)); err == nil {
			t.Fatal("a keyring lacking the key in use was accepted")
		}
	})
}
