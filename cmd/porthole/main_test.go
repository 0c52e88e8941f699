package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/store/storetest"
)

// runCmd runs the program with args and stdin, returning exit code, stdout, stderr.
func runCmd(tb testing.TB, env map[string]string, stdin string, args ...string) (int, string, string) {
	tb.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs `porthole serve` in the background and waits for /healthz.
func startServe(tb testing.TB, env map[string]string, args ...string) (addr string, stop func() (int, string)) {
	tb.Helper()
	addr = freeAddr(tb)
	ctx, cancel := context.WithCancel(context.Background())
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", addr}, args...), strings.NewReader(""), io.Discard, &errb, func(k string) string { return env[k] })
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case code := <-done:
			cancel()
			tb.Fatalf("serve exited with %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			tb.Fatalf("serve did not come up: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var once bool
	stop = func() (int, string) {
		if once {
			return 0, errb.String()
		}
		once = true
		cancel() // what SIGTERM does through signal.NotifyContext
		select {
		case code := <-done:
			return code, errb.String()
		case <-time.After(30 * time.Second):
			tb.Fatal("serve did not stop within 30s of SIGTERM")
			return -1, ""
		}
	}
	tb.Cleanup(func() { stop() })
	return addr, stop
}

func TestServeOnEmbeddedSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "porthole-data")
	addr, stop := startServe(t, nil, "--data-dir", dir)

	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	key, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil || key.Mode().Perm() != 0o600 {
		t.Fatalf("master key mode = %v, %v; want 0600", key, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "porthole.db-wal")); err != nil {
		t.Fatalf("SQLite is not in WAL mode: %v", err)
	}
	for _, name := range []string{"porthole.db", "porthole.db-wal", "porthole.db-shm"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode = %v, %v; want 0600", name, fi.Mode().Perm(), err)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s = %v, %v", path, resp, err)
		}
		resp.Body.Close()
	}
	code, logs := stop()
	if code != 0 {
		t.Fatalf("serve exited %d after SIGTERM: %s", code, logs)
	}
	if !strings.Contains(logs, "shutting down") {
		t.Fatalf("no graceful shutdown in the logs: %s", logs)
	}
}

func TestServeGracefulShutdownDrainsRequests(t *testing.T) {
	dir := t.TempDir()
	_, key := mustOwnerAndKey(t, dir)
	addr, stop := startServe(t, nil, "--data-dir", dir)
	// A client is mid-request (its handler is reading the body) when SIGTERM
	// arrives: the request completes before the server exits.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"name":"Drained"}`
	fmt.Fprintf(conn, "POST /api/v1/chatbots HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		key, len(body), body[:5])
	time.Sleep(200 * time.Millisecond)
	stopped := make(chan int, 1)
	go func() { code, _ := stop(); stopped <- code }()
	time.Sleep(200 * time.Millisecond)
	fmt.Fprint(conn, body[5:])
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 201") {
		t.Fatalf("in-flight request got %q, %v", buf[:n], err)
	}
	if code := <-stopped; code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// mustOwnerAndKey creates an owner and an API key in dir's database.
func mustOwnerAndKey(tb testing.TB, dir string) (orgID, key string) {
	tb.Helper()
	code, out, errs := runCmd(tb, nil, "tangerine-bicycle-42\n", "admin", "create-owner", "--data-dir", dir, "--email", "owner@example.com", "--org", "Drain Co")
	if code != 0 {
		tb.Fatalf("create-owner: %s", errs)
	}
	var owner struct {
		OrganizationID string `json:"organization_id"`
	}
	json.Unmarshal([]byte(out), &owner)
	code, out, errs = runCmd(tb, nil, "", "admin", "create-api-key", "--data-dir", dir, "--org", owner.OrganizationID, "--name", "k")
	if code != 0 {
		tb.Fatalf("create-api-key: %s", errs)
	}
	var k struct{ Key string }
	json.Unmarshal([]byte(out), &k)
	return owner.OrganizationID, k.Key
}

func TestMetricsOnSeparateAddress(t *testing.T) {
	metrics := freeAddr(t)
	addr, _ := startServe(t, nil, "--data-dir", t.TempDir(), "--metrics-addr", metrics)
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("metrics = %v, %v", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "porthole_http_requests_total") {
		t.Fatalf("metrics body lacks porthole_http_requests_total")
	}
	resp, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Fatal("/metrics is served on the public address")
	}
}

func TestServeOnPostgres(t *testing.T) {
	url := storetest.MustPostgresSchemaURL(t)
	addr, stop := startServe(t, nil, "--data-dir", t.TempDir(), "--database-url", url)
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz on PostgreSQL = %v, %v", resp, err)
	}
	resp.Body.Close()
	if code, logs := stop(); code != 0 || !strings.Contains(logs, "PostgreSQL") {
		t.Fatalf("exit %d: %s", code, logs)
	}
}

