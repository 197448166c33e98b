package remote

import (
	"errors"
	"fmt"
	"strings"

	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/textsafe"
)

// What ran, for -v (Printer.Verbose): a message names the cause and never
// the command line (see cause.go); with -v a failed host's ssh command
// line and the command it ran on the host follow as detail lines on
// ErrW, the host scripts named instead of spelled out. A sudo password is
// never on a command line (it goes on stdin), so never in a detail.

// argvError carries the command line of a failed ssh run whose message
// does not (a failed connection): for the detail lines only.
type argvError struct {
	error
	argv []string
}

func (e *argvError) Unwrap() error { return e.error }

// failedArgv is the command line of the ssh run err came from, if known.
func failedArgv(err error) []string {
	var ae *argvError
	if errors.As(err, &ae) {
		return ae.argv
	}
	var ee *runner.ExitError
	if errors.As(err, &ee) {
		return ee.Argv
	}
	return nil
}

// shownCommand is a command line of rootCommand as the detail lines show
// it: the scripts as what reads them from a checkout.
func shownCommand(words []string) string {
	shown := make([]string, len(words))
	for i, w := range words {
		switch w {
		case escalateScript:
			shown[i] = `"$(cat remote/escalate.sh)"`
		case rootScript:
			shown[i] = `"$(cat remote/root.sh)"`
		default:
			shown[i] = shellQuote(w)
		}
	}
	return strings.Join(shown, " ")
}

// ran notes a command run on the host, as rootCommand built it.
func (h *hostRun) ran(command, shown string) {
	h.command, h.shown = command, shown
}

// details are the detail lines of a failed host: the ssh command line
// that failed (err's, else the last run's), its command on the host given
// as COMMAND and spelled out on the next line.
func (h *hostRun) details(err error) []string {
	var out []string
	argv := failedArgv(err)
	if argv == nil {
		argv = failedArgv(h.runErr)
	}
	if len(argv) > 0 {
		if last := argv[len(argv)-1]; last == h.command && h.command != "" {
			out = append(out, "ssh: "+shellJoin(argv[:len(argv)-1]...)+" COMMAND")
		} else {
			out = append(out, "ssh: "+shellJoin(argv...))
		}
	}
	if h.shown != "" {
		out = append(out, "COMMAND (on the host): "+h.shown)
	}
	return out
}

// Detail prints the detail lines of a failed host on ErrW, with Verbose
// only.
func (p *Printer) Detail(host string, lines ...string) {
	if !p.Verbose || p.ErrW == nil || len(lines) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range lines {
		fmt.Fprintf(p.ErrW, "%s: detail: %s\n", textsafe.Line(host), textsafe.Line(l))
	}
}
