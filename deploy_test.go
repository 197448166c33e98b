//go:build linux

package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/internal/deploytest"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/service"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/overlay"
	"github.com/left4me/left4me-deploy/steps"
	"github.com/left4me/left4me-deploy/sudoers"
)

func baseOptions(t testing.TB, root, bin string) Options {
	return Options{Root: hostpath.Root(root), BinDir: bin, Runner: runner.Exec{}}
}

func apply(t testing.TB, o Options) *deploytest.Run {
	t.Helper()
	r := &deploytest.Run{}
	o.Emit = r.Emit
	r.Sum, r.Err = Apply(context.Background(), o)
	return r
}

// A second run on an unchanged tree reports changed=0 and leaves every
// file's bytes, owner, mode and mtime as they were.
func TestApplyIdempotent(t *testing.T) {
	deploytest.RequireTools(t)
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	first := apply(t, baseOptions(t, root, bin))
	if first.Err != nil || first.Sum.Changed == 0 {
		t.Fatalf("first apply: %v\n%s", first.Err, first)
	}
	before := deploytest.Snapshot(t, root)
	second := apply(t, baseOptions(t, root, bin))
	if second.Err != nil || second.Sum.Changed != 0 || second.Sum.Failed != 0 {
		t.Fatalf("second apply: %v, want changed=0\n%s", second.Err, second)
	}
	if d := deploytest.DiffSnapshots(before, deploytest.Snapshot(t, root)); len(d) > 0 {
		t.Fatalf("second apply touched the tree:\n%s", strings.Join(d, "\n"))
	}
	for _, b := range steps.Programs {
		fi, err := os.Stat(filepath.Join(root, b.Dest))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != 0o755 || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s is %v %d:%d, want 0755 root:root", b.Dest, fi.Mode(), st.Uid, st.Gid)
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, hostpath.SudoersFile)); fi.Mode() != 0o440 {
		t.Errorf("sudoers mode %v, want 0440", fi.Mode())
	}
}

// A --web-exec given once is kept by later runs that do not repeat it.
func TestWebExecIsKept(t *testing.T) {
	deploytest.RequireTools(t)
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	o := baseOptions(t, root, bin)
	o.WebExec = "/opt/web/bin/server --port 8080"
	if r := apply(t, o); r.Err != nil {
		t.Fatalf("apply --web-exec: %v\n%s", r.Err, r)
	}
	again := apply(t, baseOptions(t, root, bin))
	if again.Err != nil || again.Sum.Changed != 0 {
		t.Fatalf("apply without --web-exec after one with it: %v, want changed=0\n%s", again.Err, again)
	}
	unit, err := os.ReadFile(filepath.Join(root, hostpath.UnitDir, hostpath.WebUnit))
	if err != nil || !strings.Contains(string(unit), "\nExecStart=/opt/web/bin/server --port 8080\n") {
		t.Fatalf("web unit lost the ExecStart= given earlier (%v):\n%s", err, unit)
	}
	o.WebExec = artifacts.DefaultWebExec
	if r := apply(t, o); r.Err != nil || strings.Join(r.ChangedSteps(), ",") != "units" {
		t.Fatalf("apply --web-exec DEFAULT: %v, changed %v, want only units\n%s", r.Err, r.ChangedSteps(), r)
	}
}

