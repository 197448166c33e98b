package sshdtest

import (
	"context"
	"errors"
	"io"

	"github.com/left4me/left4me-deploy/internal/runner"
)

// ScriptedConn stands in for the connection to a host (remote.Conn) that
// answers every command with the same output and exit code, for tests of
// what the deployer makes of a host's words without a real sshd.
type ScriptedConn struct {
	Stdout, Stderr string
	Code           int
	// IsLost is what Lost answers: whether the connection died.
	IsLost bool
}

// Run writes the scripted output; a non-zero Code fails as ssh's exit.
func (c *ScriptedConn) Run(_ context.Context, _ string, _ io.Reader, stdout, stderr io.Writer) error {
	io.WriteString(stdout, c.Stdout)
	io.WriteString(stderr, c.Stderr)
	if c.Code != 0 {
		return &runner.ExitError{Argv: []string{"ssh"}, Code: c.Code, Err: errors.New("exit")}
	}
	return nil
}

// Lost reports IsLost.
func (c *ScriptedConn) Lost() bool { return c.IsLost }

// Close does nothing.
func (c *ScriptedConn) Close() error { return nil }
