//go:build linux

package ctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/left4me/left4me-deploy/internal/gobuild"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/overlayclient"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

func TestMain(m *testing.M) {
	// Tests that mount run as PID 1 of a private PID+mount namespace (as
	// root); the rest run anywhere. The re-exec exits without returning, so
	// the binaries built for the tests are removed by the inner run.
	if os.Geteuid() == 0 && !testenv.InNamespace() {
		if _, err := exec.LookPath("unshare"); err == nil {
			testenv.ReexecInNamespace(m)
		}
	}
	code := m.Run()
	gobuild.Cleanup()
	os.Exit(code)
}

// Command lines of the helpers as l4d2ctl runs them through sudo.
const (
	sudoSys     = "/usr/bin/sudo -n /usr/local/libexec/left4me/left4me-systemctl-"
	sudoOverlay = "/usr/bin/sudo -n /usr/local/libexec/left4me/left4me-overlay-"
	sudoJournal = "/usr/bin/sudo -n /usr/local/libexec/left4me/left4me-journalctl "
)

// fixture is one root with the layout of docs/design.md §2 and a Ctl whose runner
// is a strict fake: the mounter is the real overlayclient.SudoMounter on that fake,
// so every sudo + helper command line is recorded in order.
type fixture struct {
	root   string
	fake   *runner.Fake
	ctl    *Ctl
	stdout bytes.Buffer
	stderr bytes.Buffer
}

func newFixture(t *testing.T, responses map[string]runner.FakeResponse) *fixture {
	t.Helper()
	f := &fixture{root: t.TempDir(), fake: &runner.Fake{Strict: true, Responses: responses}}
	f.ctl = &Ctl{
		Root:    hostpath.Root(f.root),
		Runner:  f.fake,
		Mounter: overlayclient.SudoMounter{Runner: f.fake},
		Sudo:    DefaultSudo,
		Settle:  &Settle{}, // the first active answer settles
		Stdout:  &f.stdout,
		Stderr:  &f.stderr,
	}
	return f
}

// p returns the path of a host path inside the fixture's root.
func (f *fixture) p(hostPath string) string { return hostpath.Root(f.root).Join(hostPath) }

