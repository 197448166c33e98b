package svchelper

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/instance"
)

func env(kv ...string) Getenv {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestSystemctlArgv(t *testing.T) {
	tests := []argvCase{
		{"start", []string{"start", "test-server"}, env(), []string{"/usr/bin/systemctl", "start", "left4me-server@test-server.service"}, nil},
		{"stop", []string{"stop", "a"}, env(), []string{"/usr/bin/systemctl", "stop", "left4me-server@a.service"}, nil},
		{"restart", []string{"restart", "a"}, env(), []string{"/usr/bin/systemctl", "restart", "left4me-server@a.service"}, nil},
		{"status", []string{"status", "a"}, env(), []string{"/usr/bin/systemctl", "status", "left4me-server@a.service"}, nil},
		{"is-active", []string{"is-active", "a"}, env(), []string{"/usr/bin/systemctl", "is-active", "left4me-server@a.service"}, nil},
		{"reset-failed", []string{"reset-failed", "a_1"}, env(), []string{"/usr/bin/systemctl", "reset-failed", "left4me-server@a_1.service"}, nil},
		{"show", []string{"show", "a"}, env(), []string{"/usr/bin/systemctl", "show", "--property=" + ShowProperties, "left4me-server@a.service"}, nil},
		{"show takes no property", []string{"show", "a", "--property=MainPID"}, env(), nil, ErrUsage},
		{"override honoured without sudo", []string{"start", "a"}, env(SystemctlEnv, "/tmp/fake"), []string{"/tmp/fake", "start", "left4me-server@a.service"}, nil},
		{"override ignored with SUDO_UID", []string{"start", "a"}, env(SystemctlEnv, "/tmp/fake", "SUDO_UID", "1000"), []string{"/usr/bin/systemctl", "start", "left4me-server@a.service"}, nil},
		{"override ignored with SUDO_USER", []string{"start", "a"}, env(SystemctlEnv, "/tmp/fake", "SUDO_USER", "left4me"), []string{"/usr/bin/systemctl", "start", "left4me-server@a.service"}, nil},
		{"override ignored with SUDO_COMMAND", []string{"start", "a"}, env(SystemctlEnv, "/tmp/fake", "SUDO_COMMAND", "/x"), []string{"/usr/bin/systemctl", "start", "left4me-server@a.service"}, nil},
		{"no args", nil, env(), nil, ErrUsage},
		{"name missing", []string{"start"}, env(), nil, ErrUsage},
		{"extra argument", []string{"start", "a", "b"}, env(), nil, ErrUsage},
		{"option after name", []string{"start", "a", "--no-block"}, env(), nil, ErrUsage},
		{"other unit", []string{"start", "ssh"}, env(), []string{"/usr/bin/systemctl", "start", "left4me-server@ssh.service"}, nil},
		{"unit suffix", []string{"start", "ssh.service"}, env(), nil, instance.ErrInvalidName},
		{"traversal", []string{"start", "../x"}, env(), nil, instance.ErrInvalidName},
		{"option as name", []string{"start", "--all"}, env(), nil, instance.ErrInvalidName},
		{"glob", []string{"stop", "*"}, env(), nil, instance.ErrInvalidName},
		{"verb not allowed", []string{"enable", "a"}, env(), nil, ErrUsage},
		{"edit verb", []string{"edit", "a"}, env(), nil, ErrUsage},
		{"option as verb", []string{"--help", "a"}, env(), nil, ErrUsage},
		{"verb case", []string{"START", "a"}, env(), nil, ErrUsage},
	}
	runArgvCases(t, "SystemctlArgv", SystemctlArgv, tests)
}

func TestJournalctlArgv(t *testing.T) {
	unit := "left4me-server@a.service"
	tests := []argvCase{
		{"name only", []string{"a"}, env(), []string{"/usr/bin/journalctl", "-u", unit, "--no-pager"}, nil},
		{"lines", []string{"a", "-n", "50"}, env(), []string{"/usr/bin/journalctl", "-u", unit, "--no-pager", "-n", "50"}, nil},
		{"follow", []string{"a", "-f"}, env(), []string{"/usr/bin/journalctl", "-u", unit, "--no-pager", "-f"}, nil},
		{"both", []string{"a", "-n", "1", "-f"}, env(), []string{"/usr/bin/journalctl", "-u", unit, "--no-pager", "-n", "1", "-f"}, nil},
		{"both reversed", []string{"a", "-f", "-n", "10000"}, env(), []string{"/usr/bin/journalctl", "-u", unit, "--no-pager", "-n", "10000", "-f"}, nil},
		{"override", []string{"a"}, env(JournalctlEnv, "/tmp/j"), []string{"/tmp/j", "-u", unit, "--no-pager"}, nil},
		{"override ignored under sudo", []string{"a"}, env(JournalctlEnv, "/tmp/j", "SUDO_UID", "0"), []string{"/usr/bin/journalctl", "-u", unit, "--no-pager"}, nil},
		{"no args", nil, env(), nil, ErrUsage},
		{"bad name", []string{"A"}, env(), nil, instance.ErrInvalidName},
		{"option as name", []string{"-f"}, env(), nil, instance.ErrInvalidName},
		{"n missing value", []string{"a", "-n"}, env(), nil, ErrUsage},
		{"n zero", []string{"a", "-n", "0"}, env(), nil, ErrUsage},
		{"n negative", []string{"a", "-n", "-5"}, env(), nil, ErrUsage},
		{"n plus", []string{"a", "-n", "+5"}, env(), nil, ErrUsage},
		{"n too big", []string{"a", "-n", "10001"}, env(), nil, ErrUsage},
		{"n huge", []string{"a", "-n", "99999999999999999999"}, env(), nil, ErrUsage},
		{"n leading zero", []string{"a", "-n", "010"}, env(), nil, ErrUsage},
		{"n all", []string{"a", "-n", "all"}, env(), nil, ErrUsage},
		{"n space", []string{"a", "-n", " 5"}, env(), nil, ErrUsage},
		{"n twice", []string{"a", "-n", "5", "-n", "6"}, env(), nil, ErrUsage},
		{"f twice", []string{"a", "-f", "-f"}, env(), nil, ErrUsage},
		{"glued n", []string{"a", "-n5"}, env(), nil, ErrUsage},
		{"long lines", []string{"a", "--lines=5"}, env(), nil, ErrUsage},
		{"other unit", []string{"a", "-u", "ssh.service"}, env(), nil, ErrUsage},
		{"output option", []string{"a", "--output-fields=x"}, env(), nil, ErrUsage},
		{"file option", []string{"a", "--file=/etc/shadow"}, env(), nil, ErrUsage},
		{"extra word", []string{"a", "b"}, env(), nil, ErrUsage},
	}
	runArgvCases(t, "JournalctlArgv", JournalctlArgv, tests)
}

func TestMainExecsWithCleanEnv(t *testing.T) {
	var gotArgv, gotEnv []string
	var got0 string
	exec := func(argv0 string, argv, env []string) error {
		got0, gotArgv, gotEnv = argv0, argv, env
		return errors.New("not really")
	}
	var stderr bytes.Buffer
	code := Main("left4me-systemctl", SystemctlUsage, SystemctlArgv, []string{"status", "a"}, env(), &stderr, exec)
	if code != ExitExecFailed {
		t.Fatalf("Main = %d, want %d", code, ExitExecFailed)
	}
	want := []string{"/usr/bin/systemctl", "status", "left4me-server@a.service"}
	if got0 != want[0] || !reflect.DeepEqual(gotArgv, want) || !reflect.DeepEqual(gotEnv, CleanEnv) {
		t.Fatalf("exec(%q, %q, %q), want (%q, %q, %q)", got0, gotArgv, gotEnv, want[0], want, CleanEnv)
	}
	if !strings.Contains(stderr.String(), "left4me-systemctl: run /usr/bin/systemctl: not really") {
		t.Fatalf("stderr = %q", stderr.String())
	}
}

func TestMainRefusesBeforeExec(t *testing.T) {
	exec := func(string, []string, []string) error {
		t.Fatal("exec called for refused arguments")
		return nil
	}
	var stderr bytes.Buffer
	code := Main("left4me-journalctl", JournalctlUsage, JournalctlArgv, []string{"a", "--file=/etc/shadow"}, env(), &stderr, exec)
	if code != ExitUsage {
		t.Fatalf("Main = %d, want %d", code, ExitUsage)
	}
	if !strings.Contains(stderr.String(), `argument "--file=/etc/shadow" not allowed`) || !strings.Contains(stderr.String(), JournalctlUsage) {
		t.Fatalf("stderr = %q", stderr.String())
	}
}

func TestParseLines(t *testing.T) {
	for _, s := range []string{"1", "9", "10", "500", "10000"} {
		if _, err := ParseLines(s); err != nil {
			t.Errorf("ParseLines(%q) = %v, want ok", s, err)
		}
	}
	for _, s := range []string{"", "0", "00", "-1", "1e3", "0x10", "10001", "99999", "123456", "1 ", "１"} {
		if n, err := ParseLines(s); err == nil {
			t.Errorf("ParseLines(%q) = %d, nil; want error", s, n)
		}
	}
}

// writeStandIn writes a shell script that records its argv (one per line)
// and its environment into out, then prints "stand-in ran".
func writeStandIn(t *testing.T, dir, out string) string {
	t.Helper()
	p := filepath.Join(dir, "stand-in")
	script := "#!/bin/sh\nfor a in \"$0\" \"$@\"; do printf '%s\\n' \"$a\"; done > " + out + ".argv\nenv | sort > " + out + ".env\necho stand-in ran\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// argvCase is one call of SystemctlArgv or JournalctlArgv and its outcome.
type argvCase struct {
	name    string
	args    []string
	env     Getenv
	want    []string
	wantErr error
}

func runArgvCases(t *testing.T, fname string, fn func([]string, Getenv) ([]string, error), tests []argvCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fn(tt.args, tt.env)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("%s(%q) = %q, %v; want error %v", fname, tt.args, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("%s(%q) = %q, %v; want %q", fname, tt.args, got, err, tt.want)
			}
		})
	}
}
