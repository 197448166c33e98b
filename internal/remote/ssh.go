package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/left4me/left4me-deploy/internal/runner"
)

// SSH is how to reach hosts: the system OpenSSH client, so ~/.ssh/config,
// the agent, ProxyJump and known_hosts work as they do for ssh itself. The
// fields are ssh's own flags.
type SSH struct {
	Binary   string   // ssh client; "" means "ssh" on PATH
	Port     string   // -p
	Identity []string // -i, repeatable
	Jump     string   // -J
	Config   string   // -F
	Options  []string // -o OPTION=VALUE, repeatable, in order
	Runner   runner.Runner
}

// userArgs are the operator's ssh flags, in ssh's spelling.
func (s SSH) userArgs() []string {
	var a []string
	if s.Config != "" {
		a = append(a, "-F", s.Config)
	}
	if s.Port != "" {
		a = append(a, "-p", s.Port)
	}
	for _, i := range s.Identity {
		a = append(a, "-i", i)
	}
	if s.Jump != "" {
		a = append(a, "-J", s.Jump)
	}
	for _, o := range s.Options {
		a = append(a, "-o", o)
	}
	return a
}

func (s SSH) binary() string {
	if s.Binary == "" {
		return "ssh"
	}
	return s.Binary
}

func (s SSH) runner() runner.Runner {
	if s.Runner == nil {
		return runner.Exec{}
	}
	return s.Runner
}

// Conn runs commands on one host. The SSH implementation is a Master; tests
// of the deploy logic substitute their own.
type Conn interface {
	// Run runs a shell command line on the host (parsed by the login
	// shell), streaming its output. A non-nil error from a command that ran
	// and failed carries its exit code (runner.ExitCode).
	Run(ctx context.Context, command string, stdin io.Reader, stdout, stderr io.Writer) error
	// Lost reports whether the connection itself is gone, so a failed Run
	// can be told apart from a failed command.
	Lost() bool
	// Close ends the connection.
	Close() error
}

// controlPersist bounds how long a master outlives us if we die without
// closing it (kill -9); normally Close ends it at once.
const controlPersist = "120"

// Master is one SSH connection to a host, shared by every command of a
// deploy through ssh's connection multiplexing (ControlMaster). Its control
// socket lives in a private 0700 directory.
type Master struct {
	ssh    SSH
	target Target
	path   string // ControlPath
}

// Open connects to t and leaves a control master running in the background;
// dir must be a private directory (0700) for the control socket. Errors are
// classified: ErrUnreachable, ErrAuth, ErrHostKeyChanged, ErrHostKeyUnknown.
func (s SSH) Open(ctx context.Context, dir string, t Target, name string) (*Master, error) {
	m := &Master{ssh: s, target: t, path: filepath.Join(dir, name)}
	// ssh takes the first value of each option it sees: ours come first
	// where they must win, the operator's next, our defaults last.
	argv := []string{s.binary(),
		"-o", "ControlMaster=yes",
		"-o", "ControlPath=" + m.path,
		"-o", "ControlPersist=" + controlPersist,
	}
	argv = append(argv, t.portArgs()...) // ssh takes the first -p: the host's own port wins
	argv = append(argv, s.userArgs()...)
	argv = append(argv, defaultOptions()...)
	argv = append(argv, "-f", "-N", "--", t.Login())
	// With ControlPersist the backgrounded master points its stdio at
	// /dev/null, so capturing stderr here does not wait for the master.
	if err := s.runner().Run(ctx, runner.Cmd{Argv: argv}); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect to %s: %w", t.Spec, ctx.Err())
		}
		var stderr string
		var ee *runner.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		return nil, &argvError{classifyConnect(t, stderr, err), argv}
	}
	return m, nil
}

// defaultOptions are our defaults the operator can override with -o or
// ~/.ssh/config... except that command-line options win over the config,
// so only settings no config needs to change go here.
func defaultOptions() []string {
	return []string{
		"-o", "ConnectTimeout=20",
		"-o", "ServerAliveInterval=5",
		"-o", "ServerAliveCountMax=4",
	}
}

