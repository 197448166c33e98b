//go:build linux

package daytwo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	deploy "github.com/left4me/left4me-deploy"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/release"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/migrate"
	"github.com/left4me/left4me-deploy/steps"
)

// Status inspects the host (files under o.Root): the plan's dry run for
// the drift, and the release, migration, web app and instances. It
// changes nothing and takes no lock. The returned summary is the dry run's.
func Status(ctx context.Context, o deploy.Options) (protocol.HostStatus, steps.Event, error) {
	st := protocol.HostStatus{Type: protocol.EventStatus, Drift: []protocol.Drift{}, Instances: []protocol.Instance{}}
	o.DryRun = true
	o.Diff = false
	o.Emit = func(ev steps.Event) {
		if ev.Type != steps.EventStep {
			return
		}
		switch ev.Status {
		case steps.StatusChanged:
			st.Drift = append(st.Drift, protocol.Drift{Step: ev.Step, Reason: ev.Reason})
		case steps.StatusFailed:
			st.Failed = append(st.Failed, protocol.Drift{Step: ev.Step, Reason: ev.Reason})
		}
	}
	sum, h, planErr := deploy.Run(ctx, o)
	// Run filled in the defaults on its own copy.
	if err := o.Fill(); err != nil {
		return st, sum, err
	}
	var err error
	if st.Release, err = release.Last(o.Root); err != nil {
		st.Failed = append(st.Failed, protocol.Drift{Step: "release", Reason: err.Error()})
	}
	if h != nil {
		if st.Recorded, err = checkRecorded(ctx, h, o.Root, st.Release); err != nil {
			st.Failed = append(st.Failed, protocol.Drift{Step: "recorded", Reason: err.Error()})
		}
	}
	st.Migration = migrationState(o.Root)
	st.Web = "unknown (services not inspected with --root)"
	if o.Live.Services {
		var ok bool
		if h != nil {
			st.Web, ok = h.ActiveState(ctx, hostpath.WebUnit)
		}
		if !ok {
			out, _ := runner.Output(ctx, o.Runner, "systemctl", "is-active", hostpath.WebUnit)
			st.Web = strings.TrimSpace(out)
		}
		if st.Web == "" {
			st.Web = "unknown"
		}
		if st.Web != "active" {
			st.WebReason = webReason(ctx, o.Runner)
		}
	}
	st.Instances, err = listInstances(ctx, o)
	if err != nil {
		st.InstancesError = err.Error()
	}
	return st, sum, planErr
}

// migrationState reads the sentinel in the state root, which belongs to its
// owner, through the state root's fd (no link followed, no mount crossed),
// and the last report: root's own copy, else the state root's, through
// fsat.ReadSmall (steps.ReadMigrationReport).
func migrationState(root hostpath.Root) protocol.Migration {
	var m protocol.Migration
	state, err := steps.OpenStateRoot(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return m
	case err != nil:
		m.Report = "unreadable: " + err.Error()
		return m
	}
	defer state.Close()
	if e, err := state.Stat(filepath.Base(hostpath.Sentinel)); err == nil && e.IsReg() {
		m.Sentinel = true
	}
	b, found, err := steps.ReadMigrationReport(root)
	switch {
	case err != nil:
		m.Report = "unreadable: " + err.Error()
		return m
	case !found:
		return m
	}
	var r migrate.Report
	if err := json.Unmarshal(b, &r); err != nil {
		m.Report = "unreadable: " + err.Error()
		return m
	}
	changes := 0
	for _, n := range r.Totals() {
		changes += n
	}
	m.Report = fmt.Sprintf("%d instances, %d changes", len(r.Instances), changes)
	if r.Error != "" {
		m.Report += ", unfinished: " + r.Error
	}
	return m
}

// listInstances runs the installed l4d2ctl list --json.
func listInstances(ctx context.Context, o deploy.Options) ([]protocol.Instance, error) {
	ctl := o.Root.Join(hostpath.L4d2ctl)
	if _, err := os.Stat(ctl); err != nil {
		return []protocol.Instance{}, fmt.Errorf("l4d2ctl is not installed: %w", err)
	}
	var env []string
	if !o.Root.IsHost() {
		env = append(os.Environ(), hostpath.RootEnv+"="+string(o.Root))
	}
	var out strings.Builder
	runErr := o.Runner.Run(ctx, runner.Cmd{Argv: []string{ctl, "list", "--json"}, Env: env, Stdout: &out})
	list := []protocol.Instance{}
	if s := strings.TrimSpace(out.String()); s != "" {
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return []protocol.Instance{}, fmt.Errorf("l4d2ctl list --json: %w", err)
		}
	}
	if runErr != nil {
		return list, runErr
	}
	return list, nil
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
