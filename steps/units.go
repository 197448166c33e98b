//go:build linux

package steps

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/left4me/left4me-deploy/internal/hostfile"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/service"
)

// units renders the web and server units, verifies them with
// systemd-analyze before they are installed, moves aside a unit of the same
// name in /etc/systemd/system (which would shadow ours), and reloads
// systemd only when something changed.
type units struct{ d *Host }

// Units is the units step of h's run.
func Units(h *Host) Step { return units{h} }

func (units) Name() string { return "units" }

// Run installs what differs and reloads systemd once if anything changed.
// Every unit's diff comes first, then the check of them all, then the
// writes: a unit that systemd-analyze rejects is never installed.
func (s units) Run(ctx context.Context, g *Gate) error {
	d := s.d
	if err := s.holdStateMount(ctx, g); err != nil {
		return err
	}
	rendered, err := artifacts.Render(artifacts.Params{User: d.o.User, Group: d.o.Group, WebExec: d.o.WebExec})
	if err != nil {
		return err
	}
	// The command line is recorded before the unit that holds it is
	// written: a run killed in between renders the same unit next time.
	if err := s.recordWebExec(g); err != nil {
		return err
	}
	installed, err := s.install(ctx, g, rendered)
	if err != nil {
		return err
	}
	moved, err := s.unshadow(g, rendered)
	if err != nil {
		return err
	}
	s.noteDropIns(g, rendered)
	changed := map[string]bool{}
	for _, name := range append(installed, moved...) {
		changed[name] = true
	}
	if changed[hostpath.ServerUnit] {
		g.Note("running game servers pick up the new unit at their next start")
	}
	if err := s.reload(ctx, g, len(changed) > 0); err != nil {
		return err
	}
	if err := s.enable(ctx, g); err != nil {
		return err
	}
	return s.stateMount(ctx, g)
}

// install writes the rendered units that differ from the installed ones into
// UnitDir, after showing every diff and verifying them all, and returns the
// names of the units it wrote.
func (s units) install(ctx context.Context, g *Gate, rendered []artifacts.Unit) ([]string, error) {
	d := s.d
	type pending struct {
		u    artifacts.Unit
		f    hostfile.File
		host string
	}
	var todo []pending
	for _, u := range rendered {
		host := hostpath.UnitDir + "/" + u.Name
		f := hostfile.File{Path: d.path(host), Data: u.Data, Mode: 0o644, Owner: d.rootOwner()}
		st, err := f.Check()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", host, err)
		}
		if !st.Same {
			g.FileDiff(host, st.Data, u.Data)
			todo = append(todo, pending{u, f, host})
		}
	}
	if len(todo) > 0 {
		if err := s.verify(ctx, g, rendered); err != nil {
			return nil, err
		}
	}
	var names []string
	for _, p := range todo {
		if p.u.Name == hostpath.WebUnit {
			if err := d.needRestart(g, "web unit changed"); err != nil {
				return nil, err
			}
		}
		if err := g.Change("install "+p.host, func() error { return p.f.Write(nil) }); err != nil {
			return nil, err
		}
		names = append(names, p.u.Name)
	}
	return names, nil
}

// unshadow moves a regular file of the same name as one of ours out of
// EtcUnitDir, where it would override ours, into ReplacedDir, and returns
// the names it moved. A symlink there (a masked unit) is left, with a note.
func (s units) unshadow(g *Gate, rendered []artifacts.Unit) ([]string, error) {
	d := s.d
	var names []string
	for _, u := range rendered {
		host := hostpath.EtcUnitDir + "/" + u.Name
		fi, err := os.Lstat(d.path(host))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			g.Note("%s is not a regular file (masked?); left as it is, and it overrides %s", host, u.Name)
			continue
		}
		saved := hostpath.ReplacedDir + "/" + u.Name
		if u.Name == hostpath.WebUnit {
			if err := d.needRestart(g, "web unit changed"); err != nil {
				return nil, err
			}
		}
		err = g.Change(fmt.Sprintf("move %s, which shadows ours, to %s", host, saved), func() error {
			if err := os.MkdirAll(d.path(hostpath.ReplacedDir), 0o700); err != nil {
				return err
			}
			if err := os.Rename(d.path(host), d.path(saved)); err != nil {
				return err
			}
			if err := hostfile.SyncDir(d.path(hostpath.ReplacedDir)); err != nil {
				return err
			}
			return hostfile.SyncDir(d.path(hostpath.EtcUnitDir))
		})
		if err != nil {
			return nil, err
		}
		names = append(names, u.Name)
	}
	return names, nil
}

