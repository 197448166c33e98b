package steps

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/left4me/left4me-deploy/internal/textsafe"
)

// TextPrinter returns an Emit function that writes one line per step as it
// finishes, diffs and log lines as they come, and the closing counts as
// "ok=N changed=N failed=N skipped=N".
func TextPrinter(w io.Writer) func(Event) {
	var mu sync.Mutex
	return func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprint(w, FormatText(e))
	}
}

// FormatText renders one event the way TextPrinter prints it. Every field
// is made printable (textsafe): reasons and log lines carry names from the
// hostile tree, and one event is exactly one line (a diff one line per
// line of the diff), so nothing in them can forge a step line.
func FormatText(e Event) string {
	switch e.Type {
	case EventStep:
		line := fmt.Sprintf("%-8s %s", textsafe.Line(string(e.Status)), textsafe.Line(e.Step))
		if e.Reason != "" {
			line += ": " + textsafe.Field(e.Reason)
		}
		return line + "\n"
	case EventDiff:
		d := textsafe.Lines(strings.TrimSuffix(e.Diff, "\n"))
		return d + "\n"
	case EventLog:
		return fmt.Sprintf("         %s: %s\n", textsafe.Line(e.Step), textsafe.Field(e.Reason))
	case EventSummary:
		return fmt.Sprintf("ok=%d changed=%d failed=%d skipped=%d\n", e.OK, e.Changed, e.Failed, e.Skipped)
	case EventStart:
		return "" // the step's own line says how it ended
	}
	b, _ := json.Marshal(e)
	return textsafe.Line(string(b)) + "\n"
}
