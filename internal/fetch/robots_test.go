package fetch_test

import (
	"testing"

	"github.com/porthole-chat/porthole/internal/fetch"
)

func TestRobots(t *testing.T) {
	const file = `# comment
User-agent: *
Disallow: /private
Allow: /private/public
Disallow: /*.pdf$
Disallow: /search?

User-agent: OtherBot
Disallow: /

User-agent: portholebot
User-agent: somebot
Disallow: /bot-only
Allow: /bot-only/ok
Disallow: /tie
Allow: /tie

Sitemap: https://example.com/sitemap.xml
`
	tests := []struct {
		name  string
		agent string
		path  string
		want  bool
	}{
		{"specific group chosen", "PortholeBot/1.0", "/private", true},
		{"specific disallow", "PortholeBot/1.0", "/bot-only/page", false},
		{"longest allow wins", "PortholeBot/1.0", "/bot-only/ok/x", true},
		{"tie goes to allow", "PortholeBot", "/tie", true},
		{"star group for others", "Mozilla", "/private/x", false},
		{"star longest allow", "Mozilla", "/private/public/x", true},
		{"wildcard and anchor", "Mozilla", "/docs/a.pdf", false},
		{"anchor not at end", "Mozilla", "/docs/a.pdf?x=1", true},
		{"query prefix", "Mozilla", "/search?q=1", false},
		{"root allowed", "Mozilla", "/", true},
		{"other bot blocked", "OtherBot", "/anything", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fetch.ParseRobots([]byte(file), tt.agent)
			if got := r.Allowed(tt.path); got != tt.want {
				t.Fatalf("Allowed(%q) as %q = %v, want %v", tt.path, tt.agent, got, tt.want)
			}
		})
	}
	r := fetch.ParseRobots([]byte(file), "x")
	if len(r.Sitemaps) != 1 || r.Sitemaps[0] != "https://example.com/sitemap.xml" {
		t.Fatalf("sitemaps = %v", r.Sitemaps)
	}
	if !fetch.ParseRobots(nil, "x").Allowed("/a") {
		t.Fatal("empty robots.txt must allow everything")
	}
	if fetch.ParseRobots([]byte("User-agent: *\nDisallow: /\n"), "PortholeBot").Allowed("/a") {
		t.Fatal("Disallow: / must block")
	}
}
