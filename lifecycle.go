package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/migrate"
	"github.com/left4me/left4me-deploy/runner"
	"github.com/left4me/left4me-deploy/service"
	"github.com/left4me/left4me-deploy/steps"
	"github.com/left4me/left4me-deploy/sudoers"
)

// migration converts fuse-overlayfs upper dirs to the kernel format, once
// (migrate.Run is gated by its sentinel). The migration stops the game
// servers and the web app itself and starts them again when it is done. If
// it fails part way it leaves them stopped, so that running it again can
// finish; Cleanup then brings back the web app, which is safe because
// left4me-overlay refuses to mount an upper dir still in fuse-overlayfs
// format. Game servers stay down until the migration is finished.
type migration struct {
	d   *deployer
	rep *migrate.Report // what the migration reported, for Cleanup
}

func (*migration) Name() string { return "migration" }

func (s *migration) Run(ctx context.Context, g *steps.Gate) error { return s.run(ctx, g, false) }

// DryRun asks the migration what it would do; it has its own dry-run mode.
func (s *migration) DryRun(ctx context.Context, g *steps.Gate) error { return s.run(ctx, g, true) }

func (s *migration) run(ctx context.Context, g *steps.Gate, dryRun bool) error {
	d := s.d
	if dryRun && !fileExists(d.path(hostpath.StateDir)) {
		// The real run creates the state dir first; a fresh one holds no
		// instances, and the migration only writes its sentinel.
		g.Changed("migrate 0 instance(s) of a fresh install (sentinel)")
		d.needRestart(g, "migration ran")
		return nil
	}
	lw := &lineWriter{emit: func(l string) { g.Log("%s", l) }}
	rep, err := migrate.Run(ctx, migrate.Options{Root: d.root, DryRun: dryRun, Services: d.o.Services, Mounter: d.o.Overlays, Log: lw,
		BeforeStart: d.stateMountBeforeStart(g)})
	lw.Flush()
	s.rep = rep
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if rep.Changed() {
		g.Changed(strings.TrimPrefix(rep.Summary(), "would "))
		d.needRestart(g, "migration ran")
		return nil
	}
	g.Note("%s", rep.Summary())
	return nil
}

// Cleanup starts the web app again if the migration stopped it and then
// failed, or if a later step failed after a migration that left it stopped.
func (s *migration) Cleanup(ctx context.Context, g *steps.Gate) error {
	if s.rep == nil || !s.rep.Services.Made || !slices.Contains(s.rep.Services.Start, hostpath.WebUnit) {
		return nil
	}
	active, err := s.d.o.Services.IsActive(ctx, hostpath.WebUnit)
	if err != nil || active {
		return err
	}
	return g.Change("start "+hostpath.WebUnit+" again", func() error {
		return s.d.o.Services.Start(ctx, hostpath.WebUnit)
	})
}

// lineWriter turns written bytes into one callback per line.
type lineWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	emit func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err == io.EOF {
			w.buf.WriteString(line)
			return len(p), nil
		}
		w.emit(strings.TrimRight(line, "\n"))
	}
}

// Flush emits a last line without a newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.emit(w.buf.String())
		w.buf.Reset()
	}
}

// restart restarts the web unit when something it depends on changed in
// this run, or in an earlier run that failed before getting here.
type restart struct{ d *deployer }

func (restart) Name() string { return "restart" }

func (s restart) Run(ctx context.Context, g *steps.Gate) error {
	d := s.d
	if len(d.restartReasons) == 0 {
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
		if err := os.Remove(d.path(PendingFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("clear the pending restart: %w", err)
		}
		return nil
	})
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Enabler is the optional part of a service.Manager that enables units to
// start at boot.
type Enabler interface {
	IsEnabled(ctx context.Context, unit string) (bool, error)
	Enable(ctx context.Context, units ...string) error
}

// systemd is service.Systemctl plus Enabler.
type systemd struct{ service.Systemctl }

func (s systemd) systemctl() string {
	if s.Path != "" {
		return s.Path
	}
	return "systemctl"
}

// IsEnabled implements Enabler. is-enabled exits non-zero for every state
// but enabled, so the printed state decides.
func (s systemd) IsEnabled(ctx context.Context, unit string) (bool, error) {
	out, err := runner.Output(ctx, s.Runner, s.systemctl(), "is-enabled", unit)
	switch state := strings.TrimSpace(out); state {
	case "enabled", "enabled-runtime", "alias", "static", "indirect", "generated":
		return true, nil
	case "":
		return false, err
	}
	return false, nil
}

// Enable implements Enabler.
func (s systemd) Enable(ctx context.Context, units ...string) error {
	return s.Runner.Run(ctx, runner.Cmd{Argv: append([]string{s.systemctl(), "enable"}, units...)})
}

// loadPendingRestart reads the reasons an earlier failed run left behind.
func (d *deployer) loadPendingRestart() error {
	b, err := os.ReadFile(d.path(PendingFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read pending restart %s: %w", PendingFile, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			d.restartReasons = append(d.restartReasons, l+" (earlier run)")
		}
	}
	return nil
}

// verify checks the result: helpers and l4d2ctl root-owned 0755, sudoers
// 0440 and accepted by visudo together with the rest of the system's rules,
// and the web unit active if this run restarted it.
type verify struct{ d *deployer }

func (verify) Name() string { return "verify" }

func (s verify) ShouldRun(context.Context) (bool, string) {
	if s.d.o.DryRun {
		return false, "dry run: nothing installed to verify"
	}
	return true, ""
}

func (s verify) Run(ctx context.Context, g *steps.Gate) error {
	d := s.d
	var problems []string
	check := func(host string, mode fs.FileMode) {
		fi, err := os.Lstat(d.path(host))
		if err != nil {
			problems = append(problems, err.Error())
			return
		}
		f := steps.File{Path: d.path(host), Mode: mode, Owner: d.rootOwner()}
		if !fi.Mode().IsRegular() || !steps.MetaEqual(fi, f.Mode, f.Owner) {
			problems = append(problems, fmt.Sprintf("%s is %v, want a regular file %#o %s", host, fi.Mode(), mode, ownerString(f.Owner)))
		}
	}
	for _, b := range binaryNames {
		check(b.dest, 0o755)
	}
	check(hostpath.SudoersFile, 0o440)
	if d.root.IsHost() && d.o.Live.Services {
		if visudo, err := d.o.Probe.LookPath(sudoers.Visudo); err == nil {
			if err := d.o.Runner.Run(ctx, runner.Cmd{Argv: []string{visudo, "-c"}}); err != nil {
				problems = append(problems, "the system's sudoers as a whole: "+err.Error())
			}
		}
	}
	if d.o.Live.Services {
		if d.restarted {
			active, err := d.o.Services.IsActive(ctx, hostpath.WebUnit)
			if err != nil || !active {
				problems = append(problems, fmt.Sprintf("%s is not active after its restart (see journalctl -u %s)", hostpath.WebUnit, hostpath.WebUnit))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
