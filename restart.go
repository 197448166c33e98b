//go:build linux

package deploy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/steps"
)

// restart restarts the web unit when something it depends on changed in
// this run, or in an earlier run that failed before getting here; else it
// starts the web unit if it is down (webup.go).
type restart struct{ d *deployer }

func (restart) Name() string { return "restart" }

func (s restart) Run(ctx context.Context, g *steps.Gate) error {
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
		return steps.SyncDir(d.path(hostpath.DeployStateDir))
	})
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// needRestart records that the web unit must restart and why. Callers
// call it before they make the change it follows from: on a real run with
// services the reasons are first written to the installer's own state
// (write-ahead, fsynced), so a run killed between the change and the
// restart step leaves the restart to the next run. A failure to record it
// is the step's failure: the change is then not made.
func (d *deployer) needRestart(g *steps.Gate, reason string) error {
	for _, r := range d.restartReasons {
		if r == reason {
			return nil
		}
	}
	d.restartReasons = append(d.restartReasons, reason)
	if g.DryRun() || !d.o.Live.Services || d.rendering {
		return nil
	}
	f := steps.File{Path: d.path(hostpath.PendingRestart), Data: []byte(strings.Join(d.restartReasons, "\n") + "\n"), Mode: 0o600, Owner: d.rootOwner()}
	if err := f.Write(nil); err != nil {
		return fmt.Errorf("record the pending restart of %s in %s before the change (%s): %w", hostpath.WebUnit, hostpath.PendingRestart, reason, err)
	}
	return nil
}

// loadPendingRestart reads the reasons an earlier failed run left behind.
func (d *deployer) loadPendingRestart() error {
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
