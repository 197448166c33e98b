package svchelper

import (
	"errors"
	"fmt"
	"io"
	"syscall"
)

// Execer replaces the running process with argv and env; it returns only on
// failure. Production code uses syscall.Exec.
type Execer func(argv0 string, argv []string, env []string) error

// Exit statuses of the helpers themselves; once the real program runs, its
// status is theirs.
const (
	ExitExecFailed = 1
	ExitUsage      = 2
)

// Main is the whole of a helper's main: it builds the argv from args (the
// helper's arguments without its own name) with build, prints what was
// wrong and the usage line on stderr, or executes the real program with
// CleanEnv. It returns the exit status only when nothing was executed. A
// journal follow (-f) is not executed in place but run as a bounded child
// (FollowLimits).
func Main(prog, usage string, build func([]string, Getenv) ([]string, error), args []string, getenv Getenv, stderr io.Writer, exec Execer) int {
	argv, err := build(args, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n%s\n", prog, err, usage)
		return ExitUsage
	}
	if prog == "left4me-journalctl" && isFollow(argv) {
		return follow(prog, argv, CleanEnv, getenv, stderr)
	}
	if exec == nil {
		exec = syscall.Exec
	}
	err = exec(argv[0], argv, CleanEnv)
	if err == nil {
		err = errors.New("exec returned")
	}
	fmt.Fprintf(stderr, "%s: run %s: %v\n", prog, argv[0], err)
	return ExitExecFailed
}
