package remote

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// A word on the command line that is not a verb is taken as a host only if
// it looks like one, so a mistyped verb ("rolback") never reaches a host:
//
//   - user@host, host:port, [v6]:port, a dotted name or an IP address, or
//   - a bare name that the operator's ssh configuration knows: "ssh -G NAME"
//     (with -F FILE if given; it reads the configuration and connects to
//     nothing) applies a HostName to it, or gives it settings that a name no
//     Host block names does not get (a Host or Match block matched it;
//     "Host *" matches every name and does not count).
//
// The command line refuses anything else before any connection.

// sshConfigQuery runs "ssh -G ARGS..." and returns its output; tests
// replace it to prove what the check runs.
var sshConfigQuery = func(ctx context.Context, args []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ssh", append([]string{"-G"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ssh -G %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// referenceHost is a name no ssh_config names: the settings every host gets.
const referenceHost = "left4me-deploy-no-such-alias.invalid"

// LooksLikeHost says whether t is written as a host (not a bare word).
func LooksLikeHost(t Target) bool {
	if strings.ContainsAny(t.Spec, "@:[") || strings.Contains(t.Host, ".") {
		return true
	}
	return net.ParseIP(t.Host) != nil
}

// SSHAliases says which bare words the operator's ssh configuration
// knows, asking ssh once per word.
type SSHAliases struct {
	Ctx    context.Context
	Config string   // ssh -F FILE
	ref    []string // ssh -G of referenceHost
	refErr error
	asked  bool
}

func (h *SSHAliases) args(name string) []string {
	if h.Config != "" {
		return []string{"-F", h.Config, name}
	}
	return []string{name}
}

// sshSettings is ssh -G's output for name, lowercased, as sorted lines.
func (h *SSHAliases) sshSettings(name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(h.Ctx, 30*time.Second)
	defer cancel()
	out, err := sshConfigQuery(ctx, h.args(name))
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(strings.ToLower(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return lines, nil
}

// IsAlias says whether the operator's ssh configuration knows name: its
// settings differ from those of a name no block names, once that name is
// replaced by this one (the host's own name appears in "host" and
// "hostname" lines, and in any setting that expands it).
func (h *SSHAliases) IsAlias(name string) (bool, error) {
	if !h.asked {
		h.asked = true
		h.ref, h.refErr = h.sshSettings(referenceHost)
	}
	if h.refErr != nil {
		return false, h.refErr
	}
	got, err := h.sshSettings(name)
	if err != nil {
		return false, err
	}
	want := make([]string, len(h.ref))
	for i, l := range h.ref {
		want[i] = strings.ReplaceAll(l, referenceHost, strings.ToLower(name))
	}
	sort.Strings(want)
	return strings.Join(got, "\n") != strings.Join(want, "\n"), nil
}
