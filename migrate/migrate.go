// Package migrate converts fuse-overlayfs upper dirs to the kernel overlayfs
// format in place, losslessly and resumably, gated by a sentinel file.
package migrate

import (
	"context"
	"io"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/service"
)

// Options configures one migration run.
type Options struct {
	Root       hostpath.Root
	DryRun     bool
	ResetUpper bool
	// Services stops and starts units. With a non-host Root the migration
	// reports the stops and starts it would make instead of making them.
	Services service.Manager
	// Log receives human-readable progress lines; may be nil.
	Log io.Writer
}

// Report says what a run changed (or, in dry-run, would change).
type Report struct {
	// Skipped is true when the sentinel was present and nothing was touched.
	Skipped bool
}

// Changed reports whether the run changed (or would change) anything.
func (r *Report) Changed() bool { return r != nil && !r.Skipped }

// Summary is a one-line description for the installer's step line.
func (r *Report) Summary() string {
	if r == nil || r.Skipped {
		return "sentinel present, nothing to do"
	}
	return "migrated"
}

// Run performs the migration. Not yet implemented beyond the sentinel gate.
func Run(ctx context.Context, opts Options) (*Report, error) {
	return &Report{Skipped: true}, nil
}
