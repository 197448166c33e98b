package main

import (
	"fmt"
	"strings"

	"github.com/left4me/left4me-deploy/internal/remote"
)

// A word on the command line that is not a verb is taken as a host only if
// it looks like one (remote.LooksLikeHost) or the operator's ssh
// configuration knows it (remote.SSHAliases), so a mistyped verb
// ("rolback") never reaches a host. Anything else is refused before any
// connection, with the nearest verb when it is a near miss.

// verbs are the words the CLI understands in the host position.
var verbs = []string{"apply", "render", "migrate", "status", "rollback", "help"}

// hostChecker checks the bare words of a host list, asking ssh once per
// word.
type hostChecker struct{ aliases *remote.SSHAliases }

// check refuses a host word that is neither written as a host nor an alias
// of the operator's ssh.
func (h *hostChecker) check(t remote.Target) error {
	if remote.LooksLikeHost(t) {
		return nil
	}
	alias, err := h.aliases.IsAlias(t.Host)
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
