package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// mustToken signs claims with the given method, key and extra headers.
func mustToken(tb testing.TB, method jwt.SigningMethod, key any, claims jwt.Claims, headers map[string]any) string {
	tb.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range headers {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return s
}

func TestAccessTokenVerifierRefusals(t *testing.T) {
	h := mustSQLiteHarness(t)
	ctx := context.Background()
	ks := h.svc.Keys()
	signer, ok := ks.signer()
	if !ok {
		t.Fatal("no signer")
	}
	now := h.clock.Now()
	good := func() AccessClaims {
		return AccessClaims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: h.svc.Issuer(), Subject: porthole.NewID(), Audience: jwt.ClaimStrings{TokenAudience},
				ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: porthole.NewID(),
			},
			SessionID: porthole.NewID(),
		}
	}
	kid := map[string]any{"kid": signer.kid}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{"kid": signer.kid}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(signer.public)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	mod := func(f func(*AccessClaims)) AccessClaims { c := good(); f(&c); return c }

	valid := mustToken(t, jwt.SigningMethodRS256, signer.private, good(), kid)
	if _, err := ks.VerifyAccessToken(ctx, valid, h.svc.Issuer()); err != nil {
		t.Fatalf("a good token is refused: %v", err)
	}
	parts := strings.Split(valid, ".")

	tests := []struct {
		name  string
		token string
	}{
		{"alg none", mustToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good(), kid)},
		{"HS256 made with the public key", mustToken(t, jwt.SigningMethodHS256, pubPEM, good(), kid)},
		{"HS256 made with the public key DER", mustToken(t, jwt.SigningMethodHS256, pubDER, good(), kid)},
		{"RS512 with the right key", mustToken(t, jwt.SigningMethodRS512, signer.private, good(), kid)},
		{"PS256 with the right key", mustToken(t, jwt.SigningMethodPS256, signer.private, good(), kid)},
		{"unknown kid", mustToken(t, jwt.SigningMethodRS256, stranger, good(), map[string]any{"kid": "not-a-key-we-know"})},
		{"no kid", mustToken(t, jwt.SigningMethodRS256, signer.private, good(), nil)},
		{"our kid, stranger's key", mustToken(t, jwt.SigningMethodRS256, stranger, good(), kid)},
		{"jku header", mustToken(t, jwt.SigningMethodRS256, signer.private, good(), with(map[string]any{"jku": "https://evil.example/jwks.json"}))},
		{"jwk header", mustToken(t, jwt.SigningMethodRS256, signer.private, good(), with(map[string]any{"jwk": map[string]any{"kty": "RSA"}}))},
		{"x5u header", mustToken(t, jwt.SigningMethodRS256, signer.private, good(), with(map[string]any{"x5u": "https://evil.example/cert.pem"}))},
		{"x5c header", mustToken(t, jwt.SigningMethodRS256, signer.private, good(), with(map[string]any{"x5c": []string{"MIIB"}}))},
		{"wrong audience", mustToken(t, jwt.SigningMethodRS256, signer.private, mod(func(c *AccessClaims) { c.Audience = jwt.ClaimStrings{"other-api"} }), kid)},
		{"no audience", mustToken(t, jwt.SigningMethodRS256, signer.private, mod(func(c *AccessClaims) { c.Audience = nil }), kid)},
		{"wrong issuer", mustToken(t, jwt.SigningMethodRS256, signer.private, mod(func(c *AccessClaims) { c.Issuer = "https://evil.example" }), kid)},
		{"expired", mustToken(t, jwt.SigningMethodRS256, signer.private, mod(func(c *AccessClaims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(-20 * time.Minute))
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-5 * time.Minute))
		}), kid)},
		{"no expiry", mustToken(t, jwt.SigningMethodRS256, signer.private, mod(func(c *AccessClaims) { c.ExpiresAt = nil }), kid)},
		{"lifetime over 15 minutes", mustToken(t, jwt.SigningMethodRS256, signer.private, mod(func(c *AccessClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(time.Hour)) }), kid)},
		{"no session id", mustToken(t, jwt.SigningMethodRS256, signer.private, mod(func(c *AccessClaims) { c.SessionID = "" }), kid)},
		{"tampered payload", parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2]},
		{"tampered signature", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4] + "AAAA"},
		{"200 KB of dots", strings.Repeat(".", 200<<10)},
		{"oversized header", parts[0] + strings.Repeat("A", MaxTokenBytes) + "." + parts[1] + "." + parts[2]},
		{"two parts", parts[0] + "." + parts[1]},
		{"empty", ""},
		{"garbage", "eyJ.eyJ.xyz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ks.VerifyAccessToken(ctx, tt.token, h.svc.Issuer())
			wantCode(t, err, porthole.EUNAUTHORIZED)
			if porthole.ErrorMessage(err) != "invalid access token" {
				t.Fatalf("message %q tells the attacker why", porthole.ErrorMessage(err))
			}
			// Through Authenticate too, as a transport would call it.
			_, err = h.svc.Authenticate(ctx, Credentials{Authorization: "Bearer " + tt.token})
			wantCode(t, err, porthole.EUNAUTHORIZED)
		})
	}
}

