// Package config loads Porthole's one typed Config, once, in main: each
// setting from its flag, else its PORTHOLE_* environment variable, else the
// optional config file, else its default; then validates the whole. An
// invalid setting stops start-up with one line that names it.
package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Config is every setting of a Porthole process.
type Config struct {
	Addr            string         // listen address of the product
	DataDir         string         // holds the SQLite file and generated keys
	DatabaseURL     string         // "" (SQLite in DataDir), sqlite:PATH or postgres://...
	RedisURL        string         // optional; shared limits, pubsub and revocation
	PublicURL       string         // the URL visitors and members reach Porthole at
	Demo            bool           // seed a demo business and serve a demo host page
	DemoAddr        string         // listen address of the demo host page
	MetricsAddr     string         // Prometheus metrics listen address; "" is off
	MasterKeyFile   string         // per-tenant secrets master keys; default DataDir/master.key
	MasterKey       string         // master keys inline (env only, never a flag: flags show in ps)
	AuditKeyFile    string         // the Wake's checkpoint signing key; default DataDir/audit-signing.key
	TrustedProxies  []netip.Prefix // peers whose X-Forwarded-For is believed
	CORSOrigins     []string       // origins allowed to call /api/v1 from a browser
	LogLevel        string         // debug, info, warn, error
	LogFormat       string         // text or json
	MaxBodyBytes    int64          // request body cap
	ShutdownTimeout time.Duration  // how long SIGTERM waits for requests to drain
	SMTPURL         string         // smtp://user:pass@host:port for invitations and resets; "" shows links instead
	// WidgetConnectsPerIP is how many widget socket connects one client IP
	// may make per minute (issue 7: raise it for load tests or big NATs).
	WidgetConnectsPerIP int
	// LLMAllowPrivateBaseURLs lets provider base URLs reach loopback and
	// private addresses on any port (issue 4); off, they reach public
	// addresses on ports 80 and 443 only. Metadata addresses never.
	LLMAllowPrivateBaseURLs bool
	ConfigFile              string // where the file settings came from, if any
}

// setting is one row of the settings table: its name gives the flag
// (--name), the environment variable (PORTHOLE_NAME with - as _) and the
// file key (name with - as _).
type setting struct {
	name, usage, def string
	flagOK           bool // false: never a flag (secrets)
	isBool           bool
	apply            func(c *Config, v string) error
}

