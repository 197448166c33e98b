//go:build linux

package deploy

import (
	"testing"

	"github.com/left4me/left4me-deploy/internal/mountinfo"
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
