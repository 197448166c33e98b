package sudoers

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/left4me/left4me-deploy/internal/svchelper"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func hostParams() Params {
	return Params{User: hostpath.User, OverlayHelper: hostpath.OverlayHelper,
		SystemctlHelper: hostpath.SystemctlHelper, JournalHelper: hostpath.JournalHelper}
}

func TestRenderGolden(t *testing.T) {
	got, err := Render(hostParams())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "left4me.sudoers.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Render(host) differs from %s (run go test -update):\n%s", golden, got)
	}
}

// The rules are exactly these lines: two verbs of the overlay helper and the
// two service helpers, for one user, NOPASSWD, and nothing else.
func TestRenderLinesExact(t *testing.T) {
	got, err := Render(hostParams())
	if err != nil {
		t.Fatal(err)
	}
	const dir = "/usr/local/libexec/left4me/"
	want := []string{
		"left4me ALL=(root) NOPASSWD: " + dir + "left4me-overlay-mount, " + dir + "left4me-overlay-umount",
		"left4me ALL=(root) NOPASSWD: " + dir + "left4me-systemctl-start, " + dir + "left4me-systemctl-stop, " +
			dir + "left4me-systemctl-restart, " + dir + "left4me-systemctl-status, " + dir + "left4me-systemctl-is-active, " +
			dir + "left4me-systemctl-reset-failed, " + dir + "left4me-systemctl-show, " + dir + "left4me-systemctl-list-units",
		"left4me ALL=(root) NOPASSWD: " + dir + "left4me-journalctl",
	}
	if lines := Lines(got); strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rule lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if bytes.Contains(got, []byte("Defaults")) {
		t.Fatal("rendered sudoers changes Defaults; env_reset and the rest must stay as the system sets them")
	}
}

func TestRenderStable(t *testing.T) {
	a, _ := Render(hostParams())
	b, _ := Render(hostParams())
	if !bytes.Equal(a, b) {
		t.Fatal("two renders of the same params differ")
	}
}

func TestRenderRejects(t *testing.T) {
	ok := hostParams()
	tests := []struct {
		name string
		edit func(*Params)
		want error
	}{
		{"empty user", func(p *Params) { p.User = "" }, ErrBadUser},
		{"user with space", func(p *Params) { p.User = "left4me ALL" }, ErrBadUser},
		{"user with newline", func(p *Params) { p.User = "a\nroot ALL=(ALL) ALL" }, ErrBadUser},
		{"uppercase user", func(p *Params) { p.User = "Root" }, ErrBadUser},
		{"relative helper", func(p *Params) { p.OverlayHelper = "left4me-overlay" }, ErrBadPath},
		{"helper with comma", func(p *Params) { p.SystemctlHelper = "/bin/sh, /bin/bash" }, ErrBadPath},
		{"helper with space", func(p *Params) { p.JournalHelper = "/bin/sh -c" }, ErrBadPath},
		{"helper with dotdot", func(p *Params) { p.JournalHelper = "/usr/../bin/sh" }, ErrBadPath},
		{"helper with colon", func(p *Params) { p.JournalHelper = "/usr/bin/a:b" }, ErrBadPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.edit(&p)
			if _, err := Render(p); !errors.Is(err, tt.want) {
				t.Fatalf("Render(%+v) = %v, want %v", p, err, tt.want)
			}
		})
	}
}

func requireVisudo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(Visudo); err != nil {
		// visudo lives in /usr/sbin, which may be missing from PATH.
		t.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin")
	}
	testenv.RequireBinary(t, Visudo, "sudo")
}

// Real visudo accepts the rendered file for any valid user and helper paths.
func TestValidateRealVisudo(t *testing.T) {
	requireVisudo(t)
	for _, p := range []Params{hostParams(), {User: "l4m-tin-x", OverlayHelper: "/tmp/x/left4me-overlay", SystemctlHelper: "/tmp/x/s", JournalHelper: "/tmp/x/j"}} {
		data, err := Render(p)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "left4me")
		if err := os.WriteFile(path, data, 0o440); err != nil {
			t.Fatal(err)
		}
		if err := Validate(context.Background(), runner.Exec{}, path); err != nil {
			t.Fatalf("Validate(render %+v) = %v", p, err)
		}
	}
}

func TestValidateRejectsBroken(t *testing.T) {
	requireVisudo(t)
	path := filepath.Join(t.TempDir(), "left4me")
	os.WriteFile(path, []byte("left4me ALL=(root) NOPASSWD /bin/true\n"), 0o440)
	err := Validate(context.Background(), runner.Exec{}, path)
	if err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Fatalf("Validate(broken) = %v, want visudo's syntax error", err)
	}
}

// brokenRunner runs visudo on a broken copy of the file, so the real visudo
// rejects what Install is about to rename into place.
type brokenRunner struct{}