// A file changed by hand is restored by the next run, and exactly the step
// that owns it reports changed.
func TestApplyRestoresHandEdit(t *testing.T) {
	deploytest.RequireTools(t)
	tests := []struct {
		name string
		edit func(root string) error
		step string
	}{
		{"sudoers line added", func(root string) error {
			return appendTo(filepath.Join(root, hostpath.SudoersFile), "left4me ALL=(ALL) NOPASSWD: ALL\n")
		}, "sudoers"},
		{"web unit edited", func(root string) error {
			return appendTo(filepath.Join(root, hostpath.UnitDir, hostpath.WebUnit), "[Service]\nNoNewPrivileges=true\n")
		}, "units"},
		{"helper replaced", func(root string) error {
			return os.WriteFile(filepath.Join(root, hostpath.OverlayHelper), []byte("#!/bin/sh\nexec /bin/sh\n"), 0o755)
		}, "binaries"},
		{"helper made group-writable", func(root string) error {
			return os.Chmod(filepath.Join(root, hostpath.JournalHelper), 0o775)
		}, "binaries"},
		{"state dir chmod", func(root string) error {
			return os.Chmod(filepath.Join(root, hostpath.RuntimeDir), 0o777)
		}, "directories"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, bin := t.TempDir(), deploytest.FakeBinDir(t)
			if r := apply(t, baseOptions(t, root, bin)); r.Err != nil {
				t.Fatalf("first apply: %v\n%s", r.Err, r)
			}
			clean := deploytest.Snapshot(t, root)
			if err := tt.edit(root); err != nil {
				t.Fatal(err)
			}
			r := apply(t, baseOptions(t, root, bin))
			if r.Err != nil {
				t.Fatalf("apply after edit: %v\n%s", r.Err, r)
			}
			if got := strings.Join(r.ChangedSteps(), ","); got != tt.step {
				t.Fatalf("changed steps %q, want exactly %q\n%s", got, tt.step, r)
			}
			after := deploytest.Snapshot(t, root)
			for k, v := range clean {
				if strings.HasPrefix("/"+k, steps.HistoryFile) {
					continue // the repair is a deploy that changed something: recorded
				}
				w := after[k]
				v.Mtime, w.Mtime = 0, 0
				if v != w {
					t.Errorf("%s not restored: %+v, want %+v", k, w, v)
				}
			}
		})
	}
}

func appendTo(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(s)
	return err
}

// A dry run changes nothing, and lists exactly the changes the real run
// then makes: same steps, same statuses, same reasons but for "would".
func TestDryRunListsWhatRealRunDoes(t *testing.T) {
	deploytest.RequireTools(t)
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	check := func(label string) {
		t.Helper()
		before := deploytest.Snapshot(t, root)
		o := baseOptions(t, root, bin)
		o.DryRun = true
		o.Diff = true
		dry := apply(t, o)
		if dry.Err != nil {
			t.Fatalf("%s: dry run: %v\n%s", label, dry.Err, dry)
		}
		if d := deploytest.DiffSnapshots(before, deploytest.Snapshot(t, root)); len(d) > 0 {
			t.Fatalf("%s: dry run changed the tree:\n%s", label, strings.Join(d, "\n"))
		}
		real := apply(t, baseOptions(t, root, bin))
		if real.Err != nil {
			t.Fatalf("%s: real run: %v\n%s", label, real.Err, real)
		}
		dm, rm := dry.ByStep(), real.ByStep()
		for step, re := range rm {
			de := dm[step]
			if step == "verify" {
				continue // a dry run has nothing installed to verify
			}
			if step == "migration" {
				// The migration words its own summary ("would migrate" /
				// "migrated"); the status must agree.
				if de.Status != re.Status {
					t.Errorf("%s: migration: dry run %s %q, real run %s %q", label, de.Status, de.Reason, re.Status, re.Reason)
				}
				continue
			}
			if de.Status != re.Status || strings.ReplaceAll(de.Reason, "would ", "") != strings.ReplaceAll(re.Reason, "would ", "") {
				t.Errorf("%s: step %s: dry run said %s %q, real run %s %q", label, step, de.Status, de.Reason, re.Status, re.Reason)
			}
		}
		if dry.Sum.Changed != real.Sum.Changed {
			t.Errorf("%s: dry run changed=%d, real run changed=%d", label, dry.Sum.Changed, real.Sum.Changed)
		}
	}
	check("fresh root")
	appendTo(filepath.Join(root, hostpath.SudoersFile), "# hand edit\n")
	os.Remove(filepath.Join(root, hostpath.L4d2ctl))
	check("after hand edits")
	check("unchanged")
}

// The dry run's --diff shows the unified diff of a hand-edited file.
func TestDiffShowsHandEdit(t *testing.T) {
	deploytest.RequireTools(t)
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	apply(t, baseOptions(t, root, bin))
	appendTo(filepath.Join(root, hostpath.SudoersFile), "# hand edit\n")
	o := baseOptions(t, root, bin)
	o.DryRun, o.Diff = true, true
	r := apply(t, o)
	var diffs []steps.Event
	for _, e := range r.Events {
		if e.Type == "diff" {
			diffs = append(diffs, e)
		}
	}
	if len(diffs) != 1 || diffs[0].Path != hostpath.SudoersFile || !strings.Contains(diffs[0].Diff, "-# hand edit") {
		t.Fatalf("diff events %+v, want one for %s removing the hand edit\n%s", diffs, hostpath.SudoersFile, r)
	}
}

// corruptingRunner breaks the file visudo is asked to check, so the real
// visudo rejects the rendered sudoers that is about to be installed.
type corruptingRunner struct{ runner.Exec }