func TestOversizedTokenRefusedBeforeParsing(t *testing.T) {
	// A key set with no keys and no store: if the 200 KB token reached the
	// parser or the key lookup, the nil store would panic.
	ks := &KeySet{now: time.Now, keys: map[string]*signingKey{}}
	_, err := ks.VerifyAccessToken(context.Background(), strings.Repeat(".", 200<<10), "https://x.example")
	wantCode(t, err, porthole.EUNAUTHORIZED)
	if !strings.Contains(err.Error(), "too long") {
		t.Fatalf("refused for another reason: %v", err)
	}
}

func TestSigningKeyRotationOverlap(t *testing.T) {
	h := mustSQLiteHarness(t)
	ctx := context.Background()
	org := h.mustOrg(t, "Org")
	h.mustMember(t, org.ID, "e@example.com", porthole.RoleOwner)
	before := h.mustLogin(t, "e@example.com")
	oldSigner, _ := h.svc.Keys().signer()

	if err := h.svc.Keys().Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	newSigner, _ := h.svc.Keys().signer()
	if newSigner.kid == oldSigner.kid {
		t.Fatal("rotation kept the old signer")
	}
	var jwks struct {
		Keys []struct{ Kid, Kty, Alg, Use, N, E string }
	}
	if err := json.Unmarshal(h.svc.Keys().JWKS(), &jwks); err != nil || len(jwks.Keys) != 2 {
		t.Fatalf("JWKS = %s, %v", h.svc.Keys().JWKS(), err)
	}
	for _, k := range jwks.Keys {
		if k.Kty != "RSA" || k.Alg != "RS256" || k.Use != "sig" || k.N == "" || k.E != "AQAB" {
			t.Fatalf("JWK = %+v", k)
		}
	}
	// The token made before the rotation still verifies (the overlap)...
	h.mustPrincipal(t, Credentials{Authorization: "Bearer " + before.AccessToken})
	after := h.mustLogin(t, "e@example.com")
	h.mustPrincipal(t, Credentials{Authorization: "Bearer " + after.AccessToken})

	// ...and another process (a second service on the same DB) learns the
	// new key by kid without being told.
	h2 := mustHarness(t, h.db)
	h2.clock.t = h.clock.Now()
	h2.mustPrincipal(t, Credentials{Authorization: "Bearer " + after.AccessToken})

	// Once the old key expires, Reload drops it from the JWKS.
	h.clock.Advance(MaxAccessTokenTTL + time.Minute)
	if err := h.svc.Keys().Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(h.svc.Keys().JWKS(), &jwks); err != nil || len(jwks.Keys) != 1 || jwks.Keys[0].Kid != newSigner.kid {
		t.Fatalf("JWKS after expiry = %s", h.svc.Keys().JWKS())
	}
}

func TestSigningKeysNeedTheServerKey(t *testing.T) {
	h := mustSQLiteHarness(t)
	cfg := Config{PublicURL: "https://porthole.example", ServerKey: make([]byte, ServerKeySize), Now: h.clock.Now}
	_, err := New(context.Background(), cfg, Deps{DB: h.db, Limiter: h.svc.limiter})
	if err == nil || !strings.Contains(err.Error(), "cannot be opened") {
		t.Fatalf("a wrong server key opened the signing keys: %v", err)
	}
}

func TestRevokeAccessTokenByJTI(t *testing.T) {
	h := mustSQLiteHarness(t)
	org := h.mustOrg(t, "Org")
	h.mustMember(t, org.ID, "f@example.com", porthole.RoleOwner)
	res := h.mustLogin(t, "f@example.com")
	p := h.mustPrincipal(t, Credentials{Authorization: "Bearer " + res.AccessToken})
	if err := h.svc.RevokeAccessToken(context.Background(), p.TokenID); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.Authenticate(context.Background(), Credentials{Authorization: "Bearer " + res.AccessToken})
	wantCode(t, err, porthole.EUNAUTHORIZED)
	h.mustPrincipal(t, Credentials{Cookie: res.Token}) // the session itself lives on
}

func BenchmarkVerifyAccessToken(b *testing.B) {
	h := mustSQLiteHarness(b)
	org := h.mustOrg(b, "Org")
	h.mustMember(b, org.ID, "bench@example.com", porthole.RoleOwner)
	res := h.mustLogin(b, "bench@example.com")
	ks, iss, ctx := h.svc.Keys(), h.svc.Issuer(), context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ks.VerifyAccessToken(ctx, res.AccessToken, iss); err != nil {
			b.Fatal(err)
		}
	}
}
