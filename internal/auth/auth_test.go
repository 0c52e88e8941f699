package auth

import (
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
)

func TestPasswordHashing(t *testing.T) {
	long := strings.Repeat("correct horse ", 5) + "ünïcødé" // 77 runes: well past 64
	h, err := HashPassword(long)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash = %q; want argon2id with ASVS parameters", h)
	}
	tests := []struct {
		name  string
		try   string
		match bool
	}{
		{"exact", long, true},
		{"truncated to 64 bytes", long[:64], false},
		{"trailing space", long + " ", false},
		{"case changed", strings.ToUpper(long), false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(h, tt.try)
			if err != nil || ok != tt.match {
				t.Fatalf("VerifyPassword = %v, %v; want %v", ok, err, tt.match)
			}
		})
	}
	if _, err := VerifyPassword("$2a$10$bcrypt", long); err == nil {
		t.Fatal("a non-argon2id hash verified without error")
	}
}

func TestPasswordPolicy(t *testing.T) {
	tests := []struct {
		name, pw string
		ok       bool
	}{
		{"too short", "short1!", false},
		{"common", "Password1234", false},
		{"common lower", "qwertyuiop123", false},
		{"too long", strings.Repeat("x", MaxPasswordBytes+1), false},
		{"invalid utf8", "abcdefghijk\xff", false},
		{"fine", "tangerine-bicycle-42", true},
		{"64 chars", strings.Repeat("abcdefgh", 8), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPasswordPolicy(tt.pw)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckPasswordPolicy = %v; want ok=%v", err, tt.ok)
			}
			if err != nil && porthole.ErrorCode(err) != porthole.EINVALID {
				t.Fatalf("code = %s", porthole.ErrorCode(err))
			}
		})
	}
}

func TestAPIKeyRoundTrip(t *testing.T) {
	org := porthole.NewID()
	key, prefix, hash := NewAPIKey(org)
	if !strings.HasPrefix(key, prefix) || strings.Contains(prefix, key[len(prefix):]) {
		t.Fatalf("prefix %q of key %q", prefix, key)
	}
	gotOrg, gotHash, ok := ParseAPIKey(key)
	if !ok || gotOrg != org || string(gotHash) != string(hash) {
		t.Fatalf("ParseAPIKey = %q, %x, %v", gotOrg, gotHash, ok)
	}
	for _, bad := range []string{"", "ph_", key[:len(key)-1], key + "x", "xx" + key[2:], strings.Replace(key, "_", "-", 1)} {
		if _, _, ok := ParseAPIKey(bad); ok {
			t.Fatalf("ParseAPIKey(%q) accepted", bad)
		}
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	h, err := HashPassword("tangerine-bicycle-42")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := VerifyPassword(h, "tangerine-bicycle-42"); !ok {
			b.Fatal("no match")
		}
	}
}

func TestCommonPasswordShapesRefused(t *testing.T) {
	tests := []struct {
		pw     string
		common bool
	}{
		{"Password2026!!", true},
		{"Welcome12345!", true},
		{"iloveyou123456", true},
		{"MonkeyDragon99", true},
		{"!!Football1987", true},
		{"aaaaaaaaaaaaaa", true},
		{"abcabcabcabcabc", true},
		{"121212121212", true},
		{"1234567890123", true},
		{"qwertyuiop123", true},
		{"poiuytrewq!!!", true},
		{"abcdefghijklm", true},
		{"tangerine-bicycle-42", false},
		{"correct staple horse battery", false},
		{"Mz9!vQ2#pL7x", false},
		{"password-manager-is-great", false},
	}
	for _, tt := range tests {
		if got := isCommonPassword(tt.pw); got != tt.common {
			t.Errorf("isCommonPassword(%q) = %v, want %v", tt.pw, got, tt.common)
		}
	}
}
