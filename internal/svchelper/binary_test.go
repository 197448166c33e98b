package svchelper

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/gobuild"
)

func TestMain(m *testing.M) {
	code := m.Run()
	gobuild.Cleanup()
	os.Exit(code)
}

// TestBinariesExecStandIn runs the built helpers (not through sudo) with a
// stand-in for systemctl and journalctl and checks what the stand-in saw:
// its exact argv and nothing but the clean environment.
func TestBinariesExecStandIn(t *testing.T) {
	sysBin := gobuild.Binary(t, "left4me-systemctl")
	jBin := gobuild.Binary(t, "left4me-journalctl")
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	standIn := writeStandIn(t, dir, rec)

	tests := []struct {
		name     string
		bin      string
		envName  string
		args     []string
		wantArgv []string
	}{
		{"systemctl start", sysBin, SystemctlEnv, []string{"start", "test-server"}, []string{standIn, "start", "left4me-server@test-server.service"}},
		{"systemctl reset-failed", sysBin, SystemctlEnv, []string{"reset-failed", "x1"}, []string{standIn, "reset-failed", "left4me-server@x1.service"}},
		{"systemctl list-units", sysBin, SystemctlEnv, []string{"list-units"}, []string{standIn, "list-units", "--all", "--plain", "--no-legend", "--full", "left4me-server@*.service"}},
		{"journalctl -n -f", jBin, JournalctlEnv, []string{"x1", "-f", "-n", "20"}, []string{standIn, "-u", "left4me-server@x1.service", "--no-pager", "-n", "20", "-f"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(rec + ".argv")
			cmd := exec.Command(tt.bin, tt.args...)
			cmd.Env = []string{tt.envName + "=" + standIn, FollowDirEnv + "=" + filepath.Join(dir, "follow"), "SECRET_FROM_CALLER=1", "LD_PRELOAD=/nonexistent.so", "PATH=/tmp/evil:/usr/bin:/bin"}
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "stand-in ran" {
				t.Fatalf("%s %q = %v, output %q", filepath.Base(tt.bin), tt.args, err, out)
			}
			argv := readLines(t, rec+".argv")
			if strings.Join(argv, " ") != strings.Join(tt.wantArgv, " ") {
				t.Fatalf("stand-in argv = %q, want %q", argv, tt.wantArgv)
			}
			for _, kv := range readLines(t, rec+".env") {
				if strings.HasPrefix(kv, "PWD=") || strings.HasPrefix(kv, "SHLVL=") || strings.HasPrefix(kv, "_=") {
					continue // set by /bin/sh itself
				}
				if !contains(CleanEnv, kv) {
					t.Errorf("stand-in environment has %q, not part of the clean environment %q", kv, CleanEnv)
				}
			}
		})
	}
}

// TestBinariesIgnoreOverrideUnderSudo shows that with any SUDO_* variable
// set, the override is ignored: the stand-in never runs.
func TestBinariesIgnoreOverrideUnderSudo(t *testing.T) {
	sysBin := gobuild.Binary(t, "left4me-systemctl")
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	standIn := writeStandIn(t, dir, rec)
	for _, sudoVar := range []string{"SUDO_UID=1000", "SUDO_USER=left4me", "SUDO_COMMAND=/bin/x"} {
		cmd := exec.Command(sysBin, "is-active", "a")
		cmd.Env = []string{SystemctlEnv + "=" + standIn, sudoVar}
		out, _ := cmd.CombinedOutput()
		if strings.Contains(string(out), "stand-in ran") {
			t.Fatalf("with %s the override ran: %q", sudoVar, out)
		}
		if _, err := os.Stat(rec + ".argv"); err == nil {
			t.Fatalf("with %s the stand-in recorded a call", sudoVar)
		}
	}
}

// TestBinariesRefuse runs the built helpers on refused arguments: exit 2,
// the reason on stderr, and the stand-in never runs.
func TestBinariesRefuse(t *testing.T) {
	sysBin := gobuild.Binary(t, "left4me-systemctl")
	jBin := gobuild.Binary(t, "left4me-journalctl")
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	standIn := writeStandIn(t, dir, rec)
	tests := []struct {
		bin  string
		args []string
		want string
	}{
		{sysBin, []string{"start", "../x"}, "invalid instance name"},
		{sysBin, []string{"start", "ssh.service"}, "invalid instance name"},
		{sysBin, []string{"start", "a", "b"}, "want exactly VERB NAME"},
		{sysBin, []string{"mask", "a"}, `verb "mask" not allowed`},
		{sysBin, []string{"list-units", "a"}, `verb "list-units" not allowed`},
		{sysBin, []string{"list-units", "--all", "x"}, "want exactly VERB NAME"},
		{jBin, []string{"a", "-n", "0"}, `-n "0": want a number of lines from 1 to 10000`},
		{jBin, []string{"a", "-u", "ssh"}, `argument "-u" not allowed`},
		{jBin, []string{"../x"}, "invalid instance name"},
	}
	for _, tt := range tests {
		cmd := exec.Command(tt.bin, tt.args...)
		cmd.Env = []string{SystemctlEnv + "=" + standIn, JournalctlEnv + "=" + standIn}
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != ExitUsage || !strings.Contains(string(out), tt.want) {
			t.Errorf("%s %q = %v (exit %d), output %q; want exit %d and %q", filepath.Base(tt.bin), tt.args, err, code, out, ExitUsage, tt.want)
		}
	}
	if _, err := os.Stat(rec + ".argv"); err == nil {
		t.Fatalf("the stand-in ran for refused arguments")
	}
}

func readLines(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
