package remote

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/sshdtest"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/steps"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in, user, host string
		ok             bool
	}{
		{"root@web1", "root", "web1", true},
		{"web1.example.org", "", "web1.example.org", true},
		{"deploy@10.0.0.5", "deploy", "10.0.0.5", true},
		{"a@b@c", "a@b", "c", true},
		{"-oProxyCommand=x", "", "", false},
		{"root@-oProxyCommand=x", "", "", false},
		{"root@", "", "", false},
		{"@host", "", "", false},
		{"", "", "", false},
		{"root@host name", "", "", false},
		{"root@host'x", "", "", false},
	} {
		got, err := ParseTarget(tc.in)
		if (err == nil) != tc.ok || tc.ok && (got.User != tc.user || got.Host != tc.host) {
			t.Errorf("ParseTarget(%q) = %+v, %v; want user %q host %q ok=%v", tc.in, got, err, tc.user, tc.host, tc.ok)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for _, s := range []string{"plain", "", "it's", "a b", "$(id)", "`x`", "\n", "--root=/x y"} {
		out, err := exec.Command("sh", "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("sh printf %s = %q, %v; want %q", shellQuote(s), out, err, s)
		}
	}
}

func TestClassifyConnect(t *testing.T) {
	tg := Target{Spec: "root@h", User: "root", Host: "h"}
	for _, tc := range []struct {
		name, stderr string
		want         error
	}{
		{"auth", "root@h: Permission denied (publickey).\n", ErrAuth},
		{"changed", "@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@\nHost key verification failed.\n", ErrHostKeyChanged},
		{"unknown key", "No ED25519 host key is known for h and you have requested strict checking.\nHost key verification failed.\n", ErrHostKeyUnknown},
		{"refused", "ssh: connect to host h port 22: Connection refused\n", ErrUnreachable},
		{"dns", "ssh: Could not resolve hostname h: Name or service not known\n", ErrUnreachable},
		{"timeout", "ssh: connect to host h port 22: Connection timed out\n", ErrUnreachable},
	} {
		err := classifyConnect(tg, tc.stderr, errors.New("exit status 255"))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: classifyConnect(%q) = %v, want %v", tc.name, tc.stderr, err, tc.want)
		}
	}
}

func TestReadSumsRejectsHostileNames(t *testing.T) {
	for _, line := range []string{
		"0000000000000000000000000000000000000000000000000000000000000000  linux-amd64/$(reboot)",
		"0000000000000000000000000000000000000000000000000000000000000000  linux-amd64/../x",
		"zz  linux-amd64/left4me-deploy",
		"0000000000000000000000000000000000000000000000000000000000000000  linux-amd64/l4d2ctl",
		"0000000000000000000000000000000000000000000000000000000000000000  darwin-arm64/l4d2ctl",
		"0000000000000000000000000000000000000000000000000000000000000000  windows-amd64/left4me-deploy",
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, SumsFile), []byte(line+"\n"), 0o644)
		if _, err := OpenBundle(dir); err == nil {
			t.Errorf("OpenBundle(%q) = nil error, want a refusal", line)
		}
	}
}

func TestReadSumsSkipsWorkstationBinaries(t *testing.T) {
	const h = "0000000000000000000000000000000000000000000000000000000000000000"
	dir := t.TempDir()
	sums := h + "  linux-amd64/left4me-deploy\n" + h + "  darwin-arm64/left4me-deploy\n"
	os.WriteFile(filepath.Join(dir, SumsFile), []byte(sums), 0o644)
	b, err := OpenBundle(dir)
	if err != nil {
		t.Fatalf("OpenBundle(linux + darwin deployer) = %v, want it accepted", err)
	}
	if len(b.bins) != 1 || len(b.bins["amd64"]) != 1 {
		t.Fatalf("OpenBundle platforms = %v, want only linux amd64", b.bins)
	}
}

// localConn runs the host's commands on this machine with sh, as the login
// shell would: the real scripts, without ssh.
type localConn struct {
	lost  bool
	calls []string
}

func (c *localConn) Run(ctx context.Context, command string, stdin io.Reader, stdout, stderr io.Writer) error {
	c.calls = append(c.calls, command)
	return runner.Exec{}.Run(ctx, runner.Cmd{Argv: []string{"sh", "-c", command}, Stdin: stdin, Stdout: stdout, Stderr: stderr})
}
func (c *localConn) Lost() bool   { return c.lost }
func (c *localConn) Close() error { return nil }

func newTestDeployer(t *testing.T, conn Conn, src Source, root string) (*Deployer, *strings.Builder) {
	var out strings.Builder
	return &Deployer{
		Source: src,
		Args:   protocol.HostArgs{Root: root},
		Out:    &Printer{W: &out, JSON: true},
		Dial: func(context.Context, string, Target, string) (Conn, error) {
			return conn, nil
		},
	}, &out
}

