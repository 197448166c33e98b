//go:build linux

package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/internal/lines"
	"github.com/left4me/left4me-deploy/migrate"
	"github.com/left4me/left4me-deploy/steps"
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
