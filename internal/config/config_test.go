package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustLoad(tb testing.TB, args []string, env map[string]string) (*Config, error) {
	tb.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		tb.Fatalf("parse %v: %v", args, err)
	}
	return f.Load(func(k string) string { return env[k] })
}

func TestDefaults(t *testing.T) {
	c, err := mustLoad(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DataDir != "./porthole-data" || c.DatabaseURL != "" || c.MetricsAddr != "" {
		t.Fatalf("defaults = %+v", c)
	}
	if c.PublicURL != "http://127.0.0.1:8080" || c.MasterKeyFile != filepath.Join("porthole-data", "master.key") {
		t.Fatalf("derived defaults = %q %q", c.PublicURL, c.MasterKeyFile)
	}
	if c.ShutdownTimeout != 15*time.Second || c.PublicHTTPS() || !c.EmbeddedDefault() {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestPrecedenceFlagsOverEnvOverFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "porthole.json")
	if err := os.WriteFile(file, []byte(`{"addr":"127.0.0.1:7001","log_level":"warn","data_dir":"/from/file","trusted_proxies":["10.0.0.0/8"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PORTHOLE_CONFIG": file, "PORTHOLE_ADDR": "127.0.0.1:7002", "PORTHOLE_LOG_LEVEL": "debug"}
	c, err := mustLoad(t, []string{"--addr", "127.0.0.1:7003"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7003" {
		t.Errorf("addr = %q; the flag must win", c.Addr)
	}
	if c.LogLevel != "debug" {
		t.Errorf("log level = %q; env must beat the file", c.LogLevel)
	}
	if c.DataDir != "/from/file" {
		t.Errorf("data dir = %q; the file must beat the default", c.DataDir)
	}
	if len(c.TrustedProxies) != 1 || c.TrustedProxies[0].String() != "10.0.0.0/8" {
		t.Errorf("trusted proxies = %v", c.TrustedProxies)
	}
}

func TestInvalidSettingNamesIt(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		names string
	}{
		{name: "bad addr flag", args: []string{"--addr", "nonsense"}, names: "addr (flag --addr)"},
		{name: "bad addr env", env: map[string]string{"PORTHOLE_ADDR": "x:y:z"}, names: "addr (env PORTHOLE_ADDR)"},
		{name: "bad database url", args: []string{"--database-url", "mysql://x"}, names: "database-url"},
		{name: "bad public url", args: []string{"--public-url", "https://x/path"}, names: "public-url"},
		{name: "bad log level", env: map[string]string{"PORTHOLE_LOG_LEVEL": "loud"}, names: "log-level"},
		{name: "bad proxies", args: []string{"--trusted-proxies", "10.0.0.0/99"}, names: "trusted-proxies"},
		{name: "wildcard cors", args: []string{"--cors-origins", "*"}, names: "cors-origins"},
		{name: "null cors", args: []string{"--cors-origins", "null"}, names: "cors-origins"},
		{name: "bad body cap", args: []string{"--max-body-bytes", "12"}, names: "max-body-bytes"},
		{name: "bad timeout", args: []string{"--shutdown-timeout", "forever"}, names: "shutdown-timeout"},
		{name: "bad demo", args: []string{"--demo=maybe"}, names: "demo"},
		{name: "missing file", env: map[string]string{"PORTHOLE_CONFIG": "/nonexistent/porthole.json"}, names: "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mustLoad(t, tt.args, tt.env)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.names) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q does not name %q on one line", err, tt.names)
			}
		})
	}
}

func TestConfigFileRefusesUnknownKeysAndJunk(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown key": `{"adress":"127.0.0.1:1"}`,
		"not json":    `addr = "x"`,
		"bad type":    `{"addr":{"host":"x"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".json")
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := mustLoad(t, []string{"--config", p}, nil)
			if err == nil || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error = %v; want one line", err)
			}
		})
	}
}

func TestMasterKeyIsNeverAFlag(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	RegisterFlags(fs)
	if fs.Lookup("master-key") != nil {
		t.Fatal("--master-key exists; secrets on the command line show in ps")
	}
	c, err := mustLoad(t, nil, map[string]string{"PORTHOLE_MASTER_KEY": "k1:abc"})
	if err != nil || c.MasterKey != "k1:abc" {
		t.Fatalf("env master key = %q, %v", c.MasterKey, err)
	}
}
