package remote

import (
	"bufio"
	"fmt"
	"io"
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

// ReadHosts reads a hosts file: one "[user@]host[:port]" per line; blank
// lines and everything from a '#' on are ignored. name is the file's name
// for error messages ("hosts.txt:3: ..."). A host listed twice is an error.
func ReadHosts(r io.Reader, name string) ([]Target, error) {
	var out []Target
	seen := map[string]int{}
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
		if strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("%s:%d: %q: want one user@host[:port] per line", name, n, line)
		}
		t, err := ParseHost(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
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
