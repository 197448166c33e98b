package remote

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/sshdtest"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// sshConn answers each command with the next of its replies, failing as a
// real ssh client does: an *runner.ExitError with the whole argv, the
// command its last word.
type sshConn struct {
	replies []sshdtest.ScriptedConn
	n       int
}

func (c *sshConn) Run(_ context.Context, command string, _ io.Reader, stdout, stderr io.Writer) error {
	r := c.replies[min(c.n, len(c.replies)-1)]
	c.n++
	io.WriteString(stdout, r.Stdout)
	io.WriteString(stderr, r.Stderr)
	if r.Code != 0 {
		return &runner.ExitError{Argv: []string{"ssh", "-o", "ControlMaster=no", "-T", "--", "alice@h", command}, Stderr: r.Stderr, Code: r.Code, Err: errors.New("exit status 1")}
	}
	return nil
}
func (c *sshConn) Lost() bool   { return false }
func (c *sshConn) Close() error { return nil }

// The message of a failed host names the cause and carries no argv and no
// script; with Verbose the ssh command line and the command run on the
// host follow on ErrW as detail lines, the scripts named, never the sudo
// password.
func TestVerboseDetails(t *testing.T) {
	bundle, _ := OpenBundle(sshdtest.FakePlanBundle(t))
	for _, verbose := range []bool{false, true} {
		conn := &sshConn{replies: []sshdtest.ScriptedConn{
			{Stdout: "L4M sudo alice\n", Stderr: "sudo: a password is required\n", Code: 1},
			{Stdout: "L4M sudo alice\n", Stderr: "cat: write error: No space left on device\n", Code: 1},
		}}
		var out, errw strings.Builder
		d := &Deployer{
			Source: bundle,
			Out:    &Printer{W: &out, ErrW: &errw, Verbose: verbose},
			Prompt: func(context.Context, string) ([]byte, error) { return []byte("hunter2"), nil },
			Dial:   func(context.Context, string, Target, string) (Conn, error) { return conn, nil },
		}
		tg, _ := ParseTarget("alice@h")
		res := d.Deploy(context.Background(), []Target{tg})[0]
		if res.Err == nil || !strings.HasPrefix(res.Err.Error(), "sudo refused: sudo on alice@h failed for alice: cat: write error") {
			t.Fatalf("Deploy = %v, want the cause first", res.Err)
		}
		for _, w := range []string{out.String(), errw.String()} {
			if strings.Contains(w, "hunter2") || strings.Contains(w, "set -u") || strings.Contains(w, "shellcheck") {
				t.Fatalf("output carries the password or a script:\n%s", w)
			}
		}
		if strings.Contains(out.String(), "ControlMaster") || strings.Contains(out.String(), "detail:") {
			t.Fatalf("stdout carries the argv or detail lines:\n%s", out.String())
		}
		if !verbose {
			if strings.Contains(errw.String(), "detail:") {
				t.Fatalf("detail lines without Verbose:\n%s", errw.String())
			}
			continue
		}
		for _, want := range []string{
			"alice@h: detail: ssh: ssh -o ControlMaster=no -T -- alice@h COMMAND\n",
			`alice@h: detail: COMMAND (on the host): sh -c "$(cat remote/escalate.sh)" sh S "$(cat remote/root.sh)" run /var/lib/left4me-deploy `,
			` -- '{}'` + "\n",
		} {
			if !strings.Contains(errw.String(), want) {
				t.Errorf("detail lines lack %q:\n%s", want, errw.String())
			}
		}
	}
}

// A connection that fails names the cause; with Verbose the ssh command
// line of the connection follows.
func TestVerboseConnectDetails(t *testing.T) {
	testenv.RequireBinary(t, "ssh", "openssh-client")
	bundle, _ := OpenBundle(sshdtest.FakePlanBundle(t))
	var out, errw strings.Builder
	d := &Deployer{
		SSH:    SSH{Port: "1", Config: "/dev/null", Options: []string{"ConnectTimeout=2"}},
		Source: bundle,
		Out:    &Printer{W: &out, ErrW: &errw, Verbose: true},
	}
	tg, _ := ParseTarget("root@127.0.0.1")
	res := d.Deploy(context.Background(), []Target{tg})[0]
	if !errors.Is(res.Err, ErrUnreachable) || strings.Contains(res.Err.Error(), "ControlMaster") {
		t.Fatalf("Deploy = %v, want ErrUnreachable without the argv", res.Err)
	}
	if want := "root@127.0.0.1: detail: ssh: ssh -o ControlMaster=yes "; !strings.Contains(errw.String(), want) || !strings.Contains(errw.String(), " -p 1 ") {
		t.Fatalf("detail lines lack %q and -p 1:\n%s", want, errw.String())
	}
}