// addInstance creates runtime/NAME with instance.env, upper, work, merged.
func (f *fixture) addInstance(t *testing.T, name string) {
	t.Helper()
	for _, d := range []string{hostpath.Upper(name), hostpath.Work(name), hostpath.Merged(name)} {
		if err := os.MkdirAll(f.p(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := "LOWERDIRS=" + hostpath.InstallationDir + "\n"
	if err := os.WriteFile(f.p(hostpath.InstanceEnv(name)), []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) wantCommands(t *testing.T, want ...string) {
	t.Helper()
	got := f.fake.Commands()
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("commands run:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func ok(stdout string) runner.FakeResponse { return runner.FakeResponse{Stdout: stdout} }

func TestStartArgv(t *testing.T) {
	f := newFixture(t, map[string]runner.FakeResponse{
		sudoOverlay + "mount test-server": ok(""),
		sudoSys + "start test-server":     ok(""),
		sudoSys + "show test-server":      ok(running),
	})
	f.addInstance(t, "test-server")
	if err := f.ctl.Start(context.Background(), "test-server"); err != nil {
		t.Fatalf("Start = %v", err)
	}
	f.wantCommands(t,
		sudoOverlay+"mount test-server",
		sudoSys+"reset-failed test-server",
		sudoSys+"start test-server",
		sudoSys+"show test-server")
	want := "Step: mounting runtime overlay...\nStep: starting server...\nStarted left4me-server@test-server.service.\n"
	if f.stdout.String() != want {
		t.Fatalf("stdout = %q, want %q", f.stdout.String(), want)
	}
	if f.stderr.Len() != 0 {
		t.Fatalf("stderr = %q, want nothing", f.stderr.String())
	}
}

func TestStartWithoutSudo(t *testing.T) {
	f := newFixture(t, map[string]runner.FakeResponse{
		"/opt/ov mount a":  ok(""),
		"/opt/sys start a": ok(""),
		"/opt/sys show a":  ok(running),
	})
	f.ctl.Sudo = ""
	f.ctl.SystemctlHelper = "/opt/sys"
	f.ctl.Mounter = DirectMounter{Runner: f.fake, Helper: "/opt/ov"}
	f.addInstance(t, "a")
	if err := f.ctl.Start(context.Background(), "a"); err != nil {
		t.Fatalf("Start = %v", err)
	}
	f.wantCommands(t, "/opt/ov mount a", "/opt/sys reset-failed a", "/opt/sys start a", "/opt/sys show a")
}

// running is what left4me-systemctl show prints for a server that runs.
const running = "ActiveState=active\nSubState=running\nNRestarts=0\nResult=success\nExecMainCode=0\nExecMainStatus=0\n"

const failedStatus = `× left4me-server@a.service - Left 4 Dead 2 server a
     Loaded: loaded (/usr/local/lib/systemd/system/left4me-server@.service; static)
     Active: failed (Result: exit-code)
    Process: 42 ExecStart=/srv/srcds_run (code=exited, status=200/CHDIR)

Nov 26 20:00:00 host systemd[1]: journal line of the status
`

func TestStartFailureUnmounts(t *testing.T) {
	tests := []struct {
		name      string
		responses map[string]runner.FakeResponse
		want      []string
		wantErr   []string
	}{
		{
			name: "start exits non-zero",
			responses: map[string]runner.FakeResponse{
				sudoSys + "start a": {Stderr: "Job for left4me-server@a.service failed because the control process exited with error code.\n", Code: 1},
			},
			want:    []string{sudoOverlay + "mount a", sudoSys + "reset-failed a", sudoSys + "start a", sudoSys + "status a", sudoJournal + "a -n 15", sudoOverlay + "umount a"},
			wantErr: []string{"start left4me-server@a.service", "Job for left4me-server@a.service failed", "status=200/CHDIR"},
		},
		{
			name: "unit dead right after start",
			responses: map[string]runner.FakeResponse{
				sudoSys + "start a": ok(""),
				sudoSys + "show a":  ok("ActiveState=failed\nSubState=failed\nNRestarts=0\nResult=exit-code\nExecMainStatus=200\n"),
			},
			want: []string{sudoOverlay + "mount a", sudoSys + "reset-failed a", sudoSys + "start a", sudoSys + "show a", sudoSys + "status a",
				sudoJournal + "a -n 15", sudoSys + "stop a", sudoOverlay + "umount a"},
			wantErr: []string{"the server exits after it starts: failed (failed), result exit-code, last exit status 200", "status=200/CHDIR", "last 1 journal lines of the unit:\n  srcds_run: not found"},
		},
		{
			name: "unmount after failed start fails too",
			responses: map[string]runner.FakeResponse{
				sudoSys + "start a":      {Code: 1},
				sudoOverlay + "umount a": {Stderr: "umount: target is busy", Code: 1},
			},
			want:    []string{sudoOverlay + "mount a", sudoSys + "reset-failed a", sudoSys + "start a", sudoSys + "status a", sudoJournal + "a -n 15", sudoOverlay + "umount a"},
			wantErr: []string{"unmount after the failed start also failed", "target is busy", "status=200/CHDIR"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := map[string]runner.FakeResponse{
				sudoOverlay + "mount a":  ok(""),
				sudoOverlay + "umount a": ok(""),
				sudoSys + "status a":     {Stdout: failedStatus, Code: 3},
				sudoJournal + "a -n 15":  ok("srcds_run: not found\n"),
			}
			for k, v := range tt.responses {
				r[k] = v
			}
			f := newFixture(t, r)
			f.addInstance(t, "a")
			err := f.ctl.Start(context.Background(), "a")
			if ExitCode(err) != ExitFailed {
				t.Fatalf("Start = %v (exit %d), want exit %d", err, ExitCode(err), ExitFailed)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Start error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "journal line of the status") {
				t.Errorf("Start error %q repeats the journal lines of systemctl status", err)
			}
			f.wantCommands(t, tt.want...)
			if !strings.Contains(f.stdout.String(), "Step: start failed; unmounting runtime overlay...\n") {
				t.Errorf("stdout = %q, want the unmount step", f.stdout.String())
			}
		})
	}
}

func TestStartMountFailsStartsNothing(t *testing.T) {
	f := newFixture(t, map[string]runner.FakeResponse{
		sudoOverlay + "mount a": {Stderr: "left4me-overlay: layer /x: not below installation/ or overlays/", Code: 1},
	})
	f.addInstance(t, "a")
	err := f.ctl.Start(context.Background(), "a")
	if ExitCode(err) != ExitFailed || !strings.Contains(err.Error(), "not below installation/") {
		t.Fatalf("Start = %v, want the helper's reason and exit 1", err)
	}
	f.wantCommands(t, sudoOverlay+"mount a")
}

func TestStartMissingInstance(t *testing.T) {
	f := newFixture(t, nil)
	err := f.ctl.Start(context.Background(), "ghost")
	if !errors.Is(err, ErrNotFound) || ExitCode(err) != ExitNotFound {
		t.Fatalf("Start(ghost) = %v, want ErrNotFound", err)
	}
	// A directory without instance.env is not an instance either.
	os.MkdirAll(f.p(hostpath.Merged("half")), 0o755)
	if err := f.ctl.Start(context.Background(), "half"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Start(half) = %v, want ErrNotFound", err)
	}
	f.wantCommands(t)
}

// TestSymlinkedInstanceRefused: runtime/NAME as a symlink (to another
// instance, or anywhere) is never followed.
func TestSymlinkedInstanceRefused(t *testing.T) {
	f := newFixture(t, nil)
	f.addInstance(t, "real")
	if err := os.Symlink("real", f.p(hostpath.Instance("link"))); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.ctl.Start(ctx, "link"); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("Start(link) = %v, want a symlink refusal", err)
	}
	if err := f.ctl.Delete(ctx, "link"); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("Delete(link) = %v, want a symlink refusal", err)
	}
	if _, err := os.Stat(f.p(hostpath.InstanceEnv("real"))); err != nil {
		t.Fatalf("Delete(link) touched the target: %v", err)
	}
	f.wantCommands(t)
}

func TestInvalidNamesRunNothing(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"../escape", "", "Alpha", "a/b", "-n", "a b", "ssh.service", strings.Repeat("a", 33)} {
		f := newFixture(t, nil)
		errs := map[string]error{
			"start":  f.ctl.Start(ctx, name),
			"stop":   f.ctl.Stop(ctx, name),
			"delete": f.ctl.Delete(ctx, name),
			"logs":   f.ctl.Logs(ctx, name, LogOptions{}),
		}
		_, errs["status"] = f.ctl.Status(ctx, name)
		for verb, err := range errs {
			if ExitCode(err) != ExitUsage {
				t.Errorf("%s(%q) = %v, want exit %d", verb, name, err, ExitUsage)
			}
		}
		f.wantCommands(t)
		if f.stdout.Len() != 0 {
			t.Errorf("stdout for %q = %q, want nothing", name, f.stdout.String())
		}
	}
}

func TestStopIdempotent(t *testing.T) {
	tests := []struct {
		name     string
		instance bool
		stopResp runner.FakeResponse
		wantWarn string
	}{
		{"stopped, not mounted", true, ok(""), ""},
		{"never existed", false, ok(""), ""},
		{"unit refuses to stop", true, runner.FakeResponse{Stderr: "Failed to stop left4me-server@a.service: Unit left4me-server@a.service not loaded.", Code: 5}, "not loaded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, map[string]runner.FakeResponse{sudoSys + "stop a": tt.stopResp})
			if tt.instance {
				f.addInstance(t, "a")
			}
			for i := 0; i < 2; i++ {
				if err := f.ctl.Stop(context.Background(), "a"); err != nil {
					t.Fatalf("Stop #%d = %v, want nil", i+1, err)
				}
			}
			f.wantCommands(t, sudoSys+"stop a", sudoSys+"stop a")
			wantOut := "Step: stopping server...\nStep: runtime overlay not mounted; nothing to unmount.\nStopped a.\n"
			if f.stdout.String() != wantOut+wantOut {
				t.Fatalf("stdout = %q, want %q twice", f.stdout.String(), wantOut)
			}
			if tt.wantWarn == "" && f.stderr.Len() != 0 {
				t.Fatalf("stderr = %q, want nothing", f.stderr.String())
			}
			if !strings.Contains(f.stderr.String(), tt.wantWarn) || (tt.wantWarn != "" && !strings.HasPrefix(f.stderr.String(), "l4d2ctl: warning: stop left4me-server@a.service")) {
				t.Fatalf("stderr = %q, want a warning with %q", f.stderr.String(), tt.wantWarn)
			}
		})
	}
}

func TestDeleteMissingIsNoop(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.ctl.Delete(context.Background(), "ghost"); err != nil {
		t.Fatalf("Delete(ghost) = %v, want nil", err)
	}
	f.wantCommands(t)
	if want := "Step: instance ghost does not exist; nothing to delete.\n"; f.stdout.String() != want {
		t.Fatalf("stdout = %q, want %q", f.stdout.String(), want)
	}
}

// TestDeleteNeverFollowsSymlinks fills an instance with symlinks to a
// directory and a file outside it; delete removes the links, not their
// targets.
func TestDeleteNeverFollowsSymlinks(t *testing.T) {
	f := newFixture(t, map[string]runner.FakeResponse{sudoSys + "stop a": ok("")})
	f.addInstance(t, "a")
	outside := t.TempDir()
	victimFile := filepath.Join(outside, "precious")
	os.WriteFile(victimFile, []byte("x"), 0o644)
	os.Mkdir(filepath.Join(outside, "dir"), 0o755)
	os.WriteFile(filepath.Join(outside, "dir", "f"), []byte("y"), 0o644)
	up := f.p(hostpath.Upper("a"))
	os.MkdirAll(filepath.Join(up, "deep", "er"), 0o755)
	os.WriteFile(filepath.Join(up, "deep", "er", "file"), []byte("z"), 0o644)
	for link, target := range map[string]string{
		filepath.Join(up, "to-dir"):             filepath.Join(outside, "dir"),
		filepath.Join(up, "deep", "to-file"):    victimFile,
		filepath.Join(up, "deep", "er", "root"): "/",
		f.p(hostpath.Merged("a")) + "/../lnk":   outside,
	} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.ctl.Delete(context.Background(), "a"); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	if _, err := os.Lstat(f.p(hostpath.Instance("a"))); !os.IsNotExist(err) {
		t.Fatalf("runtime/a still there: %v", err)
	}
	for _, p := range []string{victimFile, filepath.Join(outside, "dir", "f")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("Delete followed a symlink and removed %s: %v", p, err)
		}
	}
	f.wantCommands(t, sudoSys+"stop a")
	want := "Step: stopping server...\nStep: runtime overlay not mounted; nothing to unmount.\nStep: removing " + f.p(hostpath.Instance("a")) + "...\nDeleted a.\n"
	if f.stdout.String() != want {
		t.Fatalf("stdout = %q, want %q", f.stdout.String(), want)
	}
}

func TestStatusAndList(t *testing.T) {
	f := newFixture(t, map[string]runner.FakeResponse{
		sudoSys + "is-active a":     ok("active\n"),
		sudoSys + "is-active b":     {Stdout: "failed\n", Code: 3},
		sudoSys + "is-active ghost": {Stdout: "inactive\n", Code: 3},
		sudoSys + "list-units": ok("left4me-server@a.service loaded active running L4D2 a\n" +
			"left4me-server@b.service loaded failed failed L4D2 b\n" +
			"left4me-server@Bad.Name.service loaded active running forged\n"),
	})
	f.addInstance(t, "a")
	f.addInstance(t, "b")
	// Not instances: a file, a symlink, an invalid name.
	rt := f.p(hostpath.RuntimeDir)
	os.WriteFile(filepath.Join(rt, "file"), nil, 0o644)
	os.Symlink("a", filepath.Join(rt, "link"))
	os.Mkdir(filepath.Join(rt, "Bad.Name"), 0o755)

	ctx := context.Background()
	st, err := f.ctl.Status(ctx, "a")
	want := Status{Name: "a", Exists: true, Mounted: false, Unit: "left4me-server@a.service", State: "active"}
	if err != nil || st != want {
		t.Fatalf("Status(a) = %+v, %v; want %+v", st, err, want)
	}
	st, err = f.ctl.Status(ctx, "ghost")
	if !errors.Is(err, ErrNotFound) || st.Exists || st.State != "inactive" {
		t.Fatalf("Status(ghost) = %+v, %v; want not found, inactive", st, err)
	}
	list, err := f.ctl.List(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "a" || list[0].State != "active" || list[1].Name != "b" || list[1].State != "failed" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	f.fake.Calls = nil
	f.addInstance(t, "c") // not loaded: inactive
	list, err = f.ctl.List(ctx)
	if err != nil || len(list) != 3 || list[2].State != "inactive" {
		t.Fatalf("List = %+v, %v; want c inactive", list, err)
	}
	if got := f.fake.Commands(); len(got) != 1 || got[0] != sudoSys+"list-units" {
		t.Fatalf("List ran %q, want one list-units", got)
	}
}

// TestListCapped: many instance directories cost one systemd query, and
// list examines MaxList of them and counts the rest exactly.
func TestListCapped(t *testing.T) {
	f := newFixture(t, map[string]runner.FakeResponse{
		sudoSys + "list-units": ok("left4me-server@i0000.service loaded active running x\n"),
	})
	const n = 2000
	rt := f.p(hostpath.RuntimeDir)
	if err := os.MkdirAll(rt, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := os.Mkdir(filepath.Join(rt, fmt.Sprintf("i%04d", i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	list, err := f.ctl.List(context.Background())
	if !errors.Is(err, ErrTooManyInstances) || !strings.Contains(err.Error(), fmt.Sprintf("holds %d instance directories; list examined the first %d by name and not the other %d", n, MaxList, n-MaxList)) {
		t.Fatalf("List error = %v; want ErrTooManyInstances with the exact counts", err)
	}
	if len(list) != MaxList || list[0].Name != "i0000" || list[0].State != "active" || list[MaxList-1].Name != fmt.Sprintf("i%04d", MaxList-1) || list[1].State != "inactive" {
		t.Fatalf("List = %d entries, first %+v; want the first %d by name", len(list), list[0], MaxList)
	}
	if got := f.fake.Commands(); len(got) != 1 || got[0] != sudoSys+"list-units" {
		t.Fatalf("List ran %d commands (first %q), want one list-units", len(got), got[:min(len(got), 3)])
	}
}

func TestStatusUnknownState(t *testing.T) {
	f := newFixture(t, map[string]runner.FakeResponse{
		sudoSys + "is-active a": {Stderr: "sudo: a password is required", Code: 1},
	})
	f.addInstance(t, "a")
	st, err := f.ctl.Status(context.Background(), "a")
	if st.State != "unknown" || ExitCode(err) != ExitFailed || !strings.Contains(err.Error(), "a password is required") {
		t.Fatalf("Status = %+v, %v; want state unknown and the sudo error", st, err)
	}
}

func TestListEmpty(t *testing.T) {
	f := newFixture(t, nil)
	list, err := f.ctl.List(context.Background())
	if err != nil || list == nil || len(list) != 0 {
		t.Fatalf("List on an empty root = %#v, %v; want an empty, non-nil list", list, err)
	}
}

func TestLogsArgv(t *testing.T) {
	tests := []struct {
		o    LogOptions
		want string
	}{
		{LogOptions{}, sudoJournal + "a"},
		{LogOptions{Lines: 50}, sudoJournal + "a -n 50"},
		{LogOptions{Follow: true}, sudoJournal + "a -f"},
		{LogOptions{Lines: 10000, Follow: true}, sudoJournal + "a -n 10000 -f"},
	}
	for _, tt := range tests {
		f := newFixture(t, map[string]runner.FakeResponse{tt.want: ok("journal line\n")})
		if err := f.ctl.Logs(context.Background(), "a", tt.o); err != nil {
			t.Fatalf("Logs(%+v) = %v", tt.o, err)
		}
		f.wantCommands(t, tt.want)
		if f.stdout.String() != "journal line\n" {
			t.Fatalf("Logs stdout = %q, want the journal passed through", f.stdout.String())
		}
	}
	f := newFixture(t, nil)
	if err := f.ctl.Logs(context.Background(), "a", LogOptions{Lines: 10001}); ExitCode(err) != ExitUsage {
		t.Fatalf("Logs(-n 10001) = %v, want exit %d", err, ExitUsage)
	}
	f.wantCommands(t)
}

// fakeMounter is an overlayclient.Mounter for tests that must control what a
// mount does: it records calls and runs the given functions.
type fakeMounter struct {
	mu      sync.Mutex
	calls   []string
	mount   func(name string) error
	unmount func(name string) error
}

func (m *fakeMounter) Mount(_ context.Context, name string) error {
	m.mu.Lock()
	m.calls = append(m.calls, "mount "+name)
	m.mu.Unlock()
	if m.mount != nil {
		return m.mount(name)
	}
	return nil
}

func (m *fakeMounter) Unmount(_ context.Context, name string) error {
	m.mu.Lock()
	m.calls = append(m.calls, "umount "+name)
	m.mu.Unlock()
	if m.unmount != nil {
		return m.unmount(name)
	}
	return nil
}
