package deploy

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/steps"
	"github.com/left4me/left4me-deploy/sudoers"
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
		{hostpath.UnitDir, steps.Dir{Mode: 0o755, Owner: root, KeepExisting: true}},
		{filepath.Dir(hostpath.SudoersFile), steps.Dir{Mode: 0o750, Owner: root, KeepExisting: true}},
		{DeployStateDir, steps.Dir{Mode: 0o700, Owner: root}},
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

// binaries installs the helpers and l4d2ctl from BinDir, each root:root
// 0755, skipped when the checksum, owner and mode already match.
type binaries struct{ d *deployer }

func (binaries) Name() string { return "binaries" }

func (s binaries) Run(ctx context.Context, g *steps.Gate) error {
	d := s.d
	for _, b := range binaryNames {
		c := steps.CopyFile{Source: filepath.Join(d.o.BinDir, b.name), Path: d.path(b.dest), Mode: 0o755, Owner: d.rootOwner()}
		st, err := c.Check()
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("binary %s is missing from %s: build it with go build -o %s/ ./cmd/... or pass --bin-dir", b.name, d.o.BinDir, d.o.BinDir)
		}
		if err != nil {
			return fmt.Errorf("checksum %s: %w", b.dest, err)
		}
		if st.Same {
			continue
		}
		what := "install " + b.dest
		switch {
		case st.Exists && st.InstalledSum == st.SourceSum:
			what = "set owner and mode of " + b.dest
		case st.Exists:
			g.BinaryDiff(b.dest, hex.EncodeToString(st.InstalledSum[:]), hex.EncodeToString(st.SourceSum[:]))
		default:
			g.BinaryDiff(b.dest, "", hex.EncodeToString(st.SourceSum[:]))
		}
		if err := g.Change(what, c.Write); err != nil {
			return err
		}
		d.needRestart(g, "binaries changed")
	}
	return nil
}

// sudoersFile renders the helper rules and installs them, validated by
// visudo before they replace the installed file.
type sudoersFile struct{ d *deployer }

func (sudoersFile) Name() string { return "sudoers" }

func (s sudoersFile) Run(ctx context.Context, g *steps.Gate) error {
	d := s.d
	data, err := sudoers.Render(sudoers.Params{User: d.o.User, OverlayHelper: hostpath.OverlayHelper,
		SystemctlHelper: hostpath.SystemctlHelper, JournalHelper: hostpath.JournalHelper})
	if err != nil {
		return err
	}
	f := sudoers.File(d.path(hostpath.SudoersFile), data)
	f.Owner = d.rootOwner()
	st, err := f.Check()
	if err != nil {
		return fmt.Errorf("read %s: %w", hostpath.SudoersFile, err)
	}
	if st.Same {
		return nil
	}
	g.FileDiff(hostpath.SudoersFile, st.Data, data)
	visudo, err := d.o.Probe.LookPath(sudoers.Visudo)
	if err != nil {
		return fmt.Errorf("validate sudoers: %w", err)
	}
	err = g.Change("install "+hostpath.SudoersFile, func() error {
		return f.Write(func(tmp string) error {
			return sudoers.ValidateWith(ctx, d.o.Runner, visudo, tmp)
		})
	})
	if err != nil {
		return err
	}
	d.needRestart(g, "sudoers changed")
	return nil
}

// units renders the web and server units, verifies them with
// systemd-analyze before they are installed, moves aside a unit of the same
// name in /etc/systemd/system (which would shadow ours), and reloads
// systemd only when something changed.
type units struct{ d *deployer }

func (units) Name() string { return "units" }

func (s units) Run(ctx context.Context, g *steps.Gate) error {
	d := s.d
	if err := s.holdStateMount(ctx, g); err != nil {
		return err
	}
	rendered, err := artifacts.Render(artifacts.Params{User: d.o.User, Group: d.o.Group, WebExec: d.o.WebExec})
	if err != nil {
		return err
	}
	type pending struct {
		u    artifacts.Unit
		f    steps.File
		host string
	}
	var todo []pending
	changed := map[string]bool{}
	for _, u := range rendered {
		host := hostpath.UnitDir + "/" + u.Name
		f := steps.File{Path: d.path(host), Data: u.Data, Mode: 0o644, Owner: d.rootOwner()}
		st, err := f.Check()
		if err != nil {
			return fmt.Errorf("read %s: %w", host, err)
		}
		if !st.Same {
			g.FileDiff(host, st.Data, u.Data)
			todo = append(todo, pending{u, f, host})
		}
	}
	if len(todo) > 0 {
		if err := s.verify(ctx, g, rendered); err != nil {
			return err
		}
	}
	for _, p := range todo {
		if err := g.Change("install "+p.host, func() error { return p.f.Write(nil) }); err != nil {
			return err
		}
		changed[p.u.Name] = true
	}
	for _, u := range rendered {
		host := EtcUnitDir + "/" + u.Name
		fi, err := os.Lstat(d.path(host))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			g.Note("%s is not a regular file (masked?); left as it is, and it overrides %s", host, u.Name)
			continue
		}
		saved := ReplacedDir + "/" + u.Name
		err = g.Change(fmt.Sprintf("move %s, which shadows ours, to %s", host, saved), func() error {
			if err := os.MkdirAll(d.path(ReplacedDir), 0o700); err != nil {
				return err
			}
			return os.Rename(d.path(host), d.path(saved))
		})
		if err != nil {
			return err
		}
		changed[u.Name] = true
	}
	for _, u := range rendered {
		if dropIns := d.path(EtcUnitDir + "/" + u.Name + ".d"); fileExists(dropIns) {
			g.Note("drop-ins in %s still apply to %s", EtcUnitDir+"/"+u.Name+".d", u.Name)
		}
	}
	// Record the web app's command line, so that a later run without
	// --web-exec renders the same unit.
	if !d.rendering {
		setting := steps.File{Path: d.path(WebExecFile), Data: []byte(d.o.WebExec + "\n"), Mode: 0o600, Owner: d.rootOwner()}
		st, err := setting.Check()
		if err != nil {
			return fmt.Errorf("read %s: %w", WebExecFile, err)
		}
		if !st.Same {
			if err := g.Change("record web app command line in "+WebExecFile, func() error { return setting.Write(nil) }); err != nil {
				return err
			}
		}
	}
	if changed[hostpath.WebUnit] {
		d.needRestart(g, "web unit changed")
	}
	if changed[hostpath.ServerUnit] {
		g.Note("running game servers pick up the new unit at their next start")
	}
	if len(changed) > 0 && d.o.Live.Services {
		if err := g.Change("reload systemd", func() error { return d.o.Services.DaemonReload(ctx) }); err != nil {
			return err
		}
	}
	if err := s.enable(ctx, g); err != nil {
		return err
	}
	return s.stateMount(ctx, g)
}

// enable makes the web unit start at boot, when the service manager can
// (see Enabler) and services are live.
func (s units) enable(ctx context.Context, g *steps.Gate) error {
	e, ok := s.d.o.Services.(Enabler)
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
func (s units) verify(ctx context.Context, g *steps.Gate, rendered []artifacts.Unit) error {
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
	f := steps.File{Path: d.path(PendingFile), Data: []byte(strings.Join(d.restartReasons, "\n") + "\n"), Mode: 0o600, Owner: d.rootOwner()}
	if err := f.Write(nil); err != nil {
		g.Log("could not record the pending restart in %s: %v", PendingFile, err)
	}
}