// The host scripts against a real shell: ship what is missing, run the
// plan from a staging directory, remove it, send nothing the second time.
func TestDeployScriptsLocally(t *testing.T) {
	testenv.RequireRoot(t) // the host scripts run as root; as a user they would call sudo
	bundle, err := OpenBundle(sshdtest.FakePlanBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	conn := &localConn{}
	d, out := newTestDeployer(t, conn, bundle, root)
	tg, _ := ParseTarget("root@local")
	res := d.Deploy(context.Background(), []Target{tg})[0]
	if res.Err != nil || res.Summary == nil || res.Summary.Changed != 1 || res.Sent != 2 {
		t.Fatalf("first deploy = %+v (%v), want changed=1 sent=2; output:\n%s", res, res.Err, out)
	}
	if len(conn.calls) != 4 { // run (need), put, put, run
		t.Errorf("first deploy ran %d host commands, want 4", len(conn.calls))
	}
	state := filepath.Join(root, StateDir)
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir %s: %v, mode %v; want 0700", state, err, fi.Mode())
	}
	if m, _ := filepath.Glob(filepath.Join(state, "staging.*")); len(m) != 0 {
		t.Errorf("staging left behind: %v", m)
	}
	// A killed run's staging directory goes with the next run.
	if err := os.MkdirAll(filepath.Join(state, "staging.killed", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	conn.calls = nil
	res = d.Deploy(context.Background(), []Target{tg})[0]
	if m, _ := filepath.Glob(filepath.Join(state, "staging.*")); len(m) != 0 {
		t.Errorf("stale staging left behind: %v", m)
	}
	if res.Err != nil || res.Summary.Changed != 0 || res.Sent != 0 || res.Cached != 2 || len(conn.calls) != 1 {
		t.Fatalf("redeploy = %+v (%v), %d commands; want changed=0 sent=0 cached=2 in 1 command", res, res.Err, len(conn.calls))
	}
}

func TestDeployRefusesUnsafeStateDir(t *testing.T) {
	testenv.RequireRoot(t) // the host scripts run as root
	bundle, _ := OpenBundle(sshdtest.FakePlanBundle(t))
	for _, tc := range []struct {
		name  string
		setup func(state string)
	}{
		{"symlink", func(state string) { os.MkdirAll(filepath.Dir(state), 0o755); os.Symlink("/etc", state) }},
		{"not root's", func(state string) { os.MkdirAll(state, 0o700); os.Chown(state, 65534, 65534) }},
		{"a file", func(state string) { os.MkdirAll(filepath.Dir(state), 0o755); os.WriteFile(state, nil, 0o600) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.setup(filepath.Join(root, StateDir))
			d, out := newTestDeployer(t, &localConn{}, bundle, root)
			tg, _ := ParseTarget("root@local")
			res := d.Deploy(context.Background(), []Target{tg})[0]
			if !errors.Is(res.Err, ErrHostState) {
				t.Fatalf("Deploy = %v, want ErrHostState; output:\n%s", res.Err, out)
			}
		})
	}
}

func TestDeployErrorsFromTheHost(t *testing.T) {
	bundle, _ := OpenBundle(sshdtest.FakePlanBundle(t))
	for _, tc := range []struct {
		name   string
		conn   *sshdtest.ScriptedConn
		prompt func(context.Context, string) ([]byte, error)
		want   error
		text   string
	}{
		{"unsupported", &sshdtest.ScriptedConn{Stdout: "L4M host Linux riscv64 unknown\nL4M unsupported\n"}, nil, ErrUnsupported, "riscv64"},
		{"no host line", &sshdtest.ScriptedConn{Stdout: "L4M unsupported\n"}, nil, ErrUnsupported, "unknown system"},
		{"darwin", &sshdtest.ScriptedConn{Stdout: "L4M host Darwin arm64 arm64\nL4M unsupported\n"}, nil, ErrUnsupported, "Darwin"},
		{"no sudo", &sshdtest.ScriptedConn{Stdout: "L4M nosudo alice\n"}, nil, ErrSudoRefused, "sudo is not installed"},
		{"password, no terminal", &sshdtest.ScriptedConn{Stdout: "L4M sudo alice\n", Stderr: "sudo: a password is required\n", Code: 1}, nil, ErrSudoNoTerminal, "sudo on root@h needs a password for alice and there is no terminal"},
		{"refused", &sshdtest.ScriptedConn{Stdout: "L4M sudo alice\n", Stderr: "alice is not in the sudoers file.\n", Code: 1}, nil, ErrSudoRefused, "may not run commands as root"},
		// sudo-rs words them its own way (0.2.5, Debian 13; Ubuntu's /usr/bin/sudo).
		{"sudo-rs password, no terminal", &sshdtest.ScriptedConn{Stdout: "L4M sudo alice\n", Stderr: "sudo-rs: interactive authentication is required\n", Code: 1}, nil, ErrSudoNoTerminal, "allow alice passwordless sudo (NOPASSWD)"},
		{"sudo-rs refused", &sshdtest.ScriptedConn{Stdout: "L4M sudo alice\n", Stderr: "sudo-rs: I'm sorry alice. I'm afraid I can't do that\n", Code: 1}, nil, ErrSudoRefused, "may not run commands as root"},
		{"sudo-rs wrong password", &sshdtest.ScriptedConn{Stdout: "L4M sudo alice\n", Stderr: "sudo: Authentication failed, try again.\nsudo-rs: Maximum 3 incorrect authentication attempts\n", Code: 1}, nil, ErrSudoRefused, "incorrect password for alice"},
		{"lost", &sshdtest.ScriptedConn{Stdout: "L4M host Linux x86_64 amd64\nL4M apply\n{\"type\":\"step\",\"step\":\"packages\",\"status\":\"ok\"}\n", Code: 255, IsLost: true}, nil, ErrConnectionLost, `the step after "packages"`},
		{"lost in a step", &sshdtest.ScriptedConn{Stdout: "L4M host Linux x86_64 amd64\nL4M apply\n{\"type\":\"step\",\"step\":\"packages\",\"status\":\"ok\"}\n{\"type\":\"start\",\"step\":\"accounts\"}\n", Code: 255, IsLost: true}, nil, ErrConnectionLost, `step "accounts"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, out := newTestDeployer(t, tc.conn, bundle, "")
			d.Prompt = tc.prompt
			tg, _ := ParseTarget("root@h")
			res := d.Deploy(context.Background(), []Target{tg})[0]
			if !errors.Is(res.Err, tc.want) || !strings.Contains(res.Err.Error(), tc.text) {
				t.Fatalf("Deploy = %v, want %v mentioning %q; output:\n%s", res.Err, tc.want, tc.text, out)
			}
		})
	}
}

func TestPrinterText(t *testing.T) {
	var b strings.Builder
	p := &Printer{W: &b}
	p.Event(protocol.Event{Type: "step", Host: "root@h", Step: "units", Status: steps.StatusChanged, Reason: "install x\x1b]0;pwned\x07"})
	p.Event(protocol.Event{Type: "diff", Host: "root@h", Path: "/etc/x", Diff: "-a\n+b\n"})
	p.Event(protocol.Event{Type: "summary", Host: "root@h", OK: 1, Changed: 2})
	want := "root@h: units: changed (install x\\x1b]0;pwned\\a)\nroot@h:   diff /etc/x\nroot@h:   -a\nroot@h:   +b\nroot@h: ok=1 changed=2 failed=0 skipped=0\n"
	if b.String() != want {
		t.Errorf("Printer text =\n%q\nwant\n%q", b.String(), want)
	}
}

// recordingConn answers like sshdtest.ScriptedConn and keeps the commands it ran.
type recordingConn struct {
	sshdtest.ScriptedConn
	calls []string
}

func (c *recordingConn) Run(ctx context.Context, command string, stdin io.Reader, stdout, stderr io.Writer) error {
	c.calls = append(c.calls, command)
	return c.ScriptedConn.Run(ctx, command, stdin, stdout, stderr)
}

// The host's arguments travel as the last word of the command line, which
// the login shell gives root.sh as one argument, whatever they contain:
// decoded, they are what the Deployer was given.
func TestHostArgsOnTheCommandLine(t *testing.T) {
	bundle, _ := OpenBundle(sshdtest.FakePlanBundle(t))
	want := protocol.HostArgs{Root: "/t r", DryRun: true, Diff: true, WebExec: "/usr/bin/env FOO='1 2' /opt/web --port 8080 \"$HOME\"", MaxMounts: 8, By: "alice@laptop"}
	conn := &recordingConn{ScriptedConn: sshdtest.ScriptedConn{Stdout: "L4M host Linux x86_64 amd64\nL4M apply\n{\"type\":\"summary\",\"ok\":1}\n"}}
	d, _ := newTestDeployer(t, conn, bundle, "")
	d.Args = want
	tg, _ := ParseTarget("root@h")
	if res := d.Deploy(context.Background(), []Target{tg})[0]; res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(conn.calls) != 1 {
		t.Fatalf("ran %d commands, want 1", len(conn.calls))
	}
	out, err := exec.Command("sh", "-c", `eval "set -- $1"; for a; do last=$a; done; printf %s "$last"`, "sh", conn.calls[0]).Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := protocol.DecodeHostArgs(string(out))
	if err != nil || got != want {
		t.Fatalf("the command's last word %q decodes to %+v, %v; want %+v", out, got, err, want)
	}

	// Arguments that are not valid are not sent.
	conn.calls = nil
	d.Args = protocol.HostArgs{Root: "relative"}
	if res := d.Deploy(context.Background(), []Target{tg})[0]; res.Err == nil || len(conn.calls) != 0 {
		t.Fatalf("Deploy with a relative root = %v after %d commands, want an error before any", res.Err, len(conn.calls))
	}
}
