package steps

import "context"

// Step is one stage of a plan. Run reads the current state, decides, and
// makes every change through g, so that a dry run (g.DryRun) records the
// change instead of making it.
type Step interface {
	Name() string
	Run(ctx context.Context, g *Gate) error
}

// DryRunner is implemented by a step whose changes are made by code with its
// own dry-run mode (the migration). In a dry run the engine calls DryRun
// instead of Run; the step reports what would change with g.Changed.
type DryRunner interface {
	DryRun(ctx context.Context, g *Gate) error
}

// ShouldRunner is implemented by a step that applies only in some setups.
// When ShouldRun returns false the step is reported skipped with reason.
type ShouldRunner interface {
	ShouldRun(ctx context.Context) (ok bool, reason string)
}

// Cleaner is implemented by a step that must undo part of its work when the
// run fails, such as starting again a service it stopped. After a failure
// the engine calls Cleanup on every step that ran, newest first.
type Cleaner interface {
	Cleanup(ctx context.Context, g *Gate) error
}