// noteDropIns says which of our units an administrator's drop-in directory
// in EtcUnitDir still changes.
func (s units) noteDropIns(g *Gate, rendered []artifacts.Unit) {
	for _, u := range rendered {
		if dropIns := s.d.path(hostpath.EtcUnitDir + "/" + u.Name + ".d"); fileExists(dropIns) {
			g.Note("drop-ins in %s still apply to %s", hostpath.EtcUnitDir+"/"+u.Name+".d", u.Name)
		}
	}
}

// recordWebExec keeps the web app's command line in WebExecFile, so that a
// later run without --web-exec renders the same unit. Render records
// nothing: it writes only the installed artifacts.
func (s units) recordWebExec(g *Gate) error {
	d := s.d
	if d.rendering {
		return nil
	}
	setting := hostfile.File{Path: d.path(hostpath.WebExecFile), Data: []byte(d.o.WebExec + "\n"), Mode: 0o600, Owner: d.rootOwner()}
	st, err := setting.Check()
	if err != nil {
		return fmt.Errorf("read %s: %w", hostpath.WebExecFile, err)
	}
	if st.Same {
		return nil
	}
	return g.Change("record web app command line in "+hostpath.WebExecFile, func() error { return setting.Write(nil) })
}

// reload runs systemctl daemon-reload when this run changed a unit or
// systemd still holds one of ours loaded from an older file
// (NeedDaemonReload): a run killed after installing a unit and before the
// reload leaves that state, and the next run finishes the job.
func (s units) reload(ctx context.Context, g *Gate, changed bool) error {
	d := s.d
	if !d.o.Live.Services {
		return nil
	}
	why := "units changed"
	if !changed {
		obs := d.observer()
		if obs == nil {
			return nil
		}
		stale, err := staleUnits(ctx, obs, d.o)
		if err != nil {
			return err
		}
		d.observed.staleUnits, d.observed.staleUnitsSet = stale, true
		if len(stale) == 0 {
			return nil
		}
		why = "systemd holds " + strings.Join(stale, ", ") + " loaded from older files"
	}
	return g.Change("reload systemd ("+why+")", func() error { return d.o.Services.DaemonReload(ctx) })
}

// enable makes the web unit start at boot, when the service manager can
// (see service.Enabler) and services are live.
func (s units) enable(ctx context.Context, g *Gate) error {
	e, ok := s.d.o.Services.(service.Enabler)
	if !ok || !s.d.o.Live.Services {
		return nil
	}
	// A unit that was never installed cannot be asked about in a dry run;
	// the real run installs it first.
	if g.DryRun() && !fileExists(s.d.path(hostpath.UnitDir+"/"+hostpath.WebUnit)) {
		g.Changed("enable " + hostpath.WebUnit)
		return nil
	}
	on, err := e.IsEnabled(ctx, hostpath.WebUnit)
	if err != nil {
		return fmt.Errorf("ask systemd whether %s is enabled: %w", hostpath.WebUnit, err)
	}
	if on {
		return nil
	}
	return g.Change("enable "+hostpath.WebUnit, func() error { return e.Enable(ctx, hostpath.WebUnit) })
}

// verify checks the rendered units with systemd-analyze in a scratch
// directory, before any of them is installed. The only complaint tolerated
// is that the web app's program is not installed yet.
func (s units) verify(ctx context.Context, g *Gate, rendered []artifacts.Unit) error {
	analyze, err := s.d.o.Probe.LookPath(artifacts.SystemdAnalyze)
	if err != nil {
		return fmt.Errorf("verify units: %w", err)
	}
	dir, err := os.MkdirTemp("", "left4me-units-")
	if err != nil {
		return fmt.Errorf("verify units: %w", err)
	}
	defer os.RemoveAll(dir)
	var paths []string
	for _, u := range rendered {
		p := filepath.Join(dir, u.Name)
		if err := os.WriteFile(p, u.Data, 0o644); err != nil {
			return fmt.Errorf("verify units: %w", err)
		}
		paths = append(paths, p)
	}
	prog, _ := artifacts.WebExecPath(s.d.o.WebExec)
	webMissing := artifacts.MissingProgram(hostpath.WebUnit, prog)
	// systemd-analyze looks for l4d2ctl on the running system, where a run
	// with --root or a dry run has not put it.
	ctlMissing := artifacts.MissingProgram(hostpath.ServerUnit, hostpath.L4d2ctl)
	warnings, err := artifacts.VerifyWith(ctx, s.d.o.Runner, analyze, paths, artifacts.AnyOf(webMissing, ctlMissing))
	if err != nil {
		return err
	}
	for _, w := range warnings {
		if webMissing(w) {
			g.Note("web app %s is not installed yet", prog)
			break
		}
	}
	return nil
}
