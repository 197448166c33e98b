//go:build linux

package steps

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/left4me/left4me-deploy/internal/hostfile"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/internal/hostpath"
)

// restart restarts the web unit when something it depends on changed in
// this run, or in an earlier run that failed before getting here; else it
// starts the web unit if it is down (startWebIfDown).
type restart struct{ d *Host }

// Restart is the restart step of h's run.
func Restart(h *Host) Step { return restart{h} }

func (restart) Name() string { return "restart" }

func (s restart) Run(ctx context.Context, g *Gate) error {
	d := s.d
	// Besides what this run and the pending-restart record say, the host
	// itself: a web app whose main process is older than a file it runs
	// with missed a restart (a record lost, or a change by hand).
	if obs := d.observer(); obs != nil {
		stale, err := webStale(ctx, obs, d.root, d.webDependencies())
		if err != nil {
			return err
		}
		d.observed.webStale, d.observed.webStaleSet = stale, true
		if stale != "" && len(d.restartReasons) == 0 {
			d.restartReasons = append(d.restartReasons, stale)
		}
	}
	if len(d.restartReasons) == 0 {
		if started, err := d.startWebIfDown(ctx, g); started || err != nil {
			return err
		}
		g.Note("nothing %s depends on changed", hostpath.WebUnit)
		return nil
	}
	why := strings.Join(d.restartReasons, ", ")
	if !d.o.Live.Services {
		g.Skip("with --root, would restart %s (%s)", hostpath.WebUnit, why)
		return nil
	}
	// The web app is installed separately; until it is, starting its unit
	// can only fail. The restart stays pending for the next run.
	if prog, _ := artifacts.WebExecPath(d.o.WebExec); !fileExists(d.path(prog)) {
		g.Skip("web app %s is not installed; %s not started (pending: %s)", prog, hostpath.WebUnit, why)
		return nil
	}
	return g.Change(fmt.Sprintf("restart %s (%s)", hostpath.WebUnit, why), func() error {
		if err := d.o.Services.Restart(ctx, hostpath.WebUnit); err != nil {
			return err
		}
		d.restartReasons = nil
		d.restarted = true
		if err := os.Remove(d.path(hostpath.PendingRestart)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("clear the pending restart: %w", err)
		}
		return hostfile.SyncDir(d.path(hostpath.DeployStateDir))
	})
}

// needRestart records that the web unit must restart and why. Callers
// call it before they make the change it follows from: on a real run with
// services the reasons are first written to the installer's own state
// (write-ahead, fsynced), so a run killed between the change and the
// restart step leaves the restart to the next run. A failure to record it
// is the step's failure: the change is then not made.
func (d *Host) needRestart(g *Gate, reason string) error {
	for _, r := range d.restartReasons {
		if r == reason {
			return nil
		}
	}
	d.restartReasons = append(d.restartReasons, reason)
	if g.DryRun() || !d.o.Live.Services || d.rendering {
		return nil
	}
	f := hostfile.File{Path: d.path(hostpath.PendingRestart), Data: []byte(strings.Join(d.restartReasons, "\n") + "\n"), Mode: 0o600, Owner: d.rootOwner()}
	if err := f.Write(nil); err != nil {
		return fmt.Errorf("record the pending restart of %s in %s before the change (%s): %w", hostpath.WebUnit, hostpath.PendingRestart, reason, err)
	}
	return nil
}

// loadPendingRestart reads the reasons an earlier failed run left behind.
func (d *Host) loadPendingRestart() error {
	b, err := os.ReadFile(d.path(hostpath.PendingRestart))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read pending restart %s: %w", hostpath.PendingRestart, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			d.restartReasons = append(d.restartReasons, l+" (earlier run)")
		}
	}
	return nil
}

// The web unit is installed enabled, so a deploy wants it running: a web
// unit that is down (inactive or failed) while its web app is installed is
// drift, and the restart step starts it (docs/operations.md, "The web
// app"). One that is activating (restarting after a crash) counts as up:
// starting it again would change nothing, and status reports it failed
// with its reason.

// startWebIfDown starts the web unit when it is down, through the gate.
// It runs only when nothing asked for a restart.
func (d *Host) startWebIfDown(ctx context.Context, g *Gate) (bool, error) {
	if !d.o.Live.Services {
		return false, nil
	}
	if prog, _ := artifacts.WebExecPath(d.o.WebExec); !fileExists(d.path(prog)) {
		return false, nil
	}
	if g.DryRun() && !fileExists(d.path(hostpath.UnitDir+"/"+hostpath.WebUnit)) {
		return false, nil // installed and started by the real run's restart
	}
	up, err := d.o.Services.IsActive(ctx, hostpath.WebUnit)
	if err != nil {
		return false, fmt.Errorf("ask systemd whether %s is active: %w", hostpath.WebUnit, err)
	}
	if up {
		return false, nil
	}
	return true, g.Change(fmt.Sprintf("start %s (installed and enabled, but not active)", hostpath.WebUnit), func() error {
		if err := d.o.Services.Start(ctx, hostpath.WebUnit); err != nil {
			return err
		}
		d.restarted = true
		return nil
	})
}
