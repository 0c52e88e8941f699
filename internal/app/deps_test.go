package app_test

import (
	"go/build"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/porthole-chat/porthole/"

// TestDependencyRule checks the one-way rule of docs/development.md: the
// domain imports only the standard library; services and the store import
// neither net/http nor a transport; nothing below cmd imports the app.
func TestDependencyRule(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..")
	transports := []string{"internal/api", "internal/dashboard", "internal/widget", "internal/app", "internal/httpx"}
	tests := []struct {
		pkg        string
		stdlibOnly bool
		noHTTP     bool
	}{
		{pkg: "internal/porthole", stdlibOnly: true},
		{pkg: "internal/store", noHTTP: true},
		{pkg: "internal/audit", noHTTP: true},
		{pkg: "internal/secrets", noHTTP: true},
		{pkg: "internal/security", noHTTP: true},
		{pkg: "internal/auth", noHTTP: true},
		{pkg: "internal/chat", noHTTP: true},
		{pkg: "internal/assistant", noHTTP: true},
		{pkg: "internal/knowledge", noHTTP: true},
		{pkg: "internal/ratelimit", noHTTP: true},
		{pkg: "internal/pubsub", noHTTP: true},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			p, err := build.ImportDir(filepath.Join(root, tt.pkg), 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range p.Imports {
				if tt.stdlibOnly && strings.Contains(strings.Split(imp, "/")[0], ".") {
					t.Errorf("%s imports %s; the domain imports only the standard library", tt.pkg, imp)
				}
				if tt.noHTTP && imp == "net/http" {
					t.Errorf("%s imports net/http; services never do", tt.pkg)
				}
				for _, tr := range transports {
					if imp == module+tr {
						t.Errorf("%s imports the transport %s", tt.pkg, tr)
					}
				}
			}
		})
	}
}