func TestStartupRefusesBadInput(t *testing.T) {
	corruptDir := t.TempDir()
	junk := bytes.Repeat([]byte("garbage!"), 512)
	if err := os.WriteFile(filepath.Join(corruptDir, "porthole.db"), junk, 0o600); err != nil {
		t.Fatal(err)
	}
	keylessDir := t.TempDir()
	// A data dir that holds encrypted data, then loses its master key.
	{
		code, _, errs := runCmd(t, nil, "", "migrate", "--data-dir", keylessDir)
		if code != 0 {
			t.Fatal(errs)
		}
		addr, stop := startServe(t, nil, "--data-dir", keylessDir)
		_ = addr
		stop()
		mustSealSomething(t, keylessDir)
		if err := os.Remove(filepath.Join(keylessDir, "master.key")); err != nil {
			t.Fatal(err)
		}
	}
	badConfig := filepath.Join(t.TempDir(), "porthole.json")
	os.WriteFile(badConfig, []byte(`{"addr": `), 0o600)

	tests := []struct {
		name string
		env  map[string]string
		args []string
		says string
	}{
		{name: "invalid flag value", args: []string{"serve", "--addr", "nowhere"}, says: "addr"},
		{name: "invalid env value", env: map[string]string{"PORTHOLE_LOG_FORMAT": "xml"}, args: []string{"serve"}, says: "log-format"},
		{name: "malformed config file", args: []string{"serve", "--config", badConfig}, says: "config"},
		{name: "unreachable database", args: []string{"serve", "--data-dir", t.TempDir(), "--database-url", "postgres://nobody@127.0.0.1:1/x?connect_timeout=2"}, says: "PostgreSQL"},
		{name: "corrupt sqlite file", args: []string{"serve", "--data-dir", corruptDir}, says: "not a SQLite database"},
		{name: "missing master key for encrypted data", args: []string{"serve", "--data-dir", keylessDir}, says: "master key"},
		{name: "bad master key in env", env: map[string]string{"PORTHOLE_MASTER_KEY": "k1:tooshort"}, args: []string{"serve", "--data-dir", t.TempDir()}, says: "master"},
		{name: "unknown command", args: []string{"frobnicate"}, says: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runCmd(t, tt.env, "", tt.args...)
			if code == 0 {
				t.Fatalf("exit 0; want a refusal")
			}
			var reason string
			for _, line := range strings.Split(errs, "\n") {
				if strings.HasPrefix(line, "porthole: ") {
					reason = line
				}
			}
			if !strings.Contains(strings.ToLower(reason), strings.ToLower(tt.says)) {
				t.Fatalf("the one-line reason %q does not name %q (all: %s)", reason, tt.says, errs)
			}
			if strings.Contains(errs, "panic") || strings.Contains(errs, "goroutine ") {
				t.Fatalf("panic: %s", errs)
			}
		})
	}
	after, _ := os.ReadFile(filepath.Join(corruptDir, "porthole.db"))
	if sha256.Sum256(after) != sha256.Sum256(junk) {
		t.Fatal("a corrupt database file was rewritten")
	}
	if _, err := os.Stat(filepath.Join(keylessDir, "master.key")); err == nil {
		t.Fatal("a new master key was generated over existing encrypted data")
	}
}

func TestAdminCommands(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runCmd(t, nil, "tangerine-bicycle-42\n", "admin", "create-owner", "--data-dir", dir, "--email", "Owner@Example.com", "--org", "Smile Clinic")
	if code != 0 {
		t.Fatalf("create-owner: %d %s", code, errs)
	}
	var owner struct {
		OrganizationID string `json:"organization_id"`
		UserID         string `json:"user_id"`
	}
	if err := json.Unmarshal([]byte(out), &owner); err != nil || owner.OrganizationID == "" || owner.UserID == "" || strings.Count(out, "\n") != 1 {
		t.Fatalf("create-owner printed %q", out)
	}
	if code, _, errs := runCmd(t, nil, "short\n", "admin", "create-owner", "--data-dir", dir, "--email", "b@example.com", "--org", "B"); code == 0 || !strings.Contains(errs, "password") {
		t.Fatalf("weak password accepted: %d %s", code, errs)
	}
	if code, _, errs := runCmd(t, nil, "tangerine-bicycle-42\n", "admin", "create-owner", "--data-dir", dir, "--email", "owner@example.com", "--org", "Again"); code == 0 || !strings.Contains(errs, "exists") {
		t.Fatalf("duplicate owner accepted: %d %s", code, errs)
	}

	code, out, errs = runCmd(t, nil, "", "admin", "create-api-key", "--data-dir", dir, "--org", owner.OrganizationID, "--name", "CI", "--scopes", "chatbots:write")
	if code != 0 {
		t.Fatalf("create-api-key: %d %s", code, errs)
	}
	var key struct{ Key, Prefix string }
	if err := json.Unmarshal([]byte(out), &key); err != nil || !strings.HasPrefix(key.Key, key.Prefix) || key.Prefix == key.Key {
		t.Fatalf("create-api-key printed %q", out)
	}
	db, _ := os.ReadFile(filepath.Join(dir, "porthole.db"))
	wal, _ := os.ReadFile(filepath.Join(dir, "porthole.db-wal"))
	if bytes.Contains(db, []byte(key.Key)) || bytes.Contains(wal, []byte(key.Key)) {
		t.Fatal("the API key is stored in clear")
	}
	if code, _, _ := runCmd(t, nil, "", "admin", "create-api-key", "--data-dir", dir, "--org", owner.OrganizationID, "--name", "x", "--scopes", "root"); code == 0 {
		t.Fatal("unknown scope accepted")
	}

	// The key works against the running server.
	addr, _ := startServe(t, nil, "--data-dir", dir)
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/chatbots", strings.NewReader(`{"name":"Front desk"}`))
	req.Header.Set("Authorization", "Bearer "+key.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create chatbot with the key = %v, %v", resp, err)
	}
	resp.Body.Close()

	code, _, errs = runCmd(t, nil, "a-brand-new-passphrase\n", "admin", "reset-password", "--data-dir", dir, "--email", "owner@example.com")
	if code != 0 {
		t.Fatalf("reset-password: %d %s", code, errs)
	}
	if code, _, _ := runCmd(t, nil, "a-brand-new-passphrase\n", "admin", "reset-password", "--data-dir", dir, "--email", "nobody@example.com"); code == 0 {
		t.Fatal("reset-password for an unknown email succeeded")
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, nil, "", "version")
	if code != 0 || !strings.HasPrefix(out, "porthole ") {
		t.Fatalf("version = %d %q", code, out)
	}
}
