package remote

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/runner"
)

// Messages about a command run through ssh name the cause first and never
// carry the command line: an ssh argv holds both host scripts (several
// KiB), which is noise at best.

// cause says, without the argv, why a command failed: what the command
// itself printed last (stderr, its last lines), else how it ended
// ("exit status 3", "the local ssh client was killed by signal SIGKILL").
func cause(err error, stderr string) string {
	if said := lastLines(stderr, 3); said != "" {
		if how := ending(err); how != "" {
			return said + " (" + how + ")"
		}
		return said
	}
	if how := ending(err); how != "" {
		return how
	}
	return "no output"
}

// ending is how the command ended, without its argv.
func ending(err error) string {
	if err == nil {
		return ""
	}
	var ee *runner.ExitError
	if !errors.As(err, &ee) {
		return err.Error()
	}
	var xe *exec.ExitError
	if errors.As(ee.Err, &xe) {
		if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("the local ssh client was killed by signal %s", unix.SignalName(ws.Signal()))
		}
		return fmt.Sprintf("exit status %d", xe.ExitCode())
	}
	if ee.Err != nil {
		return ee.Err.Error()
	}
	return fmt.Sprintf("exit status %d", ee.Code)
}

// killedClient reports whether err is the local ssh client killed by a
// signal (not the host's command failing).
func killedClient(err error) bool {
	var ee *runner.ExitError
	var xe *exec.ExitError
	if errors.As(err, &ee) && errors.As(ee.Err, &xe) {
		ws, ok := xe.Sys().(syscall.WaitStatus)
		return ok && ws.Signaled()
	}
	return false
}

// quietError is an error whose text is its message alone while it still
// wraps the command's error for errors.Is/As and runner.ExitCode.
type quietError struct {
	msg string
	err error
}

func (q *quietError) Error() string { return q.msg }
func (q *quietError) Unwrap() error { return q.err }

func quiet(err error, format string, args ...any) error {
	return &quietError{msg: fmt.Sprintf(format, args...), err: err}
}