func (c corruptingRunner) Run(ctx context.Context, cmd runner.Cmd) error {
	if strings.HasSuffix(cmd.Argv[0], "visudo") && len(cmd.Argv) == 4 {
		if err := os.WriteFile(cmd.Argv[3], []byte("left4me ALL=(root) NOPASSWD /broken\n"), 0o440); err != nil {
			return err
		}
	}
	return c.Exec.Run(ctx, cmd)
}

// A sudoers render that visudo rejects never replaces the valid installed
// file; the run fails at the sudoers step and runs nothing after it.
func TestBrokenSudoersNeverReplacesValid(t *testing.T) {
	deploytest.RequireTools(t)
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	// Two users that exist on no machine: the state dirs stay root's in
	// both runs, whether or not this machine has a left4me user.
	first := baseOptions(t, root, bin)
	first.User = "l4m-tin-first"
	if r := apply(t, first); r.Err != nil {
		t.Fatalf("first apply: %v\n%s", r.Err, r)
	}
	path := filepath.Join(root, hostpath.SudoersFile)
	good, _ := os.ReadFile(path)
	before := deploytest.Snapshot(t, root)

	o := baseOptions(t, root, bin)
	o.User = "l4m-tin-other" // the rules change, so the step must write
	o.Runner = corruptingRunner{}
	r := apply(t, o)
	if !errors.Is(r.Err, steps.ErrFailed) || r.Sum.Failed != 1 {
		t.Fatalf("apply with a broken render = %v, want failure\n%s", r.Err, r)
	}
	ev := r.ByStep()
	if ev["sudoers"].Status != steps.StatusFailed || !strings.Contains(ev["sudoers"].Reason, "visudo") {
		t.Fatalf("sudoers step %+v, want failed with visudo's complaint", ev["sudoers"])
	}
	for _, later := range []string{"units", "migration", "restart", "verify"} {
		if ev[later].Status != steps.StatusSkipped {
			t.Errorf("step %s after the failure: %s, want skipped", later, ev[later].Status)
		}
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, good) {
		t.Fatalf("installed sudoers replaced by a rejected render:\n%s", got)
	}
	// The temporary file came and went, so only the directory's mtime may
	// differ.
	after := deploytest.Snapshot(t, root)
	for k, e := range before {
		if e.Mode.IsDir() {
			e.Mtime = 0
			before[k] = e
			a := after[k]
			a.Mtime = 0
			after[k] = a
		}
	}
	if d := deploytest.DiffSnapshots(before, after); len(d) > 0 {
		t.Fatalf("failed run left changes (a temporary file?):\n%s", strings.Join(d, "\n"))
	}
}

func TestMissingBinaryIsNamed(t *testing.T) {
	deploytest.RequireTools(t)
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	os.Remove(filepath.Join(bin, "left4me-journalctl"))
	r := apply(t, baseOptions(t, root, bin))
	if r.Err == nil || !strings.Contains(r.Err.Error(), "binary left4me-journalctl is missing from "+bin) {
		t.Fatalf("apply without left4me-journalctl = %v", r.Err)
	}
	if ev := r.ByStep()["preflight"]; ev.Status != steps.StatusFailed {
		t.Fatalf("preflight %+v, want failed", ev)
	}
	for rel := range deploytest.Snapshot(t, root) {
		if rel != "." && rel != "run" && rel != strings.TrimPrefix(hostpath.DeployRunDir, "/") {
			t.Errorf("failed preflight left %s in the root", rel)
		}
	}
}

// Preflight reports every problem at once, and nothing runs after it.
func TestPreflightReportsEveryProblem(t *testing.T) {
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	o := baseOptions(t, root, bin)
	o.Live = &steps.Live{Services: true}
	o.Probe = &steps.Probe{
		Euid:          func() int { return 1000 },
		KernelRelease: func() (string, error) { return "5.4.0-old", nil },
		SystemdBooted: func() bool { return false },
		OverlayFS:     func(string) bool { return false },
		LookPath:      func(name string) (string, error) { return "", fmt.Errorf("%s: not found", name) },
		OSRelease:     func() ([]byte, error) { return []byte("ID=debian\n"), nil },
	}
	r := apply(t, o)
	if r.Err == nil {
		t.Fatal("apply with every problem = nil")
	}
	msg := r.Err.Error()
	for _, want := range []string{"not root (uid 1000)", "no overlay filesystem", "kernel too old for left4me-overlay: kernel 5.4.0-old", "systemd is not running", "systemd-analyze is missing", "sudo is missing", "visudo is missing"} {
		if !strings.Contains(msg, want) {
			t.Errorf("preflight error lacks %q:\n%s", want, msg)
		}
	}
	for step, e := range r.ByStep() {
		if step != "preflight" && e.Status != steps.StatusSkipped {
			t.Errorf("step %s ran after a failed preflight: %s", step, e.Status)
		}
	}
}

