package steps

import (
	"context"
	"errors"
	"fmt"
)

// ErrFailed is returned by Engine.Run when a step failed; the failing
// step's own error is wrapped alongside it.
var ErrFailed = errors.New("deploy failed")

// Engine runs a plan of steps in order. Its options live on the value.
type Engine struct {
	// DryRun records changes instead of making them.
	DryRun bool
	// Diff emits a unified diff for every file that changes.
	Diff bool
	// Emit receives every event as it happens; nil discards them.
	Emit func(Event)
	// OnChange, if set, is called at every change a step records through
	// its gate, before the change is made (Host.Changed).
	OnChange func()
}

// Run runs plan in order and returns the summary event. It stops at the
// first failure: later steps are reported skipped, and every step that ran
// and implements Cleaner is cleaned up, newest first (for example, services
// it stopped are started again). The error wraps ErrFailed and the failing
// step's error.
func (e *Engine) Run(ctx context.Context, plan []Step) (Event, error) {
	emit := e.Emit
	if emit == nil {
		emit = func(Event) {}
	}
	sum := Event{Type: EventSummary}
	count := func(ev Event) {
		switch ev.Status {
		case StatusOK:
			sum.OK++
		case StatusChanged:
			sum.Changed++
		case StatusFailed:
			sum.Failed++
		case StatusSkipped:
			sum.Skipped++
		}
		emit(ev)
	}

	var ran []Step
	var failure error
	for _, s := range plan {
		if failure != nil {
			count(Event{Type: EventStep, Step: s.Name(), Status: StatusSkipped, Reason: "not run: an earlier step failed"})
			continue
		}
		if err := ctx.Err(); err != nil {
			failure = fmt.Errorf("%s: %w", s.Name(), err)
			count(Event{Type: EventStep, Step: s.Name(), Status: StatusFailed, Reason: err.Error()})
			continue
		}
		if sr, ok := s.(ShouldRunner); ok {
			if run, reason := sr.ShouldRun(ctx); !run {
				count(Event{Type: EventStep, Step: s.Name(), Status: StatusSkipped, Reason: reason})
				continue
			}
		}
		emit(Event{Type: EventStart, Step: s.Name()})
		g := NewGate(s.Name(), e.DryRun, e.Diff, emit)
		g.onChange = e.OnChange
		var err error
		if dr, ok := s.(DryRunner); ok && e.DryRun {
			err = dr.DryRun(ctx, g)
		} else {
			err = s.Run(ctx, g)
		}
		ran = append(ran, s)
		status, reason := g.result(err)
		count(Event{Type: EventStep, Step: s.Name(), Status: status, Reason: reason})
		if err != nil {
			failure = fmt.Errorf("%s: %w", s.Name(), err)
		}
	}

	if failure != nil {
		// A cancelled context must not stop the cleanup.
		cctx := context.WithoutCancel(ctx)
		for i := len(ran) - 1; i >= 0; i-- {
			c, ok := ran[i].(Cleaner)
			if !ok {
				continue
			}
			g := NewGate(ran[i].Name(), e.DryRun, e.Diff, emit)
			g.onChange = e.OnChange
			if err := c.Cleanup(cctx, g); err != nil {
				emit(Event{Type: EventLog, Step: ran[i].Name(), Reason: "cleanup failed: " + err.Error()})
				failure = errors.Join(failure, fmt.Errorf("cleanup of %s: %w", ran[i].Name(), err))
				continue
			}
			for _, c := range g.changes {
				emit(Event{Type: EventLog, Step: ran[i].Name(), Reason: "cleanup: " + c})
			}
		}
		emit(sum)
		return sum, fmt.Errorf("%w: %w", ErrFailed, failure)
	}
	emit(sum)
	return sum, nil
}
