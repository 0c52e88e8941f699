package fetch

import (
	"bufio"
	"bytes"
	"strings"
)

// Robots is a parsed robots.txt, reduced to the rules of one user agent.
type Robots struct {
	rules []robotsRule
	// Sitemaps lists the Sitemap: lines of the file, in order.
	Sitemaps []string
}

type robotsRule struct {
	allow   bool
	pattern string
}

// ParseRobots parses a robots.txt for the crawler named agent (its product
// token, "PortholeBot"). It keeps the rules of the group whose User-agent is
// the longest case-insensitive match of agent, or else of the "*" group; a
// file with neither allows everything. Unknown lines are ignored.
func ParseRobots(data []byte, agent string) *Robots {
	agent = strings.ToLower(agent)
	type group struct {
		agents []string
		rules  []robotsRule
	}
	var groups []*group
	var cur *group
	inAgents := false
	r := &Robots{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key = strings.ToLower(strings.TrimSpace(key))
		value = strings.TrimSpace(value)
		switch key {
		case "user-agent":
			if !inAgents || cur == nil {
				cur = &group{}
				groups = append(groups, cur)
			}
			cur.agents = append(cur.agents, strings.ToLower(value))
			inAgents = true
		case "allow", "disallow":
			inAgents = false
			if cur == nil || value == "" {
				continue // rules before any User-agent, or an empty Disallow (allows all)
			}
			cur.rules = append(cur.rules, robotsRule{allow: key == "allow", pattern: value})
		case "sitemap":
			r.Sitemaps = append(r.Sitemaps, value)
		default:
			inAgents = false
		}
	}
	best := -1 // length of the best matching agent token; 0 is "*"
	for _, g := range groups {
		for _, a := range g.agents {
			n := -1
			switch {
			case a == "*":
				n = 0
			case a != "" && strings.Contains(agent, a):
				n = len(a)
			}
			if n < 0 {
				continue
			}
			if n > best {
				best = n
				r.rules = append([]robotsRule(nil), g.rules...)
			} else if n == best {
				r.rules = append(r.rules, g.rules...)
			}
		}
	}
	return r
}

// Allowed reports whether the crawler may fetch path (the URL's path and
// query). The longest matching pattern wins; on a tie Allow wins.
func (r *Robots) Allowed(path string) bool {
	if r == nil {
		return true
	}
	if path == "" {
		path = "/"
	}
	bestLen, allowed := -1, true
	for _, rule := range r.rules {
		if !robotsMatch(rule.pattern, path) {
			continue
		}
		n := len(rule.pattern)
		if n > bestLen || (n == bestLen && rule.allow) {
			bestLen, allowed = n, rule.allow
		}
	}
	return allowed
}

// robotsMatch matches a robots.txt path pattern: a prefix, where * matches
// any run of characters and a final $ anchors the end.
func robotsMatch(pattern, path string) bool {
	anchored := strings.HasSuffix(pattern, "$")
	if anchored {
		pattern = pattern[:len(pattern)-1]
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(path, parts[0]) {
		return false
	}
	pos := len(parts[0])
	for i := 1; i < len(parts); i++ {
		p := parts[i]
		if i == len(parts)-1 && anchored {
			return strings.HasSuffix(path[pos:], p)
		}
		j := strings.Index(path[pos:], p)
		if j < 0 {
			return false
		}
		pos += j + len(p)
	}
	if anchored {
		return pos == len(path)
	}
	return true
}
