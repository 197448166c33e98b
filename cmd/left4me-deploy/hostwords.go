package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/left4me/left4me-deploy/remote"
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
// Anything else is refused before any connection, with the nearest verb
// when it is a near miss.

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

// verbs are the words the CLI understands in the host position.
var verbs = []string{"apply", "render", "migrate", "status", "rollback", "help"}

// referenceHost is a name no ssh_config names: the settings every host gets.
const referenceHost = "left4me-deploy-no-such-alias.invalid"

// looksLikeHost says whether t is written as a host (not a bare word).
func looksLikeHost(t remote.Target, spec string) bool {
	if strings.ContainsAny(spec, "@:[") || strings.Contains(t.Host, ".") {
		return true
	}
	return net.ParseIP(t.Host) != nil
}

// hostChecker checks the bare words of a host list, asking ssh once per
// word.
type hostChecker struct {
	ctx    context.Context
	config string   // ssh -F FILE
	ref    []string // ssh -G of referenceHost
	refErr error
	asked  bool
}

func (h *hostChecker) args(name string) []string {
	if h.config != "" {
		return []string{"-F", h.config, name}
	}
	return []string{name}
}

// sshSettings is ssh -G's output for name, lowercased, as sorted lines.
func (h *hostChecker) sshSettings(name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
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

// isAlias says whether the operator's ssh configuration knows name: its
// settings differ from those of a name no block names, once that name is
// replaced by this one (the host's own name appears in "host" and
// "hostname" lines, and in any setting that expands it).
func (h *hostChecker) isAlias(name string) (bool, error) {
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

// check refuses a host word that is neither written as a host nor an alias
// of the operator's ssh.
func (h *hostChecker) check(t remote.Target) error {
	if looksLikeHost(t, t.Spec) {
		return nil
	}
	alias, err := h.isAlias(t.Host)
	if err != nil {
		return fmt.Errorf("%q is not a verb and not written as a host (user@host, host:port, a dotted name or an address), and ssh could not say whether it is an alias: %v", t.Spec, err)
	}
	if alias {
		return nil
	}
	msg := fmt.Sprintf("%q is not a verb, and not a host: write hosts as user@host, host:port, a dotted name, an address, or an alias from your ssh_config", t.Spec)
	if strings.EqualFold(t.Spec, "deploy") || nearestVerb(t.Spec) == "" && editDistance(strings.ToLower(t.Spec), "deploy") <= 2 {
		msg = fmt.Sprintf("%q is not a verb: a deploy takes no verb (left4me-deploy [flags] user@host...)", t.Spec)
	} else if v := nearestVerb(t.Spec); v != "" {
		msg = fmt.Sprintf("%q is not a verb; did you mean %q? (hosts are user@host, host:port, a dotted name, an address, or an ssh_config alias)", t.Spec, v)
	}
	return fmt.Errorf("%s", msg)
}

// nearestVerb is the verb within edit distance 2 of word (1 for short
// words), if any.
func nearestVerb(word string) string {
	best, bestD := "", 3
	for _, v := range verbs {
		d := editDistance(strings.ToLower(word), v)
		limit := 2
		if len(v) <= 4 {
			limit = 1
		}
		if d <= limit && d < bestD {
			best, bestD = v, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, with a swap of two
// neighbouring letters counting as one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
