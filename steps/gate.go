package steps

import (
	"fmt"
	"strings"

	"github.com/aymanbagabas/go-udiff"
)

// Gate is the one way a step changes the host. Change either makes the
// change or, in a dry run, only records it; either way the change is
// counted, so the step's status and reason follow from what went through
// the gate and a dry run lists exactly what the real run does.
type Gate struct {
	dryRun  bool
	diff    bool
	step    string
	emit    func(Event)
	changes []string
	notes   []string
	skip    string
	// onChange is Engine.OnChange.
	onChange func()
}

// NewGate returns the gate of one step, for running a step (or its
// Cleanup) outside an Engine, as tests do.
func NewGate(step string, dryRun, diff bool, emit func(Event)) *Gate {
	return &Gate{step: step, dryRun: dryRun, diff: diff, emit: emit}
}

// DryRun reports whether changes are only recorded.
func (g *Gate) DryRun() bool { return g.dryRun }

// Change records the change described by what ("install /etc/x") and, unless
// this is a dry run, makes it by calling do. An error from do is returned
// prefixed with what.
func (g *Gate) Change(what string, do func() error) error {
	g.changes = append(g.changes, what)
	if g.onChange != nil {
		g.onChange()
	}
	if g.dryRun {
		return nil
	}
	if err := do(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Changed records a change that code with its own dry-run mode has made
// (or, in a dry run, would make).
func (g *Gate) Changed(what string) {
	g.changes = append(g.changes, what)
	if g.onChange != nil {
		g.onChange()
	}
}

// FileDiff emits a unified diff of a file that changes (or would), when
// diffs were asked for. path is the host path; binary content is summarised.
func (g *Gate) FileDiff(path string, old, new []byte) {
	if !g.diff {
		return
	}
	var d string
	switch {
	case isBinary(old) || isBinary(new):
		d = fmt.Sprintf("Binary files a%s (%d bytes) and b%s (%d bytes) differ\n", path, len(old), path, len(new))
	default:
		d = udiff.Unified("a"+path, "b"+path, string(old), string(new))
		if d == "" {
			// Same bytes: only owner or mode differ.
			return
		}
	}
	g.emit(Event{Type: EventDiff, Step: g.step, Path: path, Diff: d})
}

// BinaryDiff emits, when diffs were asked for, a one-line diff of a binary
// file by its SHA-256 checksums; oldSum is empty for a new file.
func (g *Gate) BinaryDiff(path, oldSum, newSum string) {
	if !g.diff {
		return
	}
	from := "a" + path + " (sha256 " + short(oldSum) + ")"
	if oldSum == "" {
		from = "/dev/null"
	}
	d := fmt.Sprintf("Binary files %s and b%s (sha256 %s) differ\n", from, path, short(newSum))
	g.emit(Event{Type: EventDiff, Step: g.step, Path: path, Diff: d})
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

// Note adds a remark to the step's reason without counting a change.
func (g *Gate) Note(format string, args ...any) {
	g.notes = append(g.notes, fmt.Sprintf(format, args...))
}

// Skip marks the step skipped, saying why (or what it would have done).
func (g *Gate) Skip(format string, args ...any) { g.skip = fmt.Sprintf(format, args...) }

// Log emits one line of progress for the step as it runs.
func (g *Gate) Log(format string, args ...any) {
	g.emit(Event{Type: EventLog, Step: g.step, Reason: fmt.Sprintf(format, args...)})
}

// result derives the step's status and reason from what went through g.
func (g *Gate) result(err error) (Status, string) {
	var parts []string
	for _, c := range g.changes {
		if g.dryRun {
			c = "would " + c
		}
		parts = append(parts, c)
	}
	parts = append(parts, g.notes...)
	switch {
	case err != nil:
		// Change prefixes its error with what it was doing; say it once.
		if n := len(parts) - len(g.notes); n > 0 && strings.HasPrefix(err.Error(), g.changes[n-1]+": ") {
			parts = append(parts[:n-1:n-1], parts[n:]...)
		}
		parts = append(parts, err.Error())
		return StatusFailed, strings.Join(parts, "; ")
	case g.skip != "" && len(g.changes) == 0:
		return StatusSkipped, strings.Join(append([]string{g.skip}, g.notes...), "; ")
	case len(g.changes) > 0:
		return StatusChanged, strings.Join(parts, "; ")
	}
	return StatusOK, strings.Join(parts, "; ")
}

func isBinary(b []byte) bool {
	n := len(b)
	if n > 8000 {
		n = 8000
	}
	return strings.IndexByte(string(b[:n]), 0) >= 0
}