// clientArgs are the arguments of every ssh run through the master. With
// ProxyCommand=false a client whose master is gone fails instead of quietly
// opening a second connection.
func (m *Master) clientArgs() []string {
	a := []string{m.ssh.binary(),
		"-o", "ControlMaster=no",
		"-o", "ControlPath=" + m.path,
		"-o", "ProxyCommand=false",
		"-o", "BatchMode=yes",
	}
	// -J only matters for the master; ssh refuses it next to ProxyCommand.
	noJump := m.ssh
	noJump.Jump = ""
	return append(a, noJump.userArgs()...)
}

// Run implements Conn.
func (m *Master) Run(ctx context.Context, command string, stdin io.Reader, stdout, stderr io.Writer) error {
	argv := append(m.clientArgs(), "-T", "-e", "none", "--", m.target.Login(), command)
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	// In its own process group: a Ctrl-C on the terminal must not cut a
	// host's plan short; the deployer decides (see Rollout).
	return m.ssh.runner().Run(ctx, runner.Cmd{Argv: argv, Stdin: stdin, Stdout: stdout, Stderr: stderr, OwnGroup: true})
}

// Lost implements Conn: it asks the master whether it still runs. A
// client can see the connection die a moment before its master has
// noticed, so a live master is asked again for about a second.
func (m *Master) Lost() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	argv := append(m.clientArgs(), "-O", "check", "--", m.target.Login())
	for i := 0; i < 5; i++ {
		if i > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		if m.ssh.runner().Run(ctx, runner.Cmd{Argv: argv, Stdout: io.Discard}) != nil {
			return true
		}
	}
	return false
}

// Close implements Conn: it tells the master to exit, over its control
// socket (muxExit), else with ssh -O exit. It runs on its own short
// deadline so it works after the deploy's context was cancelled.
func (m *Master) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := os.Lstat(m.path); errors.Is(err, fs.ErrNotExist) {
		return nil // the master is gone already
	}
	// With ssh run for real (no Runner stand-in), over the socket.
	if m.ssh.Runner == nil && muxExit(m.path, 5*time.Second) == nil {
		return nil
	}
	argv := append(m.clientArgs(), "-O", "exit", "--", m.target.Login())
	if err := m.ssh.runner().Run(ctx, runner.Cmd{Argv: argv, Stdout: io.Discard}); err != nil {
		return fmt.Errorf("close connection to %s: %w", m.target.Spec, err)
	}
	return nil
}

// classifyConnect turns what ssh printed on a failed connect into one of
// the documented errors, keeping ssh's own words.
func classifyConnect(t Target, stderr string, err error) error {
	said := lastLines(stderr, 3)
	low := strings.ToLower(stderr)
	switch {
	case strings.Contains(low, "remote host identification has changed"),
		strings.Contains(low, "host key for") && strings.Contains(low, "has changed"):
		return fmt.Errorf("%w: the host key of %s is not the one in known_hosts (someone may be intercepting the connection, or the host was reinstalled: if so, remove the old key with ssh-keygen -R and connect once with ssh to accept the new one): %s",
			ErrHostKeyChanged, t.Host, said)
	case strings.Contains(low, "host key verification failed"):
		return fmt.Errorf("%w: cannot verify the host key of %s (connect once with ssh to accept it into known_hosts): %s", ErrHostKeyUnknown, t.Host, said)
	case strings.Contains(low, "permission denied"), strings.Contains(low, "too many authentication failures"),
		strings.Contains(low, "no more authentication methods"):
		return fmt.Errorf("%w for %s (check the user, -i KEY, the ssh agent and the host's authorized_keys): %s", ErrAuth, t.Login(), said)
	case strings.Contains(low, "connection refused"), strings.Contains(low, "connection timed out"),
		strings.Contains(low, "operation timed out"), strings.Contains(low, "no route to host"),
		strings.Contains(low, "network is unreachable"), strings.Contains(low, "could not resolve hostname"),
		strings.Contains(low, "name or service not known"), strings.Contains(low, "connection closed by"),
		strings.Contains(low, "connection reset"):
		return fmt.Errorf("%w: cannot connect to %s: %s", ErrUnreachable, t.Host, said)
	}
	return quiet(err, "%s: connecting to %s with ssh failed", cause(err, stderr), t.Spec)
}

// lastLines returns the last n non-empty lines of s, joined with "; ",
// skipping ssh's banner of '@' warnings.
func lastLines(s string, n int) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.Trim(l, "@") == "" {
			continue
		}
		keep = append(keep, l)
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "; ")
}
