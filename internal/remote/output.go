package remote

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/textsafe"
	"github.com/left4me/left4me-deploy/steps"
)

// Printer writes the progress of every host to one stream, a whole line
// at a time: as text, each line prefixed with the host, or (JSON) one
// protocol.Event object per line with Host set.
type Printer struct {
	W    io.Writer
	JSON bool
	// ErrW takes the text progress lines (Progress) and the detail lines
	// (Detail); nil drops them.
	ErrW io.Writer
	// Verbose prints the detail lines of a failed host: what ran (-v).
	Verbose bool

	mu sync.Mutex
}

// Event prints one event from a host's plan.
//
// Text from a host is hostile (it carries names from the host's
// /var/lib/left4me), so every field is made printable (textsafe) and one
// event is one line, a diff one line per line. Only a step event is
// printed flush after the host, "HOST: STEP: STATUS"; every other line
// from the host is indented ("HOST:   text"), so no log or raw line can pass
// as a step line.
func (p *Printer) Event(ev protocol.Event) {
	if p.JSON {
		p.json(ev)
		return
	}
	switch ev.Type {
	case protocol.EventStep:
		line := fmt.Sprintf("%s: %s", ev.Step, ev.Status)
		if ev.Reason != "" {
			line += " (" + ev.Reason + ")"
		}
		p.lines(ev.Host, "", line)
	case protocol.EventDiff:
		p.lines(ev.Host, indent, "diff "+ev.Path)
		p.lines(ev.Host, indent, strings.Split(strings.TrimRight(ev.Diff, "\n"), "\n")...)
	case protocol.EventSummary:
		p.lines(ev.Host, "", counts(ev))
	default:
		text := ev.Reason
		if ev.Step != "" {
			text = ev.Step + ": " + text
		}
		p.lines(ev.Host, indent, text)
	}
}

// indent starts every line from a host that is not a step line or its
// summary.
const indent = "  "

// Log prints a line of the deploy's own or a raw line from the host (step
// names what it is about).
func (p *Printer) Log(host, step, text string) {
	if p.JSON {
		p.json(protocol.Event{Type: protocol.EventLog, Host: host, Step: step, Reason: text})
		return
	}
	p.lines(host, indent, text)
}

// Fail prints why a host failed.
func (p *Printer) Fail(host string, err error) {
	if p.JSON {
		p.json(protocol.Event{Type: protocol.EventError, Host: host, Status: steps.StatusFailed, Reason: err.Error()})
		return
	}
	p.lines(host, "", "FAILED: "+err.Error())
}

// Summary prints the closing table: one line per host.
func (p *Printer) Summary(results []Result) {
	if p.JSON {
		for _, r := range results {
			p.jsonLine(hostSummaryOf(r))
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.W, "summary:")
	for _, r := range results {
		switch {
		case r.Err != nil:
			fmt.Fprintf(p.W, "  %s: FAILED: %s\n", textsafe.Line(r.Target.Spec), textsafe.Field(r.Err.Error()))
		case r.Summary == nil:
			fmt.Fprintf(p.W, "  %s: FAILED: no summary from the host\n", r.Target.Spec)
		default:
			status := "ok"
			if r.Summary.Failed > 0 {
				status = "FAILED"
			}
			fmt.Fprintf(p.W, "  %s: %s %s, binaries sent=%d cached=%d\n", r.Target.Spec, status, counts(*r.Summary), r.Sent, r.Cached)
		}
	}
}

func counts(ev protocol.Event) string {
	return fmt.Sprintf("ok=%d changed=%d failed=%d skipped=%d", ev.OK, ev.Changed, ev.Failed, ev.Skipped)
}

func (p *Printer) json(ev protocol.Event) { p.jsonLine(ev) }

// jsonLine prints v as one JSON line.
func (p *Printer) jsonLine(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"schema":%d,"type":"error","reason":%q}`, steps.SchemaVersion, err.Error()))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.W.Write(append(b, '\n'))
}

// lines prints each text as one line: the host, prefix, and the text made
// printable (a newline or carriage return in it is escaped, never
// printed).
func (p *Printer) lines(host, prefix string, texts ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range texts {
		fmt.Fprintf(p.W, "%s: %s%s\n", textsafe.Quote(host), prefix, textsafe.Field(t))
	}
}
