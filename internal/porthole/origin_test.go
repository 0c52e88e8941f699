package porthole

import "testing"

func TestNormalizeOrigin(t *testing.T) {
	tests := []struct {
		name, in, want string
		pattern, bad   bool
	}{
		{name: "plain https", in: "https://Example.COM", want: "https://example.com"},
		{name: "default port dropped", in: "https://example.com:443", want: "https://example.com"},
		{name: "http default port", in: "http://example.com:80/", want: "http://example.com"},
		{name: "other port kept", in: "http://localhost:8081", want: "http://localhost:8081"},
		{name: "ip", in: "http://127.0.0.1:8081", want: "http://127.0.0.1:8081"},
		{name: "pattern", in: "https://*.example.com", want: "https://*.example.com", pattern: true},
		{name: "bare star refused", in: "https://*", bad: true},
		{name: "star tld refused", in: "https://*.com", bad: true},
		{name: "path refused", in: "https://example.com/x", bad: true},
		{name: "query refused", in: "https://example.com?a=1", bad: true},
		{name: "credentials refused", in: "https://u:p@example.com", bad: true},
		{name: "javascript refused", in: "javascript:alert(1)", bad: true},
		{name: "null refused", in: "null", bad: true},
		{name: "ftp refused", in: "ftp://example.com", bad: true},
		{name: "empty refused", in: "", bad: true},
		{name: "underscore host refused", in: "https://ex_ample.com", bad: true},
		{name: "bad port", in: "https://example.com:99999", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, pattern, err := NormalizeOrigin(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("NormalizeOrigin(%q) = %q, want error", tt.in, got)
				}
				if ErrorCode(err) != EINVALID {
					t.Fatalf("code = %q, want invalid", ErrorCode(err))
				}
				return
			}
			if err != nil || got != tt.want || pattern != tt.pattern {
				t.Fatalf("NormalizeOrigin(%q) = %q, %v, %v; want %q, %v", tt.in, got, pattern, err, tt.want, tt.pattern)
			}
		})
	}
}

func TestOriginMatches(t *testing.T) {
	exact := AllowedOrigin{Origin: "https://shop.example.com"}
	wild := AllowedOrigin{Origin: "https://*.example.com", Pattern: true}
	tests := []struct {
		name    string
		allowed AllowedOrigin
		origin  string
		want    bool
	}{
		{"exact", exact, "https://shop.example.com", true},
		{"exact other scheme", exact, "http://shop.example.com", false},
		{"exact other port", exact, "https://shop.example.com:8443", false},
		{"exact sub", exact, "https://a.shop.example.com", false},
		{"wild sub", wild, "https://a.example.com", true},
		{"wild deep sub", wild, "https://a.b.example.com", true},
		{"wild apex refused", wild, "https://example.com", false},
		{"wild lookalike", wild, "https://evilexample.com", false},
		{"wild suffix attack", wild, "https://a.example.com.evil.net", false},
		{"wild scheme", wild, "http://a.example.com", false},
		{"wild port", wild, "https://a.example.com:444", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OriginMatches(tt.allowed, tt.origin); got != tt.want {
				t.Fatalf("OriginMatches(%q, %q) = %v, want %v", tt.allowed.Origin, tt.origin, got, tt.want)
			}
		})
	}
}

func TestNewIDIsValidAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if !ValidID(id) {
			t.Fatalf("NewID() = %q is not ValidID", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "x", "' OR 1=1 --", "00000000-0000-0000-0000-00000000000G"} {
		if ValidID(bad) {
			t.Fatalf("ValidID(%q) = true", bad)
		}
	}
}

func TestCompanionOrigin(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"https://smileclinic.com", "https://www.smileclinic.com", true},
		{"https://www.smileclinic.com", "https://smileclinic.com", true},
		{"http://shop.example.co.uk:8080", "http://www.shop.example.co.uk:8080", true},
		{"https://www.com", "", false},
		{"http://localhost:8081", "", false},
		{"http://127.0.0.1:8081", "", false},
		{"http://[::1]:8081", "", false},
		{"https://*.example.com", "", false},
		{"https://intranet", "", false},
	}
	for _, tt := range tests {
		got, ok := CompanionOrigin(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CompanionOrigin(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