func (brokenRunner) Run(ctx context.Context, c runner.Cmd) error {
	path := c.Argv[len(c.Argv)-1]
	if err := os.WriteFile(path, []byte("this is not sudoers\n"), 0o440); err != nil {
		return err
	}
	return runner.Exec{}.Run(ctx, c)
}

// A rendered file that visudo rejects never replaces a valid installed one,
// and leaves no temporary file behind (sudo would ignore a dotted name, but
// it must not linger either).
func TestInstallBrokenNeverReplacesValid(t *testing.T) {
	testenv.RequireRoot(t)
	requireVisudo(t)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "left4me")
	good, _ := Render(hostParams())
	if changed, err := Install(ctx, runner.Exec{}, path, good); err != nil || !changed {
		t.Fatalf("Install(good) = %v, %v; want true, nil", changed, err)
	}
	before, _ := os.Stat(path)

	next, _ := Render(Params{User: "someoneelse", OverlayHelper: hostpath.OverlayHelper, SystemctlHelper: hostpath.SystemctlHelper, JournalHelper: hostpath.JournalHelper})
	changed, err := Install(ctx, brokenRunner{}, path, next)
	if err == nil || changed {
		t.Fatalf("Install(broken) = %v, %v; want false and visudo's error", changed, err)
	}
	if !strings.Contains(err.Error(), "visudo") {
		t.Fatalf("error %q does not say visudo rejected the file", err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, good) {
		t.Fatalf("installed file changed after a rejected install:\n%s", got)
	}
	after, _ := os.Stat(path)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("installed file's mtime changed after a rejected install")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries after a rejected install, want only the installed file", len(entries))
	}
}

