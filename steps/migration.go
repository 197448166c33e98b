//go:build linux

package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/left4me/left4me-deploy/internal/hostfile"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/lines"
	"github.com/left4me/left4me-deploy/migrate"
)

// migration converts fuse-overlayfs upper dirs to the kernel format, once
// (migrate.Run is gated by its sentinel). The migration stops the game
// servers and the web app itself and starts them again when it is done. If
// it fails part way it leaves them stopped, so that running it again can
// finish; Cleanup then brings back the web app, which is safe because
// left4me-overlay refuses to mount an upper dir still in fuse-overlayfs
// format. Game servers stay down until the migration is finished.
type migration struct {
	d   *Host
	rep *migrate.Report // what the migration reported, for Cleanup
}

// Migration is the migration step of h's run.
func Migration(h *Host) Step { return &migration{d: h} }

func (*migration) Name() string { return "migration" }

func (s *migration) Run(ctx context.Context, g *Gate) error { return s.run(ctx, g, false) }

// DryRun asks the migration what it would do; it has its own dry-run mode.
func (s *migration) DryRun(ctx context.Context, g *Gate) error { return s.run(ctx, g, true) }

func (s *migration) run(ctx context.Context, g *Gate, dryRun bool) error {
	d := s.d
	if dryRun && !stateRootExists(d.root) {
		// The real run creates the state dir first; a fresh one holds no
		// instances, and the migration only writes its sentinel.
		g.Changed("migrate 0 instance(s) of a fresh install (sentinel)")
		return d.needRestart(g, "migration ran")
	}
	lw := &lines.Writer{Emit: func(l string) { g.Log("%s", l) }}
	rep, err := migrate.Run(ctx, migrate.Options{Root: d.root, DryRun: dryRun, Services: d.o.Services, Mounter: d.o.Overlays, Log: lw,
		BeforeStart: d.stateMountBeforeStart(g)})
	lw.Flush()
	s.rep = rep
	d.keepMigrationReport(g, dryRun, rep)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if rep.Changed() {
		g.Changed(strings.TrimPrefix(rep.Summary(), "would "))
		return d.needRestart(g, "migration ran")
	}
	g.Note("%s", rep.Summary())
	return nil
}

// Cleanup starts the web app again if the migration stopped it and then
// failed, or if a later step failed after a migration that left it stopped.
func (s *migration) Cleanup(ctx context.Context, g *Gate) error {
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

// keepMigrationReport writes root's own copy of a migration run's report
// (hostpath.DeployMigrationReport, in root's 0700 directory) when the run
// did or tried something, so status reads root's file, not the copy in the
// state root that its owner can replace. A failure to write it is logged:
// the state root's copy still says what happened.
func (d *Host) keepMigrationReport(g *Gate, dryRun bool, rep *migrate.Report) {
	if dryRun || d.rendering || rep == nil || rep.Skipped {
		return
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err == nil {
		f := hostfile.File{Path: d.path(hostpath.DeployMigrationReport), Data: append(b, '\n'), Mode: 0o600, Owner: d.rootOwner()}
		err = f.Write(nil)
	}
	if err != nil {
		g.Log("could not keep the migration report in %s: %v", hostpath.DeployMigrationReport, err)
	}
}

// ReadMigrationReport returns the last migration report: root's own copy
// when there is one, else (a host migrated before root kept one) the state
// root's, read through fsat (ReadSmall: no link, no mount crossed, no
// FIFO, at most stateFileMax). Both are capped; ok is false when there is
// none.
func ReadMigrationReport(root hostpath.Root) (b []byte, ok bool, err error) {
	own := root.Join(hostpath.DeployMigrationReport)
	dir, err := fsat.OpenTrusted(filepath.Dir(own), unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err == nil {
		b, err = dir.ReadSmall(filepath.Base(own), stateFileMax)
		dir.Close()
		if err == nil {
			return b, true, nil
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	state, err := OpenStateRoot(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	defer state.Close()
	b, err = state.ReadSmall(filepath.Base(migrate.ReportFile), stateFileMax)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w (the state root's copy; root keeps none)", err)
	}
	return b, true, nil
}
