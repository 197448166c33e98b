package remote

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
)

// ParseHost parses "[user@]host[:port]" (an IPv6 address with a port in
// brackets: "root@[::1]:2222"). Everything ParseTarget refuses it refuses.
func ParseHost(s string) (Target, error) {
	t, err := ParseTarget(s)
	if err != nil {
		return t, err
	}
	host := t.Host
	switch {
	case strings.HasPrefix(host, "["):
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return Target{}, fmt.Errorf("host %q: '[' without ']' (want user@[address]:port)", s)
		}
		rest := host[end+1:]
		t.Host = host[1:end]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return Target{}, fmt.Errorf("host %q: want ':port' after ']'", s)
			}
			t.Port = p
		}
	case strings.Count(host, ":") == 1:
		t.Host, t.Port, _ = strings.Cut(host, ":")
	}
	if t.Host == "" {
		return Target{}, fmt.Errorf("host %q has no host name (want user@host[:port])", s)
	}
	if t.Port != "" {
		n, err := strconv.Atoi(t.Port)
		if err != nil || n < 1 || n > 65535 || t.Port != strconv.Itoa(n) {
			return Target{}, fmt.Errorf("host %q: port %q is not a number from 1 to 65535", s, t.Port)
		}
	}
	return t, nil
}

// portArgs are the ssh flags of the target's own port.
func (t Target) portArgs() []string {
	if t.Port == "" {
		return nil
	}
	return []string{"-p", t.Port}
}

// ReadHosts reads a hosts file: one "[user@]host[:port]" per line,
// optionally followed by the host's groups separated by commas
// ("root@game1 eu,canary"); a "[group]" line puts every host after it, up
// to the next such line, into that group too. Blank lines and everything
// from a '#' on are ignored. name is the file's name for error messages
// ("hosts.txt:3: ..."). A host listed twice is an error.
func ReadHosts(r io.Reader, name string) ([]Target, error) {
	var out []Target
	seen := map[string]int{}
	section := ""
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if g, ok := strings.CutPrefix(line, "["); ok && strings.HasSuffix(g, "]") && !strings.Contains(line, "@") && !strings.Contains(line, ":") {
			g = strings.TrimSpace(strings.TrimSuffix(g, "]"))
			if err := checkGroup(g); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, n, err)
			}
			section = g
			continue
		}
		fields := strings.Fields(line)
		if len(fields) > 2 {
			return nil, fmt.Errorf("%s:%d: %q: want one user@host[:port] per line, then optionally its groups separated by commas (no spaces)", name, n, line)
		}
		t, err := ParseHost(fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if section != "" {
			t.Groups = append(t.Groups, section)
		}
		if len(fields) == 2 {
			for _, g := range strings.Split(fields[1], ",") {
				if err := checkGroup(g); err != nil {
					return nil, fmt.Errorf("%s:%d: %w", name, n, err)
				}
				if !slices.Contains(t.Groups, g) {
					t.Groups = append(t.Groups, g)
				}
			}
		}
		if first, dup := seen[t.Spec]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed already on line %d", name, n, t.Spec, first)
		}
		seen[t.Spec] = n
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}

// checkGroup accepts a group name: letters, digits, '-', '_' and '.'.
func checkGroup(g string) error {
	if g == "" {
		return fmt.Errorf("empty group name")
	}
	for _, r := range g {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("group %q: want letters, digits, '-', '_' or '.'", g)
		}
	}
	return nil
}

// Limit keeps the targets that match one of the comma-separated patterns
// of spec: a pattern matches a host whose group it names, or whose spec
// (user@host:port) or host name it matches as a glob (path.Match: *, ?,
// [...]), or one of whose groups it matches as a glob. A pattern that
// matches no host is an error, so a typo does not silently deploy nowhere.
func Limit(targets []Target, spec string) ([]Target, error) {
	var pats []string
	for _, p := range strings.Split(spec, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("--limit %q: bad pattern %q: %v", spec, p, err)
			}
			pats = append(pats, p)
		}
	}
	if len(pats) == 0 {
		return nil, fmt.Errorf("--limit %q: want a group or a host pattern", spec)
	}
	used := make([]bool, len(pats))
	var out []Target
	for _, t := range targets {
		hit := false
		for i, p := range pats {
			if t.matches(p) {
				used[i], hit = true, true
			}
		}
		if hit {
			out = append(out, t)
		}
	}
	for i, u := range used {
		if !u {
			return nil, fmt.Errorf("--limit: %q matches no host and no group of the host list", pats[i])
		}
	}
	return out, nil
}

func (t Target) matches(pat string) bool {
	names := append([]string{t.Spec, t.Host}, t.Groups...)
	for _, n := range names {
		if ok, _ := path.Match(pat, n); ok {
			return true
		}
	}
	return false
}

// WriteHosts writes targets as a hosts file ReadHosts reads back, groups
// included, after the comment lines of header.
func WriteHosts(w io.Writer, header string, targets []Target) error {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		b.WriteString("# " + l + "\n")
	}
	for _, t := range targets {
		b.WriteString(t.Spec)
		if len(t.Groups) > 0 {
			b.WriteString(" " + strings.Join(t.Groups, ","))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