var settings = []setting{
	{name: "addr", def: "127.0.0.1:8080", usage: "listen address", flagOK: true, apply: func(c *Config, v string) error {
		c.Addr = v
		return checkHostPort(v)
	}},
	{name: "data-dir", def: "./porthole-data", usage: "data directory (SQLite file, generated keys)", flagOK: true, apply: func(c *Config, v string) error {
		if v == "" {
			return errors.New("must not be empty")
		}
		c.DataDir = v
		return nil
	}},
	{name: "database-url", usage: "database: sqlite:PATH or postgres://... (default: SQLite in the data dir)", flagOK: true, apply: func(c *Config, v string) error {
		if v != "" && !strings.HasPrefix(v, "sqlite:") && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
			return errors.New("must start with sqlite:, postgres:// or postgresql://")
		}
		c.DatabaseURL = v
		return nil
	}},
	{name: "redis-url", usage: "Redis URL for shared limits and pubsub (optional)", flagOK: true, apply: func(c *Config, v string) error {
		if v != "" && !strings.HasPrefix(v, "redis://") && !strings.HasPrefix(v, "rediss://") {
			return errors.New("must start with redis:// or rediss://")
		}
		c.RedisURL = v
		return nil
	}},
	{name: "public-url", usage: "public URL of Porthole (default http://ADDR)", flagOK: true, apply: func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return errors.New("must be http(s)://host[:port] with no path")
		}
		c.PublicURL = strings.TrimSuffix(v, "/")
		return nil
	}},
	{name: "demo", def: "false", usage: "seed a demo business and serve a demo host page", flagOK: true, isBool: true, apply: func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.Demo = b
		return boolErr(err)
	}},
	{name: "demo-addr", def: "127.0.0.1:8081", usage: "listen address of the demo host page", flagOK: true, apply: func(c *Config, v string) error {
		c.DemoAddr = v
		return checkHostPort(v)
	}},
	{name: "metrics-addr", usage: "listen address for Prometheus /metrics (default off)", flagOK: true, apply: func(c *Config, v string) error {
		c.MetricsAddr = v
		if v == "" {
			return nil
		}
		return checkHostPort(v)
	}},
	{name: "master-key-file", usage: "file of master keys for per-tenant secrets (default DATA_DIR/master.key)", flagOK: true, apply: func(c *Config, v string) error {
		c.MasterKeyFile = v
		return nil
	}},
	{name: "master-key", usage: "master keys inline, ID:BASE64 per line (environment only)", apply: func(c *Config, v string) error {
		c.MasterKey = v
		return nil
	}},
	{name: "audit-key-file", usage: "audit checkpoint signing key (default DATA_DIR/audit-signing.key)", flagOK: true, apply: func(c *Config, v string) error {
		c.AuditKeyFile = v
		return nil
	}},
	{name: "trusted-proxies", usage: "comma-separated CIDRs whose X-Forwarded-For is trusted", flagOK: true, apply: func(c *Config, v string) error {
		c.TrustedProxies = nil
		for _, s := range splitList(v) {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return fmt.Errorf("%q is not a CIDR or IP", s)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			c.TrustedProxies = append(c.TrustedProxies, p.Masked())
		}
		return nil
	}},
	{name: "cors-origins", usage: "comma-separated origins allowed to call /api/v1 from browsers", flagOK: true, apply: func(c *Config, v string) error {
		c.CORSOrigins = nil
		for _, s := range splitList(v) {
			o, pattern, err := porthole.NormalizeOrigin(s)
			if err != nil || pattern {
				return fmt.Errorf("%q is not an exact origin (scheme://host[:port], no wildcard)", s)
			}
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
		return nil
	}},
	{name: "log-level", def: "info", usage: "debug, info, warn or error", flagOK: true, apply: func(c *Config, v string) error {
		switch v {
		case "debug", "info", "warn", "error":
			c.LogLevel = v
			return nil
		}
		return errors.New("must be debug, info, warn or error")
	}},
	{name: "log-format", def: "text", usage: "text or json", flagOK: true, apply: func(c *Config, v string) error {
		if v != "text" && v != "json" {
			return errors.New("must be text or json")
		}
		c.LogFormat = v
		return nil
	}},
	{name: "max-body-bytes", def: "1048576", usage: "request body cap in bytes", flagOK: true, apply: func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1024 || n > 1<<30 {
			return errors.New("must be a whole number of bytes from 1024 to 1073741824")
		}
		c.MaxBodyBytes = n
		return nil
	}},
	{name: "shutdown-timeout", def: "15s", usage: "how long SIGTERM waits for requests to drain", flagOK: true, apply: func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 10*time.Minute {
			return errors.New("must be a duration from 1ms to 10m, like 15s")
		}
		c.ShutdownTimeout = d
		return nil
	}},
	{name: "smtp-url", usage: "smtp://user:pass@host:port for mail; empty shows links to the inviter instead", flagOK: true, apply: func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
				return errors.New("must be smtp://user:pass@host:port")
			}
		}
		c.SMTPURL = v
		return nil
	}},
	// Widget connect limit (issue 7 measurement): an operator setting for load
	// tests and visitors behind one large NAT.
	{name: "widget-connect-limit-per-ip", def: "30", usage: "widget socket connects allowed per client IP per minute", flagOK: true, apply: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10_000_000 {
			return errors.New("must be a whole number from 1 to 10000000")
		}
		c.WidgetConnectsPerIP = n
		return nil
	}},
	// Issue 4: the operator's exception to the SSRF guard on provider base
	// URLs, for a model server on their own network.
	{name: "llm-allow-private-base-urls", def: "false", usage: "let chatbots' provider base URLs reach loopback and private addresses (a local Ollama or vLLM); metadata addresses stay refused", flagOK: true, isBool: true, apply: func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.LLMAllowPrivateBaseURLs = b
		return boolErr(err)
	}},
}

func boolErr(err error) error {
	if err != nil {
		return errors.New("must be true or false")
	}
	return nil
}

