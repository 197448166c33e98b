// Package migrate converts fuse-overlayfs upper dirs to the kernel overlayfs
// format in place, losslessly and resumably, gated by a sentinel file.
//
// The conversion follows the measured table of docs/design.md §4: fallback
// whiteouts (.wh.NAME) become 0/0 char devices, fuse-overlayfs opacity
// (user.fuseoverlayfs.opaque, .wh..wh..opq) becomes trusted.overlay.opaque=y,
// stray markers and user.fuseoverlayfs.* xattrs go, override_stat owners and
// modes are applied, and work/ is replaced by a fresh empty directory. It
// never follows a symlink, never crosses a mount and touches nothing else.
// Every step reads the current state before it changes it, in an order that
// keeps the information it removes, so a run killed at any point is finished
// by the next one with the same result.
package migrate

import (
	"context"
	"fmt"
	"io"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/overlayclient"
	"github.com/left4me/left4me-deploy/internal/service"
	"github.com/left4me/left4me-deploy/internal/textsafe"
)

// ReportFile is the host path where a run keeps its report.
const ReportFile = hostpath.MigrationReport

// JournalFile records the aside names chosen by --reset-upper until the
// sentinel is written, so a rerun after a crash moves nothing twice.
const JournalFile = hostpath.MigrationJournal

// ServerUnitGlob matches every game-server unit.
const ServerUnitGlob = "left4me-server@*.service"

// AsidePrefix starts the name --reset-upper moves an old upper to:
// runtime/NAME/upper.pre-kernel-overlay.N.
const AsidePrefix = "upper.pre-kernel-overlay."

// Options configures one migration run.
type Options struct {
	Root       hostpath.Root
	DryRun     bool
	ResetUpper bool
	// Services stops and starts units. With a non-host Root the migration
	// reports the stops and starts it would make instead of making them.
	Services service.Manager
	// Mounter mounts the overlay of each game server that was running
	// before its unit starts again: the server unit asserts that its merged
	// dir is a mount point. Nil on the host means mounting in this process
	// exactly as left4me-overlay mount NAME does, in PID 1's mount
	// namespace (overlay.Config{Root: Root}).
	Mounter overlayclient.Mounter
	// Log receives human-readable progress lines; may be nil.
	Log io.Writer
	// BeforeStart, when set, runs in a real run once every instance is
	// converted and the old stack's mounts are down, before the units that
	// were stopped start again: nothing is mounted below the state root
	// then (the deploy starts the state root's own mount there). An error
	// is reported, and the units still start.
	BeforeStart func(ctx context.Context) error
}

// Run performs the migration (see the package doc). With the sentinel
// present it returns a skipped report and touches nothing. On error the
// report says what was done so far; the services stay stopped, because a
// half-converted upper must not be mounted by fuse-overlayfs again, and
// running again finishes the job.
func Run(ctx context.Context, opts Options) (*Report, error) {
	return newMigrator(opts).run(ctx)
}

// logf writes one progress line. The line is made printable as a whole
// (textsafe.Line): names from the hostile tree in it can neither drive the
// operator's terminal nor start a line of their own.
func (m *migrator) logf(format string, args ...any) {
	if m.opts.Log != nil {
		fmt.Fprintln(m.opts.Log, textsafe.Line(fmt.Sprintf(format, args...)))
	}
}
