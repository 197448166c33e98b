package remote

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/left4me/left4me-deploy/steps"
)

// Printer writes the progress of every host to one stream, a whole line
// at a time: as text, each line prefixed with the host, or (JSON) one
// steps.Event object per line with Host set.
type Printer struct {
	W    io.Writer
	JSON bool

	mu sync.Mutex
}

// Event prints one event from a host's plan.
func (p *Printer) Event(ev steps.Event) {
	if p.JSON {
		p.json(ev)
		return
	}
	switch ev.Type {
	case steps.EventStep:
		line := fmt.Sprintf("%s: %s", ev.Step, ev.Status)
		if ev.Reason != "" {
			line += " (" + ev.Reason + ")"
		}
		p.lines(ev.Host, line)
	case steps.EventDiff:
		p.lines(ev.Host, "diff "+ev.Path+"\n"+strings.TrimRight(ev.Diff, "\n"))
	case steps.EventSummary:
		p.lines(ev.Host, counts(ev))
	default:
		text := ev.Reason
		if ev.Step != "" {
			text = ev.Step + ": " + text
		}
		p.lines(ev.Host, text)
	}
}

// Log prints a line of the deploy's own (step names what it is about).
func (p *Printer) Log(host, step, text string) {
	if p.JSON {
		p.json(steps.Event{Type: steps.EventLog, Host: host, Step: step, Reason: text})
		return
	}
	p.lines(host, text)
}

// Fail prints why a host failed.
func (p *Printer) Fail(host string, err error) {
	if p.JSON {
		p.json(steps.Event{Type: steps.EventError, Host: host, Status: steps.StatusFailed, Reason: err.Error()})
		return
	}
	p.lines(host, "FAILED: "+err.Error())
}

// Summary prints the closing table: one line per host.
func (p *Printer) Summary(results []Result) {
	if p.JSON {
		for _, r := range results {
			ev := steps.Event{Type: steps.EventSummary, Host: r.Target.Spec, Status: steps.StatusOK}
			if r.Summary != nil {
				ev.OK, ev.Changed, ev.Failed, ev.Skipped = r.Summary.OK, r.Summary.Changed, r.Summary.Failed, r.Summary.Skipped
			}
			if r.Failed() {
				ev.Status = steps.StatusFailed
				if ev.Failed == 0 {
					ev.Failed = 1
				}
				if r.Err != nil {
					ev.Reason = r.Err.Error()
				}
			}
			p.json(ev)
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.W, "summary:")
	for _, r := range results {
		switch {
		case r.Err != nil:
			fmt.Fprintf(p.W, "  %s: FAILED: %v\n", r.Target.Spec, r.Err)
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

func counts(ev steps.Event) string {
	return fmt.Sprintf("ok=%d changed=%d failed=%d skipped=%d", ev.OK, ev.Changed, ev.Failed, ev.Skipped)
}

func (p *Printer) json(ev steps.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"type":"error","host":%q,"reason":%q}`, ev.Host, err.Error()))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.W.Write(append(b, '\n'))
}

func (p *Printer) lines(host, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range strings.Split(text, "\n") {
		fmt.Fprintf(p.W, "%s: %s\n", host, printable(l))
	}
}

// printable replaces control characters (terminal escapes) in text that
// came from a host, which must not drive the operator's terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || (r >= ' ' && r != 0x7f && !(r >= 0x80 && r < 0xa0)) {
			return r
		}
		return '?'
	}, s)
}
