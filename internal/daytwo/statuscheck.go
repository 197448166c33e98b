//go:build linux

package daytwo

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/release"
	"github.com/left4me/left4me-deploy/steps"
)

// checkRecorded measures the host against its own newest record and what
// systemd runs (protocol.Recorded); it needs no bundle. h is the status's
// dry run on root, whose binaries step has hashed the installed binaries.
func checkRecorded(ctx context.Context, h *steps.Host, root hostpath.Root, last *release.Release) (*protocol.Recorded, error) {
	paths, err := h.ReleaseFiles()
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
		if sum, ok := h.BinarySum(p); ok {
			installed[p] = sum
		} else {
			rest = append(rest, p)
		}
	}
	more, err := InstalledSums(root, rest)
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
	if rec.StaleUnits, rec.WebStale, err = h.Followups(ctx); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(root.Join(hostpath.PendingRestart)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				rec.PendingRestart = append(rec.PendingRestart, l)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if rec.Leftovers, err = h.Leftovers(time.Now()); err != nil {
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
