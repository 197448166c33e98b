//go:build linux

package ctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/gobuild"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/svchelper"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"golang.org/x/sys/unix"
)

// Tests against the real components: the built l4d2ctl, the real
// left4me-overlay mounting kernel overlays (in this test binary's private
// PID+mount namespace, where the test is PID 1), the real left4me-systemctl,
// and a stand-in for /usr/bin/systemctl since no systemd runs here.

// realEnv is one state root with an installation layer and instance "a",
// the built binaries, and a systemctl stand-in that logs every call.
type realEnv struct {
	root    string
	bin     map[string]string
	standIn string // systemctl stand-in
	journal string // journalctl stand-in
	log     string // one line per stand-in call: its arguments
	dir     string // the stand-ins' directory; fail-start here makes start fail
}

func newRealEnv(t testing.TB) *realEnv {
	t.Helper()
	testenv.RequireNamespace(t)
	e := &realEnv{root: t.TempDir(), dir: t.TempDir(), bin: map[string]string{}}
	for _, n := range []string{"l4d2ctl", "left4me-overlay", "left4me-systemctl", "left4me-journalctl"} {
		e.bin[n] = gobuild.Binary(t, n)
	}
	e.log = filepath.Join(e.dir, "calls.log")
	e.standIn, e.journal = writeStandIns(t, e.dir, e.log)
	r := hostpath.Root(e.root)
	mustMkdir(t, r.Join(hostpath.InstallationDir))
	mustWrite(t, filepath.Join(r.Join(hostpath.InstallationDir), "game.txt"), "from the installation\n")
	writeSentinel(t, r)
	e.addInstance(t, "a")
	return e
}

// writeSentinel marks the state root under r as migrated to the kernel
// format, as left4me-deploy does: left4me-overlay mounts nothing without it.
func writeSentinel(t testing.TB, r hostpath.Root) {
	t.Helper()
	mustWrite(t, r.Join(hostpath.Sentinel), "converted to kernel overlayfs\n")
}

func (e *realEnv) addInstance(t testing.TB, name string) {
	t.Helper()
	r := hostpath.Root(e.root)
	for _, d := range []string{hostpath.Upper(name), hostpath.Work(name), hostpath.Merged(name)} {
		mustMkdir(t, r.Join(d))
	}
	mustWrite(t, r.Join(hostpath.InstanceEnv(name)), "LOWERDIRS="+hostpath.InstallationDir+"\n")
	t.Cleanup(func() { unix.Unmount(r.Join(hostpath.Merged(name)), unix.MNT_DETACH) })
}

// writeStandIns writes stand-ins for systemctl and journalctl with their
// paths baked in (left4me-systemctl gives them a clean environment). The
// systemctl one answers like a unit that starts, unless DIR/fail-start
// exists; then it fails the way systemd does and status shows why.
func writeStandIns(t testing.TB, dir, log string) (systemctl, journalctl string) {
	t.Helper()
	systemctl = filepath.Join(dir, "systemctl")
	mustWriteMode(t, systemctl, `#!/bin/sh
echo "systemctl $*" >> `+log+`
case "$1" in
start)
	if [ -e `+dir+`/fail-start ]; then
		echo "Job for $2 failed because the control process exited with error code." >&2
		exit 1
	fi ;;
is-active)
	if [ -e `+dir+`/fail-start ]; then echo failed; exit 3; fi
	echo active ;;
show)
	if [ -e `+dir+`/crash-loop ]; then
		printf 'ActiveState=activating\nSubState=auto-restart\nNRestarts=1\nResult=exit-code\nExecMainCode=1\nExecMainStatus=1\n'
	else
		printf 'ActiveState=active\nSubState=running\nNRestarts=0\nResult=success\nExecMainCode=0\nExecMainStatus=0\n'
	fi ;;
status)
	echo "x $2 - Left 4 Dead 2 server"
	echo "     Active: failed (Result: exit-code)"
	echo "    Process: 42 ExecStart=/srv/srcds_run (code=exited, status=200/CHDIR)"
	exit 3 ;;
esac
exit 0
`, 0o755)
	journalctl = filepath.Join(dir, "journalctl")
	mustWriteMode(t, journalctl, "#!/bin/sh\necho \"journalctl $*\" >> "+log+"\necho 'Nov 26 20:00:00 host srcds[42]: map c1m1_hotel'\n", 0o755)
	return systemctl, journalctl
}

