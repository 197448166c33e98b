package remote

import (
	"regexp"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/steps"
)

// forged is a name from the hostile tree: it clears the screen, returns
// the cursor and starts a line that looks like a step's.
const forged = "x\x1b[2J\r\nroot@h: migration: ok\r\nok       migration: done"

// stepLine is how a reader (person or script) recognises a step line.
var stepLine = regexp.MustCompile(`^root@h: [a-z-]+: (ok|changed|failed|skipped)\b`)

// TestPrinterForgedLines: whatever text a host sends, in whichever field
// or raw, each event prints as exactly one line (a diff one per line), with
// no control character, and only real step events read as step lines.
func TestPrinterForgedLines(t *testing.T) {
	for _, tc := range []struct {
		name  string
		print func(p *Printer)
		lines int
		steps int
	}{
		{"step reason", func(p *Printer) {
			p.Event(protocol.Event{Type: "step", Host: "root@h", Step: "migration", Status: steps.StatusFailed, Reason: "migrate: instance " + forged})
		}, 1, 1},
		{"log event", func(p *Printer) {
			p.Event(protocol.Event{Type: "log", Host: "root@h", Step: "migration", Reason: "skipping " + forged})
		}, 1, 0},
		{"log event without step", func(p *Printer) {
			p.Event(protocol.Event{Type: "log", Host: "root@h", Reason: "migration: ok"})
		}, 1, 0},
		{"raw line from the host", func(p *Printer) { p.Log("root@h", "", "migration: ok "+forged) }, 1, 0},
		{"stderr line", func(p *Printer) { p.Log("root@h", "stderr", forged) }, 1, 0},
		{"diff", func(p *Printer) {
			p.Event(protocol.Event{Type: "diff", Host: "root@h", Path: "/etc/" + forged, Diff: "-a\n+" + forged + "\n"})
		}, 5, 0}, // header, -a, and the three lines of the added text
		{"failure", func(p *Printer) { p.Fail("root@h", errString("step migration failed: "+forged)) }, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			tc.print(&Printer{W: &b})
			out := b.String()
			if strings.ContainsAny(out, "\x1b\r\x07") {
				t.Errorf("output holds a control character: %q", out)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != tc.lines {
				t.Errorf("%d lines, want %d: %q", len(lines), tc.lines, out)
			}
			n := 0
			for _, l := range lines {
				if stepLine.MatchString(l) {
					n++
				}
				if strings.HasPrefix(l, "ok") {
					t.Errorf("line %q starts like a local step line", l)
				}
			}
			if n != tc.steps {
				t.Errorf("%d lines read as step lines, want %d: %q", n, tc.steps, out)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestPrinterWrappedRows: text from a host padded with runs of blanks
// around a step row, in any field, prints with the blanks escaped: no run
// of blanks from the host reaches the terminal (only the printer's own
// indent after the host), so the host cannot align a row of its text
// into a step row on an 80-column terminal.
func TestPrinterWrappedRows(t *testing.T) {
	var b strings.Builder
	p := &Printer{W: &b}
	for pad := 0; pad < 80; pad += 7 {
		text := strings.Repeat(" ", pad) + "ok       verify" + strings.Repeat(" ", 80)
		p.Event(protocol.Event{Type: "log", Host: "root@h", Step: "migration", Reason: "skipping " + text})
		p.Event(protocol.Event{Type: "step", Host: "root@h", Step: "migration", Status: steps.StatusFailed, Reason: text})
		p.Event(protocol.Event{Type: "diff", Host: "root@h", Path: "/etc/" + text, Diff: "+" + text + "\n"})
		p.Log("root@h", "stderr", text)
		p.Fail("root@h", errString(text))
	}
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		rest := strings.TrimPrefix(strings.TrimPrefix(line, "root@h: "), "  ")
		if strings.Contains(rest, "  ") {
			t.Errorf("line %q holds a run of blanks from the host", line)
		}
		for i := 0; i < len(line); i += 80 {
			if row := strings.TrimLeft(line[i:min(i+80, len(line))], " "); strings.HasPrefix(row, "ok       ") {
				t.Errorf("line %q wraps into the forged row %q", line, row)
			}
		}
	}
}
