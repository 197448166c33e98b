//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/ctl"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
)

type result struct {
	code           int
	stdout, stderr string
	commands       []string
}

// runFake runs the CLI in-process with a strict fake runner behind every
// helper (the overlay helper included) and an empty environment.
func runFake(t *testing.T, root string, responses map[string]runner.FakeResponse, args ...string) result {
	t.Helper()
	fake := &runner.Fake{Strict: true, Responses: responses}
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string {
		if k == hostpath.RootEnv {
			return root
		}
		return ""
	}
	code := runWith(context.Background(), args, getenv, &stdout, &stderr, func(s *settings) *ctl.Ctl {
		c := s.newCtl(fake, &stdout, &stderr)
		if c.Settle == nil {
			c.Settle = &ctl.Settle{} // the first active answer settles
		}
		return c
	})
	return result{code, stdout.String(), stderr.String(), fake.Commands()}
}

func addInstance(t *testing.T, root, name string) {
	t.Helper()
	r := hostpath.Root(root)
	if err := os.MkdirAll(r.Join(hostpath.Merged(name)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.Join(hostpath.InstanceEnv(name)), []byte("LOWERDIRS=/var/lib/left4me/installation\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

const sys = "/usr/bin/sudo -n /usr/local/libexec/left4me/left4me-systemctl-"

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  string // in stdout (help) or stderr (errors)
	}{
		{"help", []string{"--help"}, 0, "exit status:\n  0  done"},
		{"help verb", []string{"help"}, 0, "logs NAME [-n N] [-f]"},
		{"verb help", []string{"start", "--help"}, 0, "usage: l4d2ctl"},
		{"no verb", nil, 2, "missing VERB"},
		{"unknown verb", []string{"mount", "a"}, 2, `unknown verb "mount"`},
		{"no name", []string{"start"}, 2, "start takes exactly one NAME, got 0"},
		{"two names", []string{"stop", "a", "b"}, 2, "stop takes exactly one NAME, got 2"},
		{"list with name", []string{"list", "a"}, 2, "list takes no arguments"},
		{"unknown flag", []string{"start", "--force", "a"}, 2, "flag provided but not defined: -force"},
		{"bad name", []string{"start", "../x"}, 2, `invalid instance name "../x"`},
		{"logs n zero", []string{"logs", "a", "-n", "0"}, 2, `-n "0": want a number of lines from 1 to 10000`},
		{"logs n word", []string{"logs", "a", "-n", "all"}, 2, "want a number of lines"},
		{"global flag after verb", []string{"start", "--no-sudo", "a"}, 2, "flag provided but not defined: -no-sudo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runFake(t, t.TempDir(), nil, tt.args...)
			if r.code != tt.code {
				t.Fatalf("l4d2ctl %q = exit %d, want %d (stderr %q)", tt.args, r.code, tt.code, r.stderr)
			}
			got := r.stderr
			if tt.code == 0 {
				got = r.stdout
			}
			if !strings.Contains(got, tt.out) {
				t.Fatalf("l4d2ctl %q printed %q, want %q", tt.args, got, tt.out)
			}
			if len(r.commands) != 0 {
				t.Fatalf("l4d2ctl %q ran %q", tt.args, r.commands)
			}
		})
	}
}

func TestStatusOutput(t *testing.T) {
	root := t.TempDir()
	addInstance(t, root, "test-server")
	resp := map[string]runner.FakeResponse{sys + "is-active test-server": {Stdout: "active\n"}}

	r := runFake(t, root, resp, "status", "test-server", "--json")
	want := `{"name":"test-server","exists":true,"mounted":false,"unit":"left4me-server@test-server.service","state":"active"}` + "\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("status --json = exit %d, %q; want 0, %q (stderr %q)", r.code, r.stdout, want, r.stderr)
	}
	r = runFake(t, root, resp, "status", "test-server")
	want = "name:    test-server\nexists:  yes\nmounted: no\nunit:    left4me-server@test-server.service\nstate:   active\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("status = exit %d, %q; want 0, %q", r.code, r.stdout, want)
	}
	r = runFake(t, root, map[string]runner.FakeResponse{sys + "is-active gone": {Stdout: "inactive\n", Code: 3}}, "status", "gone", "--json")
	if r.code != ctl.ExitNotFound || !strings.Contains(r.stdout, `"exists":false`) || !strings.Contains(r.stderr, "instance gone not found") {
		t.Fatalf("status gone = exit %d, %q, %q; want exit 3 with the status printed", r.code, r.stdout, r.stderr)
	}
}

