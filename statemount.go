package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/internal/mountinfo"
	"github.com/left4me/left4me-deploy/steps"
)

// stateMount enables and starts artifacts.StateMountUnit, the nosuid,nodev
// bind mount of the state root onto itself, when the service manager can
// (see Enabler) and services are live. It is part of the units step.
//
// A bind mount over the state root hides whatever is mounted below it
// (running instances' overlays, the old stack's fuse mounts that the
// migration still has to take down), and those would then stay mounted
// out of reach. So the unit is started only while nothing is mounted below
// the state root; otherwise it is left enabled, to start at the next boot,
// and the step says so.
func (s units) stateMount(ctx context.Context, g *steps.Gate) error {
	d := s.d
	e, ok := d.o.Services.(Enabler)
	if !ok || !d.o.Live.Services {
		return nil
	}
	unit := artifacts.StateMountUnit
	installed := fileExists(d.path(hostpath.UnitDir + "/" + unit))
	// A unit that was never installed cannot be asked about in a dry run;
	// the real run installs it first.
	if !(g.DryRun() && !installed) {
		on, err := e.IsEnabled(ctx, unit)
		if err != nil {
			return fmt.Errorf("ask systemd whether %s is enabled: %w", unit, err)
		}
		if !on {
			if err := g.Change("enable "+unit, func() error { return e.Enable(ctx, unit) }); err != nil {
				return err
			}
		}
		active, err := d.o.Services.IsActive(ctx, unit)
		if err != nil {
			return fmt.Errorf("ask systemd whether %s is active: %w", unit, err)
		}
		if active {
			return nil
		}
	} else {
		g.Changed("enable " + unit)
	}
	below, err := mountsBelow(d.path(hostpath.StateDir))
	if err != nil {
		return err
	}
	if len(below) > 0 {
		g.Note("%s not started: it would hide the %d mount(s) below %s (%s); it starts at the next boot, or at a deploy with nothing mounted there",
			unit, len(below), hostpath.StateDir, strings.Join(below, " "))
		return nil
	}
	if err := g.Change("start "+unit, func() error { return d.o.Services.Start(ctx, unit) }); err != nil {
		return err
	}
	// A running web app's mount namespace was copied before the state root
	// got its own peer group; only a fresh one sees the overlays mounted
	// under the new mount.
	d.needRestart(g, "state root mounted nosuid,nodev")
	return nil
}

// mountsBelow lists the mount points strictly below dir in this process's
// mount namespace, quoted for a message.
func mountsBelow(dir string) ([]string, error) {
	table, err := mountinfo.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	dir = filepath.Clean(dir)
	var out []string
	for _, m := range table {
		if strings.HasPrefix(m.MountPoint, dir+"/") {
			out = append(out, fmt.Sprintf("%q", m.MountPoint))
		}
	}
	return out, nil
}