// A second deploy while one runs fails at once, naming the holder.
func TestLockNamesHolder(t *testing.T) {
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	lock, err := acquireLock(hostpath.Root(root), "left4me-deploy apply --local (first)")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.release()
	r := apply(t, baseOptions(t, root, bin))
	if !errors.Is(r.Err, ErrLocked) {
		t.Fatalf("apply under a held lock = %v, want ErrLocked", r.Err)
	}
	for _, want := range []string{fmt.Sprintf("pid %d", os.Getpid()), "user ", "started 20", "(first)"} {
		if !strings.Contains(r.Err.Error(), want) {
			t.Errorf("lock error %q lacks %q", r.Err, want)
		}
	}
	if len(r.Events) != 2 || r.Events[0].Step != "lock" || r.Events[1].Type != "summary" {
		t.Errorf("events %+v, want a failed lock step and a summary", r.Events)
	}
}

// A run that fails after changing what the web unit depends on leaves the
// restart pending; the next run restarts even though nothing changes then.
func TestPendingRestartSurvivesFailedRun(t *testing.T) {
	deploytest.RequireTools(t)
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	svc := &service.Recorder{Active: map[string]bool{hostpath.WebUnit: true}, FailRestart: true}
	o := baseOptions(t, root, bin)
	o.Live = &steps.Live{Services: true}
	o.Services = svc
	// A web app that exists in the root once the binaries are installed.
	o.WebExec = hostpath.L4d2ctl
	probe := steps.RealProbe()
	probe.SystemdBooted = func() bool { return true }
	o.Probe = probe
	// Migrated already: this test is about the restart alone.
	os.MkdirAll(filepath.Join(root, hostpath.StateDir), 0o750)
	os.WriteFile(filepath.Join(root, hostpath.Sentinel), nil, 0o644)

	r1 := apply(t, o)
	if r1.Err == nil || r1.ByStep()["restart"].Status != steps.StatusFailed {
		t.Fatalf("run 1 = %v, want the restart step to fail\n%s", r1.Err, r1)
	}
	want1 := "is-active var-lib-left4me.mount; daemon-reload; is-enabled left4me-web.service; enable left4me-web.service; " +
		"is-enabled var-lib-left4me.mount; is-active var-lib-left4me.mount; start var-lib-left4me.mount; restart left4me-web.service"
	if got := svc.Take(); got != want1 {
		t.Fatalf("run 1 service calls:\n %s\nwant\n %s", got, want1)
	}
	if _, err := os.Stat(filepath.Join(root, hostpath.PendingRestart)); err != nil {
		t.Fatalf("no pending restart recorded after the failed run: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(root, hostpath.DeployStateDir)); fi.Mode().Perm() != 0o700 {
		t.Fatalf("%s mode %v, want 0700", hostpath.DeployStateDir, fi.Mode())
	}

	svc.FailRestart = false
	r2 := apply(t, o)
	if r2.Err != nil {
		t.Fatalf("run 2: %v\n%s", r2.Err, r2)
	}
	if got := strings.Join(r2.ChangedSteps(), ","); got != "restart" {
		t.Fatalf("run 2 changed %q, want only the restart\n%s", got, r2)
	}
	if reason := r2.ByStep()["restart"].Reason; !strings.Contains(reason, "(earlier run)") {
		t.Fatalf("run 2 restart reason %q, want the earlier run's", reason)
	}
	if _, err := os.Stat(filepath.Join(root, hostpath.PendingRestart)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("pending restart still recorded after the restart: %v", err)
	}
	svc.Take()

	r3 := apply(t, o)
	if r3.Err != nil || r3.Sum.Changed != 0 {
		t.Fatalf("run 3: %v, want changed=0\n%s", r3.Err, r3)
	}
	if got := svc.Take(); got != "is-active var-lib-left4me.mount; is-enabled left4me-web.service; is-enabled var-lib-left4me.mount; is-active var-lib-left4me.mount; is-active left4me-web.service" {
		t.Fatalf("run 3 service calls %q, want only the queries", got)
	}
}

// Render writes exactly the installed files, root-owned 0755 helpers
// included, and touches nothing on the running system.
func TestRenderTree(t *testing.T) {
	deploytest.RequireTools(t)
	dir, bin := t.TempDir(), deploytest.FakeBinDir(t)
	var events []steps.Event
	sum, err := Render(context.Background(), dir, Options{BinDir: bin, Emit: func(e steps.Event) { events = append(events, e) }})
	if err != nil || sum.Failed != 0 {
		t.Fatalf("Render = %v %+v", err, sum)
	}
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, "/"+rel)
		}
		return nil
	})
	want := []string{hostpath.SudoersFile, hostpath.L4d2ctl, hostpath.UnitDir + "/" + hostpath.ServerUnit,
		hostpath.UnitDir + "/" + hostpath.WebUnit, hostpath.UnitDir + "/" + artifacts.StateMountUnit,
		hostpath.JournalHelper, hostpath.OverlayHelper, hostpath.SystemctlHelper, overlay.MaxMountsFile, hostpath.DeployTool}
	helpers := []string{hostpath.OverlayHelper, hostpath.SystemctlHelper, hostpath.JournalHelper}
	for _, e := range sudoers.EntryPoints(sudoers.Params{User: hostpath.User, OverlayHelper: hostpath.OverlayHelper,
		SystemctlHelper: hostpath.SystemctlHelper, JournalHelper: hostpath.JournalHelper}) {
		want = append(want, e.Path)
		helpers = append(helpers, e.Path)
	}
	sort.Strings(files)
	sort.Strings(want)
	if strings.Join(files, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rendered files:\n%s\nwant:\n%s", strings.Join(files, "\n"), strings.Join(want, "\n"))
	}
	for _, h := range helpers {
		fi, err := os.Stat(filepath.Join(dir, h))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != 0o755 || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("rendered %s is %v %d:%d, want 0755 root:root", h, fi.Mode(), st.Uid, st.Gid)
		}
	}
}

