//go:build linux

package deploy

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/release"
)

// checkRecorded measures the host against its own newest record and what
// systemd runs (protocol.Recorded); it needs no bundle. d is the status's
// dry-run deployer, whose binaries step has hashed the installed binaries.
func checkRecorded(ctx context.Context, d *deployer, last *release.Release) (*protocol.Recorded, error) {
	paths, err := d.releaseFiles()
	if err != nil {
		return nil, err
	}
	if last != nil {
		// The record's own paths count too (a unit it named that is gone).
		for p := range last.Files {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	paths = compactStrings(paths)
	installed := map[string]string{}
	var rest []string
	for _, p := range paths {
		if sum, ok := d.binarySums[p]; ok {
			installed[p] = sum
		} else {
			rest = append(rest, p)
		}
	}
	more, err := InstalledSums(d.root, rest)
	if err != nil {
		return nil, err
	}
	for p, s := range more {
		installed[p] = s
	}
	rec := &protocol.Recorded{}
	if len(installed) > 0 {
		rec.Installed = release.ContentID(installed)
	}
	var recorded map[string]string
	if last != nil {
		recorded = last.Files
	}
	rec.Differ = release.Differ(recorded, installed)
	if obs := d.observer(); obs != nil {
		// The dry run's units and restart steps asked already, unless they
		// did not get there or had other reasons.
		rec.StaleUnits, rec.WebStale = d.observed.staleUnits, d.observed.webStale
		if !d.observed.staleUnitsSet {
			if rec.StaleUnits, err = staleUnits(ctx, obs, d.o); err != nil {
				return nil, err
			}
		}
		if !d.observed.webStaleSet {
			if rec.WebStale, err = webStale(ctx, obs, d.root, d.webDependencies()); err != nil {
				return nil, err
			}
		}
	}
	if b, err := os.ReadFile(d.path(hostpath.PendingRestart)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				rec.PendingRestart = append(rec.PendingRestart, l)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if rec.Leftovers, err = leftovers(d.o, time.Now()); err != nil {
		return nil, err
	}
	rec.Matches = len(rec.Problems()) == 0
	return rec, nil
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
