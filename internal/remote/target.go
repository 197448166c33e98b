package remote

import (
	"fmt"
	"strings"
)

// Target is one host to deploy to, as the operator wrote it: "[user@]host",
// with host a name from ~/.ssh/config, a DNS name or an address.
type Target struct {
	Spec string // as given; also the prefix of the host's output lines
	User string // empty: ssh's default (config, then the local user)
	Host string
	// Port is the ssh port of this host (ParseHost's host:port); empty
	// means the -p flag, else ssh's default.
	Port string
	// Groups are the host's groups in the hosts file (ReadHosts), for
	// --limit.
	Groups []string
}

// ParseTarget parses "[user@]host". It refuses what ssh would read as an
// option or what cannot be a host name, so a target can never inject flags.
func ParseTarget(s string) (Target, error) {
	if s == "" {
		return Target{}, fmt.Errorf("empty host: want user@host")
	}
	if strings.HasPrefix(s, "-") {
		return Target{}, fmt.Errorf("host %q starts with '-': flags go before the host list (want user@host)", s)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '\'' || r == '"' || r == '\\' || r == '/' {
			return Target{}, fmt.Errorf("host %q contains %q: want user@host", s, r)
		}
	}
	t := Target{Spec: s, Host: s}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		t.User, t.Host = s[:i], s[i+1:]
		if t.User == "" {
			return Target{}, fmt.Errorf("host %q has an empty user before '@': want user@host", s)
		}
	}
	if t.Host == "" || strings.HasPrefix(t.Host, "-") {
		return Target{}, fmt.Errorf("host %q has no host name after '@': want user@host", s)
	}
	return t, nil
}

// Login returns the user@host form ssh takes.
func (t Target) Login() string {
	if t.User == "" {
		return t.Host
	}
	return t.User + "@" + t.Host
}
