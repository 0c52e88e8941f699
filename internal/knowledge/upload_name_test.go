package knowledge

import (
	"strings"
	"testing"
)

func TestUploadName(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"plain", "prices.pdf", "prices.pdf"},
		{"unix path", "../../etc/passwd", "passwd"},
		{"windows path", `C:\Users\ann\prices.md`, "prices.md"},
		{"control characters", "pri\x00ces\n.txt", "prices.txt"},
		{"bidi override", "invoice\u202Etxt.exe", "invoicetxt.exe"},
		{"nothing left", "..", "upload"},
		{"empty", "", "upload"},
		{"long name cut on a character", strings.Repeat("é", 150) + ".txt", strings.Repeat("é", 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UploadName(tt.raw); got != tt.want {
				t.Fatalf("UploadName(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
	for name, want := range map[string]string{"a.PDF": "pdf", "b.markdown": "markdown", "c.exe": "", "d": ""} {
		if got := UploadKind(name); got != want {
			t.Errorf("UploadKind(%q) = %q, want %q", name, got, want)
		}
	}
}
