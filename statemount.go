package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/internal/mountinfo"
	"github.com/left4me/left4me-deploy/internal/textsafe"
	"github.com/left4me/left4me-deploy/service"
	"github.com/left4me/left4me-deploy/steps"
)

// stateMount enables and starts artifacts.StateMountUnit, the nosuid,nodev
// bind mount of the state root onto itself, when the service manager can
// (see service.Enabler) and services are live. It is part of the units step.
//
// A bind mount over the state root hides whatever is mounted below it
// (running instances' overlays, the old stack's fuse mounts that the
// migration still has to take down), and those would then stay mounted
// out of reach. So the unit is started only while none of those is mounted
// below the state root (holdsStateMount). Otherwise the step writes artifacts.StateMountDeferred,
// which keeps the unit from starting when the web or a server unit pulls
// it in (systemd requires the mounts of a working directory), and the unit
// starts at the next boot, when /run is empty again.
func (s units) stateMount(ctx context.Context, g *steps.Gate) error {
	d := s.d
	e, ok := d.o.Services.(service.Enabler)
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
	// In a dry run holdStateMount has already said it would defer.
	deferred, err := s.deferStateMount(g, !g.DryRun())
	if err != nil || deferred {
		return err
	}
	marker := d.path(artifacts.StateMountDeferred)
	if fileExists(marker) {
		if err := g.Change("remove "+artifacts.StateMountDeferred, func() error { return os.Remove(marker) }); err != nil {
			return err
		}
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

// holdStateMount runs before the units step installs anything: while the
// state root mount is not active and something is mounted below the state
// root, it writes the marker that keeps the mount from starting, so that no
// unit started meanwhile (a game server the web app starts) pulls it in.
func (s units) holdStateMount(ctx context.Context, g *steps.Gate) error {
	d := s.d
	if _, ok := d.o.Services.(service.Enabler); !ok || !d.o.Live.Services {
		return nil
	}
	active, err := d.o.Services.IsActive(ctx, artifacts.StateMountUnit)
	if err != nil {
		return fmt.Errorf("ask systemd whether %s is active: %w", artifacts.StateMountUnit, err)
	}
	if active {
		return nil
	}
	_, err = s.deferStateMount(g, true)
	return err
}

// deferStateMount reports whether anything the state root mount must not
// hide is mounted below the state root
// and, if so, makes sure the marker that keeps the state root mount from
// starting is there (with write false it only notes that it is not).
func (s units) deferStateMount(g *steps.Gate, write bool) (bool, error) {
	d := s.d
	below, err := mountsBelow(d.path(hostpath.StateDir), fileExists(d.path(hostpath.Sentinel)))
	if err != nil || len(below) == 0 {
		return false, err
	}
	unit := artifacts.StateMountUnit
	marker := d.path(artifacts.StateMountDeferred)
	why := fmt.Sprintf("it would hide the %d mount(s) below %s (%s); it starts at the next boot, or at a deploy with nothing mounted there",
		len(below), hostpath.StateDir, namedMounts(below))
	if fileExists(marker) || !write {
		g.Note("%s not started: %s", unit, why)
		return true, nil
	}
	return true, g.Change(fmt.Sprintf("defer %s (%s): %s", unit, artifacts.StateMountDeferred, why), func() error {
		if err := os.MkdirAll(filepath.Dir(marker), 0o755); err != nil {
			return err
		}
		return os.WriteFile(marker, nil, 0o644)
	})
}

// mountsBelow lists, quoted for a message, the mount points strictly below
// dir in this process's mount namespace that the state root mount must not
// hide (holdsStateMount).
func mountsBelow(dir string, migrated bool) ([]string, error) {
	table, err := mountinfo.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	var out []string
	for _, m := range table {
		if holdsStateMount(m, dir, migrated) {
			out = append(out, textsafe.Quote(m.MountPoint))
		}
	}
	return out, nil
}

// holdsStateMount reports whether mount m, if below dir, keeps the state
// root mount from starting: an instance's overlay (hiding it would take a
// running server's files away and leave its overlay out of the helper's
// reach), and before the migration also the old stack's FUSE mounts, which
// the migration must find and take down. Anything else below the state root
// can only be its owner's own doing (a FUSE mount through fusermount3), and
// hiding it harms no one, so it cannot keep the mount off.
func holdsStateMount(m mountinfo.Entry, dir string, migrated bool) bool {
	if !strings.HasPrefix(m.MountPoint, filepath.Clean(dir)+"/") {
		return false
	}
	return m.FSType == "overlay" || !migrated && (m.FSType == "fuse" || strings.HasPrefix(m.FSType, "fuse."))
}

// stateMountBeforeStart is the migration's BeforeStart hook: once the
// migration has taken the old stack's mounts down and before it starts the
// units again, nothing is mounted below the state root, so a state root
// mount the units step had to defer (a fuse-era host) starts there instead
// of at the next boot. Nil when services are not live.
func (d *deployer) stateMountBeforeStart(g *steps.Gate) func(context.Context) error {
	e, ok := d.o.Services.(service.Enabler)
	if !ok || !d.o.Live.Services {
		return nil
	}
	unit := artifacts.StateMountUnit
	return func(ctx context.Context) error {
		on, err := e.IsEnabled(ctx, unit)
		if err != nil || !on {
			return err
		}
		active, err := d.o.Services.IsActive(ctx, unit)
		if err != nil || active {
			return err
		}
		// The migration has taken the old stack's mounts down by now.
		if below, err := mountsBelow(d.path(hostpath.StateDir), true); err != nil || len(below) > 0 {
			return err
		}
		marker := d.path(artifacts.StateMountDeferred)
		if fileExists(marker) {
			if err := g.Change("remove "+artifacts.StateMountDeferred, func() error { return os.Remove(marker) }); err != nil {
				return err
			}
		}
		return g.Change("start "+unit, func() error { return d.o.Services.Start(ctx, unit) })
	}
}