func checkHostPort(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return errors.New("must be host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("has an invalid port")
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, "/ ") {
		return errors.New("has an invalid host")
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func envName(name string) string {
	return "PORTHOLE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func fileKey(name string) string { return strings.ReplaceAll(name, "-", "_") }

// Flags registers every setting's flag, plus --config, on fs. Call Load
// after fs.Parse.
type Flags struct {
	fs     *flag.FlagSet
	values map[string]*string
	config *string
}

// RegisterFlags adds the settings' flags to fs.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, values: map[string]*string{}}
	f.config = fs.String("config", "", "optional JSON config file (env PORTHOLE_CONFIG)")
	for _, s := range settings {
		if !s.flagOK {
			continue
		}
		usage := s.usage + " (env " + envName(s.name) + ")"
		if s.isBool {
			b := new(boolValue)
			fs.Var(b, s.name, usage)
			f.values[s.name] = &b.s
			continue
		}
		f.values[s.name] = fs.String(s.name, s.def, usage)
	}
	return f
}

type boolValue struct{ s string }

func (b *boolValue) String() string     { return b.s }
func (b *boolValue) Set(v string) error { b.s = v; return nil }
func (b *boolValue) IsBoolFlag() bool   { return true }

// Load builds the Config from the parsed flags, the environment (getenv) and
// the config file named by --config or PORTHOLE_CONFIG.
func (f *Flags) Load(getenv func(string) string) (*Config, error) {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })

	path := *f.config
	if !set["config"] {
		path = getenv("PORTHOLE_CONFIG")
	}
	fileValues := map[string]string{}
	if path != "" {
		var err error
		if fileValues, err = readFile(path); err != nil {
			return nil, err
		}
	}
	c := &Config{ConfigFile: path}
	for _, s := range settings {
		v, source := s.def, "default"
		if fv, ok := fileValues[fileKey(s.name)]; ok {
			v, source = fv, "config file key "+fileKey(s.name)
		}
		if ev, ok := lookupEnv(getenv, envName(s.name)); ok {
			v, source = ev, "env "+envName(s.name)
		}
		if s.flagOK && set[s.name] {
			v, source = *f.values[s.name], "flag --"+s.name
		}
		if err := s.apply(c, v); err != nil {
			return nil, fmt.Errorf("invalid setting %s (%s): %v", s.name, source, err)
		}
	}
	c.finish()
	return c, nil
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// finish fills the defaults that depend on other settings.
func (c *Config) finish() {
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}
	if c.MasterKeyFile == "" {
		c.MasterKeyFile = filepath.Join(c.DataDir, "master.key")
	}
	if c.AuditKeyFile == "" {
		c.AuditKeyFile = filepath.Join(c.DataDir, "audit-signing.key")
	}
}

// PublicHTTPS reports whether Porthole is reached over https (HSTS, Secure cookies).
func (c *Config) PublicHTTPS() bool { return strings.HasPrefix(c.PublicURL, "https://") }

// EmbeddedDefault reports whether the database is SQLite in the data dir
// (the zero-setup mode, where keys are generated on first start).
func (c *Config) EmbeddedDefault() bool { return c.DatabaseURL == "" }

func readFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("invalid setting config: cannot read %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("invalid setting config: cannot read %s: %v", path, err)
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("invalid setting config: %s is not a JSON object: %s", path, oneLine(err.Error()))
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[fileKey(s.name)] = true
	}
	out := map[string]string{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !known[k] {
			return nil, fmt.Errorf("invalid setting config: %s has an unknown key %q", path, k)
		}
		switch v := m[k].(type) {
		case string:
			out[k] = v
		case bool:
			out[k] = strconv.FormatBool(v)
		case json.Number:
			out[k] = v.String()
		case []any:
			parts := make([]string, 0, len(v))
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("invalid setting %s (config file): list items must be strings", k)
				}
				parts = append(parts, s)
			}
			out[k] = strings.Join(parts, ",")
		default:
			return nil, fmt.Errorf("invalid setting %s (config file): must be a string, number, boolean or list", k)
		}
	}
	return out, nil
}

func oneLine(s string) string {
	return strings.ReplaceAll(s, "\n", " ")
}
