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
		return nil
	})
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// needRestart records that the web unit must restart and why. On a real
// run with services it is also written to the installer's own state, so a
// run that fails before the restart step leaves it for the next run.
func (d *deployer) needRestart(g *steps.Gate, reason string) {
	for _, r := range d.restartReasons {
		if r == reason {
			return
		}
	}
	d.restartReasons = append(d.restartReasons, reason)
	if g.DryRun() || !d.o.Live.Services {
		return
	}
	f := steps.File{Path: d.path(hostpath.PendingRestart), Data: []byte(strings.Join(d.restartReasons, "\n") + "\n"), Mode: 0o600, Owner: d.rootOwner()}
	if err := f.Write(nil); err != nil {
		g.Log("could not record the pending restart in %s: %v", hostpath.PendingRestart, err)
	}
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
