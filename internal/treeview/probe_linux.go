//go:build linux

package treeview

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Probes returns every path that exists in any of the layers (lower dirs
// and upper dirs of an overlay), relative to its layer, and for a
// fallback whiteout ".wh.NAME" also NAME: a superset of the names an
// overlay of those layers can show. A view recorded with these as
// Options.Probe finds a name that lookup shows and readdir does not.
// Symlinks are not followed; a layer that does not exist adds nothing.
func Probes(layers ...string) ([]string, error) {
	seen := map[string]bool{}
	var walk func(root, rel string) error
	walk = func(root, rel string) error {
		p := root
		if rel != "." {
			p = filepath.Join(root, rel)
		}
		names, err := readNames(p)
		if err != nil {
			return fmt.Errorf("probes: read directory %s: %w", p, err)
		}
		for _, n := range names {
			child := join(rel, n)
			seen[child] = true
			if t, ok := strings.CutPrefix(n, ".wh."); ok && t != "" {
				seen[join(rel, t)] = true
			}
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(p, n), &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
				if err := walk(root, child); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, l := range layers {
		var st unix.Stat_t
		if err := unix.Lstat(l, &st); err != nil {
			continue
		}
		if err := walk(l, "."); err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}