func TestListOutput(t *testing.T) {
	root := t.TempDir()
	addInstance(t, root, "b")
	addInstance(t, root, "a")
	resp := map[string]runner.FakeResponse{
		sys + "is-active a": {Stdout: "active\n"},
		sys + "is-active b": {Stdout: "inactive\n", Code: 3},
		sys + "list-units":  {Stdout: "left4me-server@a.service loaded active running x\n"},
	}
	r := runFake(t, root, resp, "list", "--json")
	want := `[{"name":"a","exists":true,"mounted":false,"unit":"left4me-server@a.service","state":"active"},{"name":"b","exists":true,"mounted":false,"unit":"left4me-server@b.service","state":"inactive"}]` + "\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("list --json = exit %d, %q; want %q", r.code, r.stdout, want)
	}
	r = runFake(t, root, resp, "list")
	want = "NAME  MOUNTED  STATE\na     no       active\nb     no       inactive\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("list = exit %d, %q; want %q", r.code, r.stdout, want)
	}
	r = runFake(t, t.TempDir(), nil, "list", "--json")
	if r.code != 0 || r.stdout != "[]\n" {
		t.Fatalf("list --json on no instances = exit %d, %q; want []", r.code, r.stdout)
	}
}

func TestLogsFlagsAroundName(t *testing.T) {
	for _, args := range [][]string{
		{"logs", "a", "-n", "50", "-f"},
		{"logs", "-n", "50", "a", "-f"},
		{"logs", "-f", "-n", "50", "a"},
	} {
		want := "/usr/bin/sudo -n /usr/local/libexec/left4me/left4me-journalctl a -n 50 -f"
		r := runFake(t, t.TempDir(), map[string]runner.FakeResponse{want: {Stdout: "line\n"}}, args...)
		if r.code != 0 || !reflect.DeepEqual(r.commands, []string{want}) || r.stdout != "line\n" {
			t.Fatalf("l4d2ctl %q = exit %d, ran %q, stdout %q; want %q", args, r.code, r.commands, r.stdout, want)
		}
	}
}

func TestGlobalSettings(t *testing.T) {
	root := t.TempDir()
	addInstance(t, root, "a")
	resp := map[string]runner.FakeResponse{
		"/t/sudo -n /t/ov-mount a":  {},
		"/t/sudo -n /t/sys-start a": {},
		"/t/sudo -n /t/sys-show a":  {Stdout: "ActiveState=active\nSubState=running\nNRestarts=0\n"},
	}
	r := runFake(t, root, resp, "--sudo", "/t/sudo", "--overlay-helper", "/t/ov", "--systemctl-helper", "/t/sys", "start", "a")
	if r.code != 0 {
		t.Fatalf("start with settings = exit %d, ran %q, stderr %q", r.code, r.commands, r.stderr)
	}
	resp = map[string]runner.FakeResponse{"/t/j a -n 5": {}}
	r = runFake(t, root, resp, "--no-sudo", "--journal-helper", "/t/j", "logs", "a", "-n", "5")
	if r.code != 0 {
		t.Fatalf("logs --no-sudo = exit %d, ran %q, stderr %q", r.code, r.commands, r.stderr)
	}
}

func TestErrorsOnStderrWithExitCode(t *testing.T) {
	root := t.TempDir()
	addInstance(t, root, "a")
	resp := map[string]runner.FakeResponse{
		"/usr/bin/sudo -n /usr/local/libexec/left4me/left4me-overlay-mount a": {Stderr: "sudo: a password is required", Code: 1},
	}
	r := runFake(t, root, resp, "start", "a")
	if r.code != ctl.ExitFailed || !strings.HasPrefix(r.stderr, "l4d2ctl: mount runtime overlay of a: ") || !strings.Contains(r.stderr, "a password is required") {
		t.Fatalf("start = exit %d, stderr %q", r.code, r.stderr)
	}
	if r.stdout != "Step: mounting runtime overlay...\n" {
		t.Fatalf("start stdout = %q", r.stdout)
	}
	r = runFake(t, root, nil, "start", "nope")
	if r.code != ctl.ExitNotFound {
		t.Fatalf("start nope = exit %d, want %d (stderr %q)", r.code, ctl.ExitNotFound, r.stderr)
	}
}

// run execs the game server as the unit's user; as root it refuses (and
// runs nothing), and a bad name is a usage error.
func TestRunVerb(t *testing.T) {
	root := t.TempDir()
	addInstance(t, root, "a")
	if os.Geteuid() == 0 {
		r := runFake(t, root, nil, "run", "a")
		if r.code != ctl.ExitFailed || !strings.Contains(r.stderr, "refusing to run as root") || len(r.commands) != 0 {
			t.Fatalf("run a as root = %d, %q, ran %q; want 1 and a refusal", r.code, r.stderr, r.commands)
		}
	}
	if r := runFake(t, root, nil, "run", "a", "extra"); r.code != ctl.ExitUsage {
		t.Fatalf("run a extra = %d, want %d", r.code, ctl.ExitUsage)
	}
}
