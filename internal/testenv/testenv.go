// Package testenv tells tests which outside services they may use. A test
// that needs a service the machine lacks is skipped with the reason, unless
// PORTHOLE_TEST_REQUIRE_SERVICES=1 (set by CI), when it fails instead.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireServices reports whether CI asked that no service-backed test skip.
func RequireServices() bool { return os.Getenv("PORTHOLE_TEST_REQUIRE_SERVICES") == "1" }

// Missing skips tb with reason, or fails it when services are required.
func Missing(tb testing.TB, reason string) {
	tb.Helper()
	if RequireServices() {
		tb.Fatalf("required service missing (PORTHOLE_TEST_REQUIRE_SERVICES=1): %s", reason)
	}
	tb.Skip(reason)
}

// PostgresURL returns PORTHOLE_TEST_POSTGRES_URL or skips tb.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("PORTHOLE_TEST_POSTGRES_URL")
	if u == "" {
		Missing(tb, "PORTHOLE_TEST_POSTGRES_URL is not set")
	}
	return u
}

// RedisURL returns PORTHOLE_TEST_REDIS_URL or skips tb.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("PORTHOLE_TEST_REDIS_URL")
	if u == "" {
		Missing(tb, "PORTHOLE_TEST_REDIS_URL is not set")
	}
	return u
}

// ChromiumPath returns the path of a Chromium binary (PORTHOLE_TEST_CHROMIUM,
// else chromium or chromium-browser on PATH) or skips tb.
func ChromiumPath(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("PORTHOLE_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Missing(tb, "no chromium binary on PATH (set PORTHOLE_TEST_CHROMIUM)")
	return ""
}
