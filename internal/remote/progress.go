package remote

import (
	"fmt"
	"os"

	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/textsafe"
	"github.com/left4me/left4me-deploy/steps"
)

// EventProgress is a line about a slow phase on the workstation or the
// host (building the host binaries, sending one): in JSON an event of
// its own, in text a line on Printer.ErrW.
const EventProgress steps.EventType = "progress"

// Progress says that host entered a slow phase (step names it: build,
// ship). Text goes to ErrW (stderr), so stdout keeps the host's plan and
// the summary only.
func (p *Printer) Progress(host, step, text string) {
	if p.JSON {
		p.json(protocol.Event{Type: protocol.EventType(EventProgress), Host: host, Step: step, Reason: text})
		return
	}
	if p.ErrW == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.ErrW, "%s: %s: %s\n", textsafe.Line(host), textsafe.Line(step), textsafe.Line(text))
}

// sizeOf is a file's size for a progress line.
func sizeOf(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "size unknown"
	}
	return fmt.Sprintf("%.1f MB", float64(fi.Size())/1e6)
}
