//go:build linux

package deploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/runner"
	"github.com/left4me/left4me-deploy/steps"
)

// The web unit is installed enabled, so a deploy wants it running: a web
// unit that is down (inactive or failed) while its web app is installed is
// drift, and the restart step starts it (docs/operations.md, "The web
// app"). One that is activating (restarting after a crash) counts as up:
// starting it again would change nothing, and status reports it failed
// with its reason.

// startWebIfDown starts the web unit when it is down, through the gate.
// It runs only when nothing asked for a restart.
func (d *deployer) startWebIfDown(ctx context.Context, g *steps.Gate) (bool, error) {
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

// webReason says why the web unit is not active, from systemctl show, for
// status: "inactive (dead), result success: a deploy starts it".
func webReason(ctx context.Context, r runner.Runner) string {
	out, _ := runner.Output(ctx, r, "systemctl", "show", "--property=ActiveState,SubState,Result,ExecMainCode,ExecMainStatus", hostpath.WebUnit)
	p := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			p[k] = v
		}
	}
	if p["ActiveState"] == "" {
		return ""
	}
	s := fmt.Sprintf("%s is %s (%s), result %s", hostpath.WebUnit, p["ActiveState"], p["SubState"], p["Result"])
	if st := p["ExecMainStatus"]; st != "" && st != "0" {
		s += ", last exit status " + st
	}
	switch p["ActiveState"] {
	case "inactive", "failed":
		s += ": a deploy starts it"
	case "activating":
		s += ": it keeps restarting; see journalctl -u " + hostpath.WebUnit
	}
	return s
}
