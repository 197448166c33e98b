//go:build linux

package steps

import (
	"fmt"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/mountinfo"
	"github.com/left4me/left4me-deploy/internal/textsafe"
)

func TestHoldsStateMount(t *testing.T) {
	const dir = "/var/lib/left4me"
	for _, tc := range []struct {
		name     string
		m        mountinfo.Entry
		migrated bool
		want     bool
	}{
		{"instance overlay", mountinfo.Entry{MountPoint: dir + "/runtime/a/merged", FSType: "overlay"}, true, true},
		{"old stack before the migration", mountinfo.Entry{MountPoint: dir + "/runtime/a/merged", FSType: "fuse.fuse-overlayfs"}, false, true},
		{"owner's FUSE after the migration", mountinfo.Entry{MountPoint: dir + "/runtime/a/merged", FSType: "fuse.fuse-overlayfs"}, true, false},
		{"owner's plain FUSE after the migration", mountinfo.Entry{MountPoint: dir + "/overlays/x", FSType: "fuse"}, true, false},
		{"tmpfs", mountinfo.Entry{MountPoint: dir + "/runtime", FSType: "tmpfs"}, false, false},
		{"the state root itself", mountinfo.Entry{MountPoint: dir, FSType: "overlay"}, true, false},
		{"a sibling with the same prefix", mountinfo.Entry{MountPoint: dir + "-deploy/x", FSType: "overlay"}, true, false},
	} {
		if got := holdsStateMount(tc.m, dir, tc.migrated); got != tc.want {
			t.Errorf("%s: holdsStateMount(%s %s, migrated=%v) = %v, want %v", tc.name, tc.m.FSType, tc.m.MountPoint, tc.migrated, got, tc.want)
		}
	}
}

// The deferral note names at most five of the owner's mounts, each quoted,
// and counts the rest: 1,600 mounts make one short line.
func TestNamedMounts(t *testing.T) {
	var below []string
	for i := range 1600 {
		below = append(below, textsafe.Quote(fmt.Sprintf("/var/lib/left4me/runtime/%d       ok       verify/merged", i)))
	}
	got := namedMounts(below)
	if !strings.HasSuffix(got, " and 1595 more") || strings.Count(got, `"/var/lib/left4me/runtime/`) != 5 || strings.Contains(got, "  ") {
		t.Errorf("namedMounts(1600 mounts) = %q, want five quoted names, no run of blanks, and 1595 more", got)
	}
	if got := namedMounts(below[:2]); got != below[0]+" "+below[1] {
		t.Errorf("namedMounts(2 mounts) = %q", got)
	}
}
