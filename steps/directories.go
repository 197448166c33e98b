//go:build linux

package steps

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/left4me/left4me-deploy/internal/bindmount"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/overlay"
)

// directories creates the directories of the layout with their owners and
// modes. Shared system directories are only created when missing.
type directories struct{ d *Host }

// Directories is the directories step of h's run.
func Directories(h *Host) Step { return directories{h} }

func (directories) Name() string { return "directories" }

func (s directories) Run(ctx context.Context, g *Gate) error {
	d := s.d
	state, note, err := d.stateOwner(g.DryRun())
	if err != nil {
		return err
	}
	if note != "" {
		g.Note("%s", note)
	}
	root := d.rootOwner()
	// The state tree's directories are never looked at or changed through
	// a FUSE mount of their owner's (clearOwnerMount, notOwnerMount).
	guard := notOwnerMount
	dirs := []struct {
		host string
		dir  Dir
	}{
		{hostpath.StateDir, Dir{Mode: 0o750, Owner: state, Guard: guard}},
		{hostpath.InstallationDir, Dir{Mode: 0o750, Owner: state, Guard: guard}},
		{hostpath.OverlaysDir, Dir{Mode: 0o750, Owner: state, Guard: guard}},
		{hostpath.RuntimeDir, Dir{Mode: 0o750, Owner: state, Guard: guard}},
		{hostpath.LibexecDir, Dir{Mode: 0o755, Owner: root}},
		{filepath.Dir(hostpath.L4d2ctl), Dir{Mode: 0o755, Owner: root, KeepExisting: true}},
		{filepath.Dir(hostpath.DeployTool), Dir{Mode: 0o755, Owner: root, KeepExisting: true}},
		{hostpath.UnitDir, Dir{Mode: 0o755, Owner: root, KeepExisting: true}},
		{filepath.Dir(hostpath.SudoersFile), Dir{Mode: 0o750, Owner: root, KeepExisting: true}},
		{hostpath.DeployStateDir, Dir{Mode: 0o700, Owner: root}},
		{filepath.Dir(overlay.MaxMountsFile), Dir{Mode: 0o755, Owner: root}},
	}
	unknown := "" // a dry run's mount it would detach: what is below is not known
	for _, x := range dirs {
		dir := x.dir
		dir.Path = d.path(x.host)
		if unknown != "" && strings.HasPrefix(x.host, unknown+"/") {
			continue
		}
		if dir.Guard != nil {
			if cleared, err := clearOwnerMount(g, dir.Path, x.host); err != nil || !cleared {
				if err != nil {
					return err
				}
				unknown = x.host
				continue
			}
		}
		st, err := dir.Check()
		if err != nil {
			return err
		}
		var what string
		switch {
		case !st.Exists:
			what = fmt.Sprintf("create %s (%#o)", x.host, dir.Mode.Perm())
		case !st.Same:
			what = fmt.Sprintf("set %s to %#o %s (was %#o %d:%d)", x.host, dir.Mode.Perm(), ownerString(dir.Owner), st.Mode, st.Owner.UID, st.Owner.GID)
		default:
			continue
		}
		if err := g.Change(what, dir.Ensure); err != nil {
			return err
		}
	}
	return nil
}

// clearOwnerMount detaches the FUSE mounts of the state root's owner on
// dir (host path host), which only that owner can have made: root then
// acts on the directory itself, not through the owner's daemon. It reports
// false in a dry run that would detach one.
func clearOwnerMount(g *Gate, dir, host string) (bool, error) {
	m, err := bindmount.Judge(dir)
	if err != nil || m.Verdict != bindmount.Owner {
		return true, err
	}
	err = g.Change("detach the owner's mount on "+host+" ("+m.What+")", func() error {
		_, err := bindmount.DetachOwner(dir)
		return err
	})
	return !g.DryRun(), err
}