func TestInstallIdempotentAndRestoresMode(t *testing.T) {
	testenv.RequireRoot(t)
	requireVisudo(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "left4me")
	data, _ := Render(hostParams())
	if c, err := Install(ctx, runner.Exec{}, path, data); err != nil || !c {
		t.Fatalf("first Install = %v, %v", c, err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o440 {
		t.Fatalf("mode %v, want 0440", fi.Mode())
	}
	if c, err := Install(ctx, runner.Exec{}, path, data); err != nil || c {
		t.Fatalf("second Install = %v, %v; want false, nil", c, err)
	}
	os.Chmod(path, 0o644)
	if c, err := Install(ctx, runner.Exec{}, path, data); err != nil || !c {
		t.Fatalf("Install after chmod 0644 = %v, %v; want true, nil", c, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o440 {
		t.Fatalf("mode %v after restore, want 0440", fi.Mode())
	}
}

// installRulesFor installs the rendered rules for user with the helpers
// (stand-in scripts) and the real entry points in a new directory, as a
// drop-in removed when the test ends, and returns the params.
func installRulesFor(t *testing.T, user, dropIn string) Params {
	t.Helper()
	t.Cleanup(func() { os.Remove(dropIn) })
	// sudo -l resolves the command, so the programs must exist.
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	p := Params{User: user, OverlayHelper: dir + "/left4me-overlay", SystemctlHelper: dir + "/left4me-systemctl", JournalHelper: dir + "/left4me-journalctl"}
	data, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{p.OverlayHelper, p.SystemctlHelper, p.JournalHelper} {
		if err := os.WriteFile(h, []byte("#!/bin/sh\necho \"$0 $*\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range EntryPoints(p) {
		script, err := Script(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.Path, script, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Install(context.Background(), runner.Exec{}, dropIn, data); err != nil {
		t.Fatal(err)
	}
	return p
}

// sudoAllows asks the real sudo whether user may run argv as root:
// "sudo -l -U user CMD..." answers that (exit 0: allowed) for sudo 1.9 and
// sudo-rs alike.
func sudoAllows(user string, argv ...string) bool {
	return exec.Command("sudo", append([]string{"-n", "-l", "-U", user}, argv...)...).Run() == nil
}

// The rendered rules installed for a real (test) user allow exactly the
// contract's calls, as sudo itself decides: every probe the deploy's verify
// asks gets the contract's answer.
func TestRealSudoAllowsOnlyHelpers(t *testing.T) {
	testenv.RequireRoot(t)
	requireVisudo(t)
	testenv.RequireBinary(t, "sudo", "sudo")
	const name = "l4m-tin-sudo"
	testenv.AddUser(t, name, "")
	p := installRulesFor(t, name, "/etc/sudoers.d/left4me-test-sudoers")
	probes := Probes(p)
	if len(probes) < 12 {
		t.Fatalf("Probes = %d calls, want every granted program and the refusals", len(probes))
	}
	extra := []Probe{
		{Argv: []string{p.OverlayHelper}},
		{Argv: []string{p.OverlayHelper + "-status", "test-server"}},
		{Argv: []string{"/usr/bin/systemctl", "start", "x"}},
	}
	for _, pr := range append(probes, extra...) {
		if allowed := sudoAllows(name, pr.Argv...); allowed != pr.Allow {
			t.Errorf("sudo -l -U %s %s: allowed=%v, want %v", name, strings.Join(pr.Argv, " "), allowed, pr.Allow)
		}
	}
}

// What the rules rely on, asked of the real sudo: a command without
// arguments in sudoers admits any arguments, `CMD ""` admits none, and
// sudo 1.9 matches "*" across spaces (which sudo-rs does not; the e2e
// sudo-rs host asks it the same).
func TestRealSudoCommandForms(t *testing.T) {
	testenv.RequireRoot(t)
	requireVisudo(t)
	testenv.RequireBinary(t, "sudo", "sudo")
	const name = "l4m-tin-forms"
	const dropIn = "/etc/sudoers.d/left4me-test-forms"
	testenv.AddUser(t, name, "")
	t.Cleanup(func() { os.Remove(dropIn) })
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	bare, none, star := dir+"/bare", dir+"/none", dir+"/star"
	for _, f := range []string{bare, none, star} {
		os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755)
	}
	rules := fmt.Sprintf("%[1]s ALL=(root) NOPASSWD: %[2]s\n%[1]s ALL=(root) NOPASSWD: %[3]s \"\"\n%[1]s ALL=(root) NOPASSWD: %[4]s mount *\n", name, bare, none, star)
	if _, err := Install(context.Background(), runner.Exec{}, dropIn, []byte(rules)); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("sudo", "--version").Output()
	t.Logf("%s", firstLine(string(out)))
	for _, tt := range []struct {
		argv  []string
		allow bool
	}{
		{[]string{bare}, true},
		{[]string{bare, "a"}, true},
		{[]string{bare, "a", "b c"}, true},
		{[]string{none}, true},
		{[]string{none, "a"}, false},
		{[]string{star, "mount", "a"}, true},
		{[]string{star, "mount", "a", "b"}, true},
		{[]string{star, "umount", "a"}, false},
	} {
		if allowed := sudoAllows(name, tt.argv...); allowed != tt.allow {
			t.Errorf("sudo -l -U %s %s: allowed=%v, want %v", name, strings.Join(tt.argv, " "), allowed, tt.allow)
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// Each entry point runs its helper with its verb and the one argument it
// got, and refuses any other number of arguments without running it.
func TestEntryPointScripts(t *testing.T) {
	dir := t.TempDir()
	p := Params{User: "x", OverlayHelper: dir + "/left4me-overlay", SystemctlHelper: dir + "/left4me-systemctl", JournalHelper: dir + "/left4me-journalctl"}
	for _, h := range []string{p.OverlayHelper, p.SystemctlHelper} {
		os.WriteFile(h, []byte("#!/bin/sh\nprintf '%s|' \"$0\" \"$@\"\n"), 0o755)
	}
	eps := EntryPoints(p)
	if len(eps) != 2+len(svchelper.Verbs)+1 {
		t.Fatalf("EntryPoints = %d, want 2 overlay verbs, %d systemctl verbs and list-units", len(eps), len(svchelper.Verbs))
	}
	for _, e := range eps {
		script, err := Script(e)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(e.Path, script, 0o755)
		if e.NoName {
			// list-units runs its helper with no argument and refuses any.
			out, err := exec.Command(e.Path).Output()
			if want := e.Helper + "|" + e.Verb + "|"; err != nil || string(out) != want {
				t.Errorf("%s = %q, %v; want %q", e.Path, out, err, want)
			}
			for _, args := range [][]string{{"a"}, {""}, {"a", "b"}} {
				cmd := exec.Command(e.Path, args...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if code := exitCode(err); code != 2 || len(out) != 0 || !strings.Contains(stderr.String(), "takes no arguments") {
					t.Errorf("%s %q = exit %d, stdout %q, stderr %q; want exit 2, the helper not run", e.Path, args, code, out, stderr.String())
				}
			}
			continue
		}
		out, err := exec.Command(e.Path, "a b;$(id)").Output()
		if want := e.Helper + "|" + e.Verb + "|a b;$(id)|"; err != nil || string(out) != want {
			t.Errorf("%s 'a b;$(id)' = %q, %v; want %q", e.Path, out, err, want)
		}
		for _, args := range [][]string{nil, {"a", "b"}, {"a", ""}} {
			cmd := exec.Command(e.Path, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if code := exitCode(err); code != 2 || len(out) != 0 || !strings.Contains(stderr.String(), "want exactly one argument") {
				t.Errorf("%s %q = exit %d, stdout %q, stderr %q; want exit 2, the helper not run", e.Path, args, code, out, stderr.String())
			}
		}
	}
	if _, err := Script(Entry{Path: dir + "/x y", Helper: p.OverlayHelper, Verb: "mount"}); !errors.Is(err, ErrBadPath) {
		t.Fatalf("Script(path with space) = %v, want ErrBadPath", err)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