// l4d2ctl runs the built l4d2ctl with the helpers run directly (as root, no
// sudo) on e's root.
func (e *realEnv) l4d2ctl(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	argv := append([]string{"--no-sudo", "--root", e.root,
		"--overlay-helper", e.bin["left4me-overlay"],
		"--systemctl-helper", e.bin["left4me-systemctl"],
		"--journal-helper", e.bin["left4me-journalctl"]}, args...)
	cmd := exec.Command(e.bin["l4d2ctl"], argv...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", hostpath.RootEnv + "=" + e.root, "L4D2CTL_SETTLE=0s",
		"LEFT4ME_SYSTEMCTL=" + e.standIn, "LEFT4ME_JOURNALCTL=" + e.journal}
	var o, s bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &s
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("run l4d2ctl: %v", err)
	}
	return cmd.ProcessState.ExitCode(), o.String(), s.String()
}

func (e *realEnv) merged(name string) string {
	return hostpath.Root(e.root).Join(hostpath.Merged(name))
}

func (e *realEnv) calls(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(e.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

// mountsAt returns the file-system types mounted exactly at path, from
// /proc/self/mountinfo, bottom first.
func mountsAt(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var types []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[4] != path {
			continue
		}
		for i, fl := range fields {
			if fl == "-" && i+1 < len(fields) {
				types = append(types, fields[i+1])
			}
		}
	}
	return types
}

func TestRealStartStop(t *testing.T) {
	e := newRealEnv(t)
	merged := e.merged("a")

	code, out, errOut := e.l4d2ctl(t, "start", "a")
	if code != 0 {
		t.Fatalf("l4d2ctl start a = exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if want := "Step: mounting runtime overlay...\nStep: starting server...\nStarted left4me-server@a.service.\n"; out != want {
		t.Fatalf("start stdout = %q, want %q", out, want)
	}
	if got := mountsAt(t, merged); len(got) != 1 || got[0] != "overlay" {
		t.Fatalf("mounts at merged after start = %q, want one overlay", got)
	}
	if b, err := os.ReadFile(filepath.Join(merged, "game.txt")); err != nil || string(b) != "from the installation\n" {
		t.Fatalf("merged/game.txt = %q, %v; want the installation's file", b, err)
	}
	if got, want := strings.Join(e.calls(t), "\n"), "systemctl reset-failed left4me-server@a.service\nsystemctl start left4me-server@a.service\nsystemctl show --property="+svchelper.ShowProperties+" left4me-server@a.service"; got != want {
		t.Fatalf("systemctl calls = %q, want %q", got, want)
	}

	// status --json sees the mount and the unit.
	code, out, _ = e.l4d2ctl(t, "status", "a", "--json")
	var st Status
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || !st.Mounted || !st.Exists || st.State != "active" {
		t.Fatalf("status --json = exit %d, %q (%v)", code, out, err)
	}

	// The double-mount guard: refused before any mount, the exact message,
	// no helper call at all, still exactly one overlay.
	before := len(e.calls(t))
	code, out, errOut = e.l4d2ctl(t, "start", "a")
	want := "l4d2ctl: runtime overlay already mounted at " + merged + "; refusing to double-mount\n"
	if code != ExitRefused || errOut != want || out != "" {
		t.Fatalf("second start = exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errOut, ExitRefused, want)
	}
	if n := len(e.calls(t)); n != before {
		t.Fatalf("second start ran systemctl: %q", e.calls(t)[before:])
	}
	if got := mountsAt(t, merged); len(got) != 1 {
		t.Fatalf("mounts at merged after second start = %q, want one", got)
	}

	code, out, errOut = e.l4d2ctl(t, "stop", "a")
	if want := "Step: stopping server...\nStep: unmounting runtime overlay...\nStopped a.\n"; code != 0 || out != want || errOut != "" {
		t.Fatalf("stop = exit %d, %q, %q; want 0, %q", code, out, errOut, want)
	}
	if got := mountsAt(t, merged); len(got) != 0 {
		t.Fatalf("mounts at merged after stop = %q, want none", got)
	}
	// Stop again: nothing to do, still exit 0.
	code, out, errOut = e.l4d2ctl(t, "stop", "a")
	if want := "Step: stopping server...\nStep: runtime overlay not mounted; nothing to unmount.\nStopped a.\n"; code != 0 || out != want || errOut != "" {
		t.Fatalf("second stop = exit %d, %q, %q; want 0, %q", code, out, errOut, want)
	}
}

func TestRealStartFailureUnmounts(t *testing.T) {
	e := newRealEnv(t)
	mustWrite(t, filepath.Join(e.dir, "fail-start"), "")
	code, out, errOut := e.l4d2ctl(t, "start", "a")
	if code != ExitFailed {
		t.Fatalf("start with a failing unit = exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitFailed, out, errOut)
	}
	for _, w := range []string{"start left4me-server@a.service", "Job for left4me-server@a.service failed", "status=200/CHDIR"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr %q lacks %q", errOut, w)
		}
	}
	if !strings.HasSuffix(out, "Step: start failed; unmounting runtime overlay...\n") {
		t.Errorf("stdout = %q, want the unmount step last", out)
	}
	if got := mountsAt(t, e.merged("a")); len(got) != 0 {
		t.Fatalf("mounts at merged after the failed start = %q, want none", got)
	}
}

// TestRealStartCrashLoop: a unit that went into its restart loop right
// after the start is a failed start: exit 1 with the unit's state and its
// last journal lines, the unit stopped, the overlay unmounted.
func TestRealStartCrashLoop(t *testing.T) {
	e := newRealEnv(t)
	mustWrite(t, filepath.Join(e.dir, "crash-loop"), "")
	code, out, errOut := e.l4d2ctl(t, "start", "a")
	if code != ExitFailed {
		t.Fatalf("start of a crash-looping unit = exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitFailed, out, errOut)
	}
	for _, w := range []string{"the server exits after it starts: activating (auto-restart), restarted 1 times", "last 1 journal lines of the unit:", "map c1m1_hotel"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr %q lacks %q", errOut, w)
		}
	}
	if want := "Step: mounting runtime overlay...\nStep: starting server...\nStep: start failed; stopping server...\nStep: start failed; unmounting runtime overlay...\n"; out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
	calls := strings.Join(e.calls(t), "\n")
	for _, w := range []string{"journalctl -u left4me-server@a.service --no-pager -n 15", "systemctl stop left4me-server@a.service"} {
		if !strings.Contains(calls, w) {
			t.Errorf("calls %q lack %q", calls, w)
		}
	}
	if got := mountsAt(t, e.merged("a")); len(got) != 0 {
		t.Fatalf("mounts at merged after the failed start = %q, want none", got)
	}
}

// TestRealStartBeforeMigration: on a host where the migration has not run,
// start mounts nothing, starts no unit, and passes on the helper's reason
// with the command that fixes it.
func TestRealStartBeforeMigration(t *testing.T) {
	e := newRealEnv(t)
	if err := os.Remove(hostpath.Root(e.root).Join(hostpath.Sentinel)); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := e.l4d2ctl(t, "start", "a")
	if code != ExitFailed {
		t.Fatalf("start before the migration = exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitFailed, out, errOut)
	}
	for _, w := range []string{hostpath.Sentinel + " does not exist", "run `left4me-deploy migrate`"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr %q lacks %q", errOut, w)
		}
	}
	if got := e.calls(t); len(got) != 0 {
		t.Errorf("systemctl called: %q", got)
	}
	if got := mountsAt(t, e.merged("a")); len(got) != 0 {
		t.Fatalf("mounts at merged = %q, want none", got)
	}
}

// holdBusy keeps a process with its working directory in dir, so that the
// mount there cannot be unmounted; the returned func releases it.
func holdBusy(t testing.TB, dir string) func() {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	release := func() {
		if !done {
			done = true
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	t.Cleanup(release)
	return release
}

func TestRealStopAfterFailedUnmount(t *testing.T) {
	e := newRealEnv(t)
	if code, out, errOut := e.l4d2ctl(t, "start", "a"); code != 0 {
		t.Fatalf("start = exit %d: %s %s", code, out, errOut)
	}
	release := holdBusy(t, e.merged("a"))
	code, out, errOut := e.l4d2ctl(t, "stop", "a")
	if code != 0 {
		t.Fatalf("stop with a busy mount = exit %d, want 0 (a warning)\nstderr: %s", code, errOut)
	}
	for _, w := range []string{"l4d2ctl: warning: unmount runtime overlay at " + e.merged("a"), "busy", "l4d2ctl: warning: runtime overlay still mounted at " + e.merged("a")} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stop stderr %q lacks %q", errOut, w)
		}
	}
	if !strings.Contains(out, "Step: unmounting runtime overlay...\n") {
		t.Errorf("stop stdout = %q", out)
	}
	if got := mountsAt(t, e.merged("a")); len(got) != 1 {
		t.Fatalf("mounts after the failed unmount = %q, want the overlay still there", got)
	}
	release()
	if code, _, errOut := e.l4d2ctl(t, "stop", "a"); code != 0 || errOut != "" {
		t.Fatalf("stop after release = exit %d, %q", code, errOut)
	}
	if got := mountsAt(t, e.merged("a")); len(got) != 0 {
		t.Fatalf("mounts after the second stop = %q, want none", got)
	}
}

// TestRealDeleteStillMounted: while merged cannot be unmounted, delete
// removes nothing at all (not under merged, not beside it) and says why;
// once released, delete removes the instance.
func TestRealDeleteStillMounted(t *testing.T) {
	e := newRealEnv(t)
	if code, out, errOut := e.l4d2ctl(t, "start", "a"); code != 0 {
		t.Fatalf("start = exit %d: %s %s", code, out, errOut)
	}
	merged := e.merged("a")
	mustWrite(t, filepath.Join(merged, "save.dat"), "progress") // lands in upper
	inst := hostpath.Root(e.root).Join(hostpath.Instance("a"))
	before := listTree(t, inst)
	release := holdBusy(t, merged)

	code, out, errOut := e.l4d2ctl(t, "delete", "a")
	if code != ExitRefused {
		t.Fatalf("delete with merged busy = exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitRefused, out, errOut)
	}
	if !strings.Contains(errOut, merged+" is still mounted; refusing to delete "+inst+" (nothing removed") {
		t.Fatalf("delete stderr = %q", errOut)
	}
	if after := listTree(t, inst); after != before {
		t.Fatalf("delete removed something:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	for _, p := range []string{filepath.Join(merged, "game.txt"), filepath.Join(merged, "save.dat")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s gone after the refused delete: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(hostpath.Root(e.root).Join(hostpath.InstallationDir), "game.txt")); err != nil {
		t.Fatalf("installation file gone: %v", err)
	}

	release()
	code, out, errOut = e.l4d2ctl(t, "delete", "a")
	if code != 0 || errOut != "" {
		t.Fatalf("delete after release = exit %d, %q, %q", code, out, errOut)
	}
	if _, err := os.Lstat(inst); !os.IsNotExist(err) {
		t.Fatalf("%s still there after delete: %v", inst, err)
	}
	if _, err := os.Stat(filepath.Join(hostpath.Root(e.root).Join(hostpath.InstallationDir), "game.txt")); err != nil {
		t.Fatalf("delete removed the installation's file: %v", err)
	}
	// And again: a missing instance is a no-op.
	if code, out, _ := e.l4d2ctl(t, "delete", "a"); code != 0 || !strings.Contains(out, "does not exist; nothing to delete") {
		t.Fatalf("second delete = exit %d, %q", code, out)
	}
}

// TestGuardSymlinkGames: the guard looks at merged itself, never through a
// symlink, and refuses only a real mount point there.
func TestGuardSymlinkGames(t *testing.T) {
	e := newRealEnv(t)
	merged := e.merged("a")
	// merged swapped for a symlink to a mount point: not "mounted" (the
	// link is not one), so l4d2ctl asks the helper, which refuses it.
	os.Remove(merged)
	if err := os.Symlink("/proc", merged); err != nil {
		t.Fatal(err)
	}
	procBefore := mountsAt(t, "/proc")
	code, _, errOut := e.l4d2ctl(t, "start", "a")
	if code != ExitFailed || strings.Contains(errOut, "double-mount") || !strings.Contains(errOut, "refused /var/lib/left4me/runtime/a/merged") {
		t.Fatalf("start with merged -> /proc = exit %d, %q; want the helper's symlink refusal", code, errOut)
	}
	if got := mountsAt(t, "/proc"); len(got) != len(procBefore) {
		t.Fatalf("mounts at /proc = %q, want %q as before", got, procBefore)
	}
	if n := len(e.calls(t)); n != 0 {
		t.Fatalf("systemctl ran after a refused mount: %q", e.calls(t))
	}
	// merged a real directory with something else mounted on it (a tmpfs):
	// refused before any helper runs.
	os.Remove(merged)
	mustMkdir(t, merged)
	if err := unix.Mount("tmpfs", merged, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	code, _, errOut = e.l4d2ctl(t, "start", "a")
	if code != ExitRefused || !strings.Contains(errOut, "refusing to double-mount") {
		t.Fatalf("start on a tmpfs-mounted merged = exit %d, %q", code, errOut)
	}
	if got := mountsAt(t, merged); len(got) != 1 || got[0] != "tmpfs" {
		t.Fatalf("mounts at merged = %q, want only the tmpfs", got)
	}
}

// TestDeleteNeverEntersDeeperMount: a mount point deeper in the instance
// (here upper/sub) stops the removal walk there; what is mounted survives.
func TestDeleteNeverEntersDeeperMount(t *testing.T) {
	e := newRealEnv(t)
	sub := filepath.Join(hostpath.Root(e.root).Join(hostpath.Upper("a")), "deep", "sub")
	mustMkdir(t, sub)
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	mustWrite(t, filepath.Join(sub, "keep"), "x")
	code, _, errOut := e.l4d2ctl(t, "delete", "a")
	if code != ExitFailed || !strings.Contains(errOut, sub+": is a mount point; refusing to remove through it") {
		t.Fatalf("delete with a mount below upper = exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(sub, "keep")); err != nil {
		t.Fatalf("delete removed a file inside a mount: %v", err)
	}
}

// listTree returns every path below dir with its type, one per line.
func listTree(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(strings.TrimPrefix(p, dir) + " " + fi.Mode().String() + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func mustMkdir(t testing.TB, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t testing.TB, p, s string) { t.Helper(); mustWriteMode(t, p, s, 0o644) }

func mustWriteMode(t testing.TB, p, s string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
}

// TestDoubleMountGuardIssuesNoMount is the guard at the unit level: with
// something mounted on merged, Start returns the exact refusal and neither
// the Mounter nor the runner is called.
func TestDoubleMountGuardIssuesNoMount(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t, nil)
	f.addInstance(t, "a")
	m := &fakeMounter{}
	f.ctl.Mounter = m
	merged := f.p(hostpath.Merged("a"))
	if err := unix.Mount("tmpfs", merged, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })
	err := f.ctl.Start(context.Background(), "a")
	want := "runtime overlay already mounted at " + merged + "; refusing to double-mount"
	if err == nil || err.Error() != want || ExitCode(err) != ExitRefused {
		t.Fatalf("Start = %v, want %q (exit %d)", err, want, ExitRefused)
	}
	if len(m.calls) != 0 {
		t.Fatalf("Mounter called: %q", m.calls)
	}
	f.wantCommands(t)
	if f.stdout.Len() != 0 {
		t.Fatalf("stdout = %q, want no step", f.stdout.String())
	}
}
