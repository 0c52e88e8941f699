package porthole

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// NormalizeOrigin checks an origin given by a person or a browser and returns
// its canonical form: lower-case scheme://host[:port], the default port
// dropped. Only http and https are allowed; a path, query, fragment or
// credentials are refused. "https://*.example.com" is accepted as an explicit
// subdomain pattern (pattern is true); it matches one or more labels in front
// of example.com, never example.com itself.
func NormalizeOrigin(s string) (origin string, pattern bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 300 {
		return "", false, Errorf(EINVALID, "origin must be 1 to 300 characters")
	}
	u, perr := url.Parse(s)
	if perr != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return "", false, Errorf(EINVALID, "origin %q is not of the form https://host[:port]", s)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false, Errorf(EINVALID, "origin %q must use http or https", s)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", false, Errorf(EINVALID, "origin %q must not have a path, query, fragment or credentials", s)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if host == "" {
		return "", false, Errorf(EINVALID, "origin %q has no host", s)
	}
	if strings.HasPrefix(host, "*.") {
		pattern = true
		if !validHostname(host[2:]) || !strings.Contains(host[2:], ".") {
			return "", false, Errorf(EINVALID, "origin pattern %q must be like https://*.example.com", s)
		}
	} else if net.ParseIP(host) == nil && !validHostname(host) {
		return "", false, Errorf(EINVALID, "origin %q has an invalid host", s)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", false, Errorf(EINVALID, "origin %q has an invalid port", s)
		}
		if (scheme == "http" && n == 80) || (scheme == "https" && n == 443) {
			port = ""
		} else {
			port = strconv.Itoa(n)
		}
	}
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	origin = scheme + "://" + host
	if port != "" {
		origin += ":" + port
	}
	return origin, pattern, nil
}

// OriginMatches reports whether a browser's origin (already normalized)
// matches an allowed entry: exactly, or under a subdomain pattern.
func OriginMatches(allowed AllowedOrigin, origin string) bool {
	if !allowed.Pattern {
		return allowed.Origin == origin
	}
	// allowed.Origin is scheme://*.suffix[:port]
	i := strings.Index(allowed.Origin, "://*.")
	if i < 0 {
		return false
	}
	scheme, rest := allowed.Origin[:i], allowed.Origin[i+len("://*."):]
	prefix := scheme + "://"
	if !strings.HasPrefix(origin, prefix) {
		return false
	}
	host := origin[len(prefix):]
	// host must be label(s) + "." + rest, with rest carrying the same port.
	if !strings.HasSuffix(host, "."+rest) {
		return false
	}
	labels := strings.TrimSuffix(host, "."+rest)
	return labels != "" && !strings.ContainsAny(labels, ":/[]")
}

func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// CompanionOrigin returns the www / non-www twin of an exact origin
// (https://shop.example ↔ https://www.shop.example), which adding a site
// allows too so the widget works on both from day one. IP addresses,
// localhost, single-label hosts and subdomain patterns have none.
func CompanionOrigin(origin string) (string, bool) {
	scheme, rest, ok := strings.Cut(origin, "://")
	if !ok || strings.HasPrefix(rest, "*.") || strings.HasPrefix(rest, "[") {
		return "", false
	}
	host, port := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = rest[:i], rest[i:]
	}
	if net.ParseIP(host) != nil || host == "localhost" || !strings.Contains(host, ".") {
		return "", false
	}
	if twin, ok := strings.CutPrefix(host, "www."); ok {
		if !strings.Contains(twin, ".") {
			return "", false
		}
		return scheme + "://" + twin + port, true
	}
	return scheme + "://www." + host + port, true
}
