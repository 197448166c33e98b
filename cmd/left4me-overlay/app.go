//go:build linux

package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/left4me/left4me-deploy/overlay"
)

const usage = "usage: left4me-overlay mount|umount NAME"

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // refused or failed; nothing changed
	exitUsage = 2 // wrong arguments
)

// run is the whole command: exactly two arguments, one line on stderr for
// every refusal, one line on stdout for what was done.
func run(args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) int {
	fail := func(code int, format string, a ...any) int {
		msg := fmt.Sprintf(format, a...)
		fmt.Fprintln(stderr, "left4me-overlay: "+strings.ReplaceAll(msg, "\n", " "))
		return code
	}
	if len(args) != 2 {
		return fail(exitUsage, "want exactly 2 arguments, got %d (%s)", len(args), usage)
	}
	verb, name := args[0], args[1]
	if verb != "mount" && verb != "umount" {
		return fail(exitUsage, "unknown verb %.40q (%s)", verb, usage)
	}
	cfg, _, err := overlay.ConfigFromEnv(getenv)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	var res overlay.Result
	if verb == "mount" {
		res, err = cfg.Mount(name)
	} else {
		res, err = cfg.Unmount(name)
	}
	if err != nil {
		return fail(exitFail, "%v", err)
	}
	if res.Plan != nil {
		fmt.Fprint(stdout, res.Plan.String())
	}
	fmt.Fprintln(stdout, res.Message)
	return exitOK
}
