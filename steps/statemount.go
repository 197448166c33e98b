//go:build linux

package steps

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/internal/bindmount"
	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/mountinfo"
	"github.com/left4me/left4me-deploy/internal/rootdir"
	"github.com/left4me/left4me-deploy/internal/service"
	"github.com/left4me/left4me-deploy/internal/textsafe"
)

// stateMount enables and starts artifacts.StateMountUnit, the nosuid,nodev
// bind mount of the state root onto itself, when the service manager can
// (see service.Enabler) and services are live. It is part of the units step.
//
// Whether the mount is there is judged by the mount itself
// (stateMountNow), never by the unit being active: a FUSE mount of the
// owner's on the state root makes systemd call the unit active. Such a
// mount is detached first (bindmount.DetachOwner).
//
// A bind mount over the state root hides whatever is mounted below it
// (running instances' overlays, the old stack's fuse mounts that the
// migration still has to take down), and those would then stay mounted
// out of reach. So the unit is started only while none of those is mounted
// below the state root (holdsStateMount). Otherwise the step writes artifacts.StateMountDeferred,
// which keeps the unit from starting when the web or a server unit pulls
// it in (systemd requires the mounts of a working directory), and the unit
// starts at the next boot, when /run is empty again. The stateMountCheck
// step at the end of the plan then reports the mount missing.
func (s units) stateMount(ctx context.Context, g *Gate) error {
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
	} else {
		g.Changed("enable " + unit)
	}
	m, err := s.clearStateRoot(ctx, g)
	if err != nil || m.IsReal() {
		return err
	}
	// In a dry run holdStateMount has already said it would defer.
	deferred, err := s.deferStateMount(g, !g.DryRun())
	if err != nil || deferred {
		return err
	}
	if err := removeDeferral(d, g); err != nil {
		return err
	}
	// A running web app's mount namespace was copied before the state root
	// got its own peer group; only a fresh one sees the overlays mounted
	// under the new mount. The restart is recorded before the start.
	if err := d.needRestart(g, "state root mounted nosuid,nodev"); err != nil {
		return err
	}
	if err := g.Change("start "+unit, func() error { return d.o.Services.Start(ctx, unit) }); err != nil {
		return err
	}
	// On the host, the mount must now really be there (systemd would
	// have called a stale unit active and done nothing).
	if !g.DryRun() && d.root.IsHost() {
		after, err := d.stateMountNow(ctx)
		if err != nil {
			return err
		}
		if !after.IsReal() {
			return fmt.Errorf("started %s, but %s", unit, after.What)
		}
	}
	return nil
}

// clearStateRoot judges the state root's mount and detaches the FUSE
// mounts of its owner on it (in a dry run it says it would, and judges the
// mount under them as missing).
func (s units) clearStateRoot(ctx context.Context, g *Gate) (bindmount.Mount, error) {
	d := s.d
	m, err := d.stateMountNow(ctx)
	if err != nil || m.Verdict != bindmount.Owner {
		return m, err
	}
	if err := g.Change("detach the owner's mount on "+hostpath.StateDir+" ("+m.What+")", func() error {
		_, err := bindmount.DetachOwner(d.path(hostpath.StateDir))
		return err
	}); err != nil {
		return m, err
	}
	if g.DryRun() {
		return bindmount.Mount{Verdict: bindmount.None, What: m.What}, nil
	}
	return d.stateMountNow(ctx)
}

// holdStateMount runs before the units step installs anything: while the
// state root mount is not there and something is mounted below the state
// root, it writes the marker that keeps the mount from starting, so that no
// unit started meanwhile (a game server the web app starts) pulls it in.
func (s units) holdStateMount(ctx context.Context, g *Gate) error {
	d := s.d
	if _, ok := d.o.Services.(service.Enabler); !ok || !d.o.Live.Services {
		return nil
	}
	m, err := d.stateMountNow(ctx)
	if err != nil || m.IsReal() {
		return err
	}
	_, err = s.deferStateMount(g, true)
	return err
}

// deferStateMount reports whether anything the state root mount must not
// hide is mounted below the state root
// and, if so, makes sure the marker that keeps the state root mount from
// starting is there (with write false it only notes that it is not).
func (s units) deferStateMount(g *Gate, write bool) (bool, error) {
	d := s.d
	why, err := d.stateMountHeld()
	if err != nil || why == "" {
		return false, err
	}
	unit := artifacts.StateMountUnit
	has, err := deferralMarked(d)
	if err != nil {
		return false, err
	}
	if has || !write {
		g.Note("%s not started: %s", unit, why)
		return true, nil
	}
	return true, g.Change(fmt.Sprintf("defer %s (%s): %s", unit, artifacts.StateMountDeferred, why), func() error {
		dir, err := rootdir.Open(d.root, hostpath.DeployRunDir)
		if err != nil {
			return err
		}
		defer dir.Close()
		fd, err := fsat.OpenRaw(dir.FD(), artifacts.StateMountDeferredName, unix.O_WRONLY|unix.O_CREAT|unix.O_NONBLOCK, 0o600, 0)
		if err != nil {
			return fmt.Errorf("create %s: %w", artifacts.StateMountDeferred, err)
		}
		return fsat.NewDir(fd, artifacts.StateMountDeferred).Close()
	})
}

// stateMountHeld says why the state root mount cannot start now (the
// mounts below the state root it would hide), or "" when it can.
func (d *Host) stateMountHeld() (string, error) {
	below, err := mountsBelow(d.path(hostpath.StateDir), d.migrated())
	if err != nil || len(below) == 0 {
		return "", err
	}
	return fmt.Sprintf("it would hide the %d mount(s) below %s (%s); it starts at the next boot, or at a deploy with nothing mounted there",
		len(below), hostpath.StateDir, namedMounts(below)), nil
}

