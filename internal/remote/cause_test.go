package remote

import (
	"context"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/runner"
)

// A failed command is described by what it said and how it ended, never
// by its argv (which for ssh holds both host scripts).
func TestCauseWithoutArgv(t *testing.T) {
	script := strings.Repeat("# a long script line\n", 200) + "echo 'cat: write error: No space left on device' >&2; exit 1"
	err := runner.Exec{}.Run(context.Background(), runner.Cmd{Argv: []string{"sh", "-c", script}})
	if err == nil {
		t.Fatal("the failing command succeeded")
	}
	var stderr string
	if ee, ok := err.(*runner.ExitError); ok {
		stderr = ee.Stderr
	}
	got := cause(err, stderr)
	if got != "cat: write error: No space left on device (exit status 1)" {
		t.Fatalf("cause = %q", got)
	}
	msg := quiet(err, "%s: sending l4d2ctl to h failed", got).Error()
	if strings.Contains(msg, "long script") || !strings.HasPrefix(msg, "cat: write error: No space left on device") || runner.ExitCode(quiet(err, "x")) != 1 {
		t.Fatalf("message %q (exit code %d)", msg, runner.ExitCode(quiet(err, "x")))
	}

	err = runner.Exec{}.Run(context.Background(), runner.Cmd{Argv: []string{"sh", "-c", "kill -KILL $$"}})
	if !killedClient(err) || cause(err, "") != "the local ssh client was killed by signal SIGKILL" {
		t.Fatalf("killed command: killedClient %v, cause %q", killedClient(err), cause(err, ""))
	}
}
