// Package runner is the one seam through which left4me code runs outside
// commands. Production code uses Exec; unit tests substitute a fake that
// records argv and returns canned results.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// cancelGrace is how long a cancelled command has between SIGTERM and
// SIGKILL.
const cancelGrace = 5 * time.Second

// Cmd is one command to run. Argv[0] is looked up on PATH unless absolute.
// A nil Stdout or Stderr is captured; captured stderr is included in the
// error of a failed command.
type Cmd struct {
	Argv   []string
	Env    []string // nil: inherit the environment
	Dir    string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// OwnGroup runs the command in a process group of its own, so the
	// terminal's Ctrl-C reaches only this program, which decides.
	OwnGroup bool
}

// Runner runs commands.
type Runner interface {
	Run(ctx context.Context, c Cmd) error
}

// ExitError is returned for a command that ran and failed, or could not be
// started. It carries the argv and the captured stderr.
type ExitError struct {
	Argv   []string
	Stderr string
	Code   int // -1 when the command did not start or was killed
	Err    error
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s: %v", strings.Join(e.Argv, " "), e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

func (e *ExitError) Unwrap() error { return e.Err }

// Exec runs commands with os/exec.
type Exec struct{}

// Run implements Runner.
func (Exec) Run(ctx context.Context, c Cmd) error {
	if len(c.Argv) == 0 {
		return errors.New("runner: empty argv")
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	// On cancellation ask politely first: sudo relays SIGTERM to the root
	// program it started, while SIGKILL would orphan it (journalctl -f).
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = cancelGrace
	cmd.Env = c.Env
	cmd.Dir = c.Dir
	cmd.Stdin = c.Stdin
	cmd.Stdout = c.Stdout
	if c.OwnGroup {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	stderr := &tail{max: MaxStderr}
	cmd.Stderr = stderr
	if c.Stderr != nil {
		cmd.Stderr = io.MultiWriter(c.Stderr, stderr)
	}
	if err := cmd.Run(); err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return &ExitError{Argv: c.Argv, Stderr: stderr.String(), Code: code, Err: err}
	}
	return nil
}

// Output runs argv and returns its standard output.
func Output(ctx context.Context, r Runner, argv ...string) (string, error) {
	var out bytes.Buffer
	err := r.Run(ctx, Cmd{Argv: argv, Stdout: &out})
	return out.String(), err
}

// ExitCode returns the exit code carried by err, 0 for nil, and -1 when err
// did not come from a command that exited.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return -1
}