// migrated reports whether the migration's sentinel is in the state root,
// looked at through fsat (no link followed, no FUSE mount entered).
func (d *Host) migrated() bool {
	state, err := OpenStateRoot(d.root)
	if err != nil {
		return false
	}
	defer state.Close()
	e, err := state.Stat(filepath.Base(hostpath.Sentinel))
	return err == nil && e.IsReg()
}

// deferralMarked reports whether artifacts.StateMountDeferred is there, in
// root's own directory.
func deferralMarked(d *Host) (bool, error) {
	dir, err := rootdir.Lookup(d.root, hostpath.DeployRunDir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer dir.Close()
	switch _, err := fsat.Stat(dir.FD(), artifacts.StateMountDeferredName); {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOENT):
		return false, nil
	default:
		return false, fmt.Errorf("stat %s: %w", artifacts.StateMountDeferred, err)
	}
}

// removeDeferral removes artifacts.StateMountDeferred when it is there.
func removeDeferral(d *Host, g *Gate) error {
	has, err := deferralMarked(d)
	if err != nil || !has {
		return err
	}
	return g.Change("remove "+artifacts.StateMountDeferred, func() error {
		dir, err := rootdir.Open(d.root, hostpath.DeployRunDir)
		if err != nil {
			return err
		}
		defer dir.Close()
		if err := fsat.Unlink(dir.FD(), artifacts.StateMountDeferredName); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove %s: %w", artifacts.StateMountDeferred, err)
		}
		return nil
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
func (d *Host) stateMountBeforeStart(g *Gate) func(context.Context) error {
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
		m, err := d.stateMountNow(ctx)
		if err != nil || m.IsReal() {
			return err
		}
		// The migration has taken the old stack's mounts down by now.
		if below, err := mountsBelow(d.path(hostpath.StateDir), true); err != nil || len(below) > 0 {
			return err
		}
		if err := removeDeferral(d, g); err != nil {
			return err
		}
		return g.Change("start "+unit, func() error { return d.o.Services.Start(ctx, unit) })
	}
}

// stateMountCheck is the plan's last word on the defence in depth: the
// state root's own nosuid,nodev bind mount (artifacts.StateMountUnit) must
// be on the state root, judged by the mount (judgeStateMount), not by the
// unit. While it is missing (deferred because instances are mounted below
// the state root, or anything else) the step fails with the reason, after
// every deploy and in status, so that no run says all is well while set-uid
// and device files in the owner's tree would be honoured. It runs last, so
// the release is recorded first.
type stateMountCheck struct{ d *Host }

// StateMountCheck is the "state mount" step of h's run.
func StateMountCheck(h *Host) Step { return stateMountCheck{h} }

func (stateMountCheck) Name() string { return "state mount" }

func (s stateMountCheck) ShouldRun(context.Context) (bool, string) {
	if !s.d.o.Live.Services || !s.d.root.IsHost() {
		return false, "the state root's mount is judged on a live host only"
	}
	return true, ""
}

func (s stateMountCheck) Run(ctx context.Context, g *Gate) error {
	d := s.d
	m, err := d.stateMountNow(ctx)
	if err != nil {
		return fmt.Errorf("look at the mount on %s: %w", hostpath.StateDir, err)
	}
	if m.IsReal() {
		return nil
	}
	// A dry run before the first install: the units step would install
	// and start the mount, so it is drift, not a failure.
	if g.DryRun() && !fileExists(d.path(hostpath.UnitDir+"/"+artifacts.StateMountUnit)) {
		g.Changed("mount " + hostpath.StateDir + " nosuid,nodev (" + artifacts.StateMountUnit + ", installed by the units step)")
		return nil
	}
	why := m.What
	if has, _ := deferralMarked(d); has {
		held, err := d.stateMountHeld()
		if err != nil {
			return err
		}
		if held == "" {
			held = "nothing is mounted below " + hostpath.StateDir + " any more; the next deploy starts it"
		}
		why += "; deferred (" + artifacts.StateMountDeferred + "): " + held
	}
	return fmt.Errorf("%s is not mounted nosuid,nodev (%s), so set-uid and device files in the state root are honoured: %s; stop the instances mounted below it (l4d2ctl stop NAME) and deploy again, or reboot",
		hostpath.StateDir, artifacts.StateMountUnit, why)
}

// stateMountNow judges the state root's mount. On the host it is the real
// mount (bindmount.Judge); with a test root, whose state root no unit can
// mount, the service manager's word is all there is.
func (d *Host) stateMountNow(ctx context.Context) (bindmount.Mount, error) {
	if d.root.IsHost() {
		return bindmount.Judge(d.path(hostpath.StateDir))
	}
	active, err := d.o.Services.IsActive(ctx, artifacts.StateMountUnit)
	if err != nil {
		return bindmount.Mount{}, fmt.Errorf("ask systemd whether %s is active: %w", artifacts.StateMountUnit, err)
	}
	if active {
		return bindmount.Mount{Verdict: bindmount.Real, What: artifacts.StateMountUnit + " active (test root)"}, nil
	}
	return bindmount.Mount{Verdict: bindmount.None, What: artifacts.StateMountUnit + " inactive (test root)"}, nil
}

// maxMountsShown is how many of the mounts below the state root the
// deferral note names; the owner can make thousands.
const maxMountsShown = 5

// namedMounts names the first maxMountsShown mount points of below (each
// already quoted, textsafe.Quote) and counts the rest.
func namedMounts(below []string) string {
	if len(below) <= maxMountsShown {
		return strings.Join(below, " ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(below[:maxMountsShown], " "), len(below)-maxMountsShown)
}
