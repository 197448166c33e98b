//go:build linux

package deploy

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/steps"
)

// directories creates the directories of the layout with their owners and
// modes. Shared system directories are only created when missing.
type directories struct{ d *deployer }

func (directories) Name() string { return "directories" }

func (s directories) Run(ctx context.Context, g *steps.Gate) error {
	d := s.d
	state, note, err := d.stateOwner(g.DryRun())
	if err != nil {
		return err
	}
	if note != "" {
		g.Note("%s", note)
	}
	root := d.rootOwner()
	dirs := []struct {
		host string
		dir  steps.Dir
	}{
		{hostpath.StateDir, steps.Dir{Mode: 0o750, Owner: state}},
		{hostpath.InstallationDir, steps.Dir{Mode: 0o750, Owner: state}},
		{hostpath.OverlaysDir, steps.Dir{Mode: 0o750, Owner: state}},
		{hostpath.RuntimeDir, steps.Dir{Mode: 0o750, Owner: state}},
		{hostpath.LibexecDir, steps.Dir{Mode: 0o755, Owner: root}},
		{filepath.Dir(hostpath.L4d2ctl), steps.Dir{Mode: 0o755, Owner: root, KeepExisting: true}},
		{filepath.Dir(hostpath.DeployTool), steps.Dir{Mode: 0o755, Owner: root, KeepExisting: true}},
		{hostpath.UnitDir, steps.Dir{Mode: 0o755, Owner: root, KeepExisting: true}},
		{filepath.Dir(hostpath.SudoersFile), steps.Dir{Mode: 0o750, Owner: root, KeepExisting: true}},
		{hostpath.DeployStateDir, steps.Dir{Mode: 0o700, Owner: root}},
	}
	for _, x := range dirs {
		dir := x.dir
		dir.Path = d.path(x.host)
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

func ownerString(o steps.Owner) string {
	if o.UID < 0 {
		return "(owner unmanaged)"
	}
	return fmt.Sprintf("%d:%d", o.UID, o.GID)
}