// Render without --web-exec writes the ExecStart= a deploy on the machine
// would install: the recorded one, not the installer's default.
func TestRenderUsesRecordedWebExec(t *testing.T) {
	deploytest.RequireTools(t)
	host, dir, bin := t.TempDir(), t.TempDir(), deploytest.FakeBinDir(t)
	const recorded = "/opt/web/bin/left4me-web --port 8080"
	if err := os.MkdirAll(filepath.Join(host, hostpath.DeployStateDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, hostpath.WebExecFile), []byte(recorded+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Render(context.Background(), dir, Options{Root: hostpath.Root(host), BinDir: bin}); err != nil {
		t.Fatalf("Render = %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, hostpath.UnitDir, hostpath.WebUnit))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nExecStart="+recorded+"\n") {
		t.Fatalf("rendered %s lacks ExecStart=%s:\n%s", hostpath.WebUnit, recorded, b)
	}
	if _, err := os.Stat(filepath.Join(dir, hostpath.WebExecFile)); err == nil {
		t.Errorf("Render wrote the installer's own %s into the tree", hostpath.WebExecFile)
	}
}

// The real thing on this machine: packages through apt-get and a real
// system user and group (a test name, removed afterwards), files into a
// throwaway root. Services stay out: this machine's PID 1 is not systemd.
func TestRealRunPackagesAndUser(t *testing.T) {
	deploytest.RequireTools(t)
	if _, err := exec.LookPath("apt-get"); err != nil {
		testenv.Skip(t, "needs apt-get (a Debian host): %v", err)
	}
	testenv.RequireBinary(t, "useradd", "passwd")
	const name = "l4m-tin-real"
	exec.Command("userdel", name).Run()
	exec.Command("groupdel", name).Run()
	t.Cleanup(func() {
		exec.Command("userdel", name).Run()
		exec.Command("groupdel", name).Run()
	})
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	o := baseOptions(t, root, bin)
	o.User = name
	o.Live = &steps.Live{Packages: true, Accounts: true}
	r1 := apply(t, o)
	if r1.Err != nil {
		t.Fatalf("real run: %v\n%s", r1.Err, r1)
	}
	if ev := r1.ByStep()["accounts"]; ev.Status != steps.StatusChanged || !strings.Contains(ev.Reason, "create system user "+name) {
		t.Fatalf("accounts step %+v, want the user created", ev)
	}
	out, err := exec.Command("getent", "passwd", name).Output()
	if err != nil || !strings.Contains(string(out), ":"+hostpath.StateDir+":/usr/sbin/nologin") {
		t.Fatalf("getent passwd %s = %q, %v", name, out, err)
	}
	uid := strings.Split(string(out), ":")[2]
	fi, _ := os.Stat(filepath.Join(root, hostpath.RuntimeDir))
	if got := fmt.Sprint(fi.Sys().(*syscall.Stat_t).Uid); got != uid || fi.Mode().Perm() != 0o750 {
		t.Fatalf("runtime dir owned by uid %s mode %v, want %s 0750", got, fi.Mode(), uid)
	}
	for _, p := range steps.DistroPackages("apt-get") {
		if out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Abbrev}", p).Output(); err != nil || !strings.HasPrefix(string(out), "ii") {
			t.Errorf("package %s not installed after the run: %q %v", p, out, err)
		}
	}
	r2 := apply(t, o)
	if r2.Err != nil || r2.Sum.Changed != 0 {
		t.Fatalf("second real run: %v, want changed=0\n%s", r2.Err, r2)
	}
	if ev := r2.ByStep()["packages"]; ev.Status != steps.StatusOK {
		t.Fatalf("packages step on the second run: %+v", ev)
	}
}

// Until the web app is installed its unit is not started, and the restart
// stays pending for the run that finds it.
func TestRestartWaitsForWebApp(t *testing.T) {
	deploytest.RequireTools(t)
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	svc := &service.Recorder{Active: map[string]bool{}, Enabled: true}
	o := baseOptions(t, root, bin)
	o.Live = &steps.Live{Services: true}
	o.Services = svc
	o.WebExec = "/opt/web/serve --port 8080"
	os.WriteFile(filepath.Join(root, hostpath.Sentinel), nil, 0o644) // no migration here
	probe := steps.RealProbe()
	probe.SystemdBooted = func() bool { return true }
	o.Probe = probe
	r1 := apply(t, o)
	if ev := r1.ByStep()["restart"]; r1.Err != nil || ev.Status != steps.StatusSkipped || !strings.Contains(ev.Reason, "web app /opt/web/serve is not installed") {
		t.Fatalf("restart without the web app: %v %+v\n%s", r1.Err, ev, r1)
	}
	if strings.Contains(svc.Take(), "restart") {
		t.Fatal("restarted a web unit whose program is missing")
	}
	os.MkdirAll(filepath.Join(root, "opt/web"), 0o755)
	os.WriteFile(filepath.Join(root, "opt/web/serve"), []byte("#!/bin/sh\n"), 0o755)
	r2 := apply(t, o)
	if got := strings.Join(r2.ChangedSteps(), ","); r2.Err != nil || got != "restart" {
		t.Fatalf("run with the web app: %v, changed %q\n%s", r2.Err, got, r2)
	}
	if !strings.Contains(svc.Take(), "restart left4me-web.service") {
		t.Fatal("web unit not restarted once its program exists")
	}
}

// An old unit of the same name in /etc/systemd/system would shadow ours;
// it is moved aside (kept for reference), once.
func TestShadowingUnitMovedAside(t *testing.T) {
	deploytest.RequireTools(t)
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	old := filepath.Join(root, hostpath.EtcUnitDir, hostpath.WebUnit)
	os.MkdirAll(filepath.Dir(old), 0o755)
	os.WriteFile(old, []byte("[Service]\nMountFlags=shared\nExecStart=/usr/bin/old-web\n"), 0o644)
	r1 := apply(t, baseOptions(t, root, bin))
	if r1.Err != nil || !strings.Contains(r1.ByStep()["units"].Reason, "move "+hostpath.EtcUnitDir+"/"+hostpath.WebUnit+", which shadows ours, to "+hostpath.ReplacedDir) {
		t.Fatalf("first run: %v\n%s", r1.Err, r1)
	}
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("shadowing unit still in place: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, hostpath.ReplacedDir, hostpath.WebUnit)); !bytes.Contains(b, []byte("MountFlags=shared")) {
		t.Fatalf("old unit not kept in %s: %q", hostpath.ReplacedDir, b)
	}
	if r2 := apply(t, baseOptions(t, root, bin)); r2.Err != nil || r2.Sum.Changed != 0 {
		t.Fatalf("second run: %v, want changed=0\n%s", r2.Err, r2)
	}
}
