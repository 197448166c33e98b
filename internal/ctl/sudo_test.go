//go:build linux

package ctl

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/left4me/left4me-deploy/internal/gobuild"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/svchelper"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/sudoers"
	"golang.org/x/sys/unix"
)

// sudoersDropIn is this package's own sudoers file for its tests.
const sudoersDropIn = "/etc/sudoers.d/left4me-test-l4d2ctl"

// testUser is a throwaway Unix user (and its group) that stands in for
// left4me; removed when the test ends, even on failure.
type testUser struct {
	name     string
	uid, gid uint32
}

func newTestUser(t *testing.T) testUser {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := fmt.Sprintf("l4m-tct-%x", b)
	uid, gid := testenv.AddUser(t, name, "")
	return testUser{name: name, uid: uid, gid: gid}
}

// mountPrivate mounts in this test's namespace and unmounts at cleanup.
func mountPrivate(t *testing.T, source, target, fstype string, flags uintptr, data string) {
	t.Helper()
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		t.Fatalf("mount %s on %s (%s): %v", source, target, fstype, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(target, 0); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
		}
	})
}

// privateHostState gives this namespace (only) a /var/lib/left4me, which
// sudo'd helpers use whatever LEFT4ME_ROOT says: an overlay on /var/lib lets
// the directory be created without touching the machine's /var/lib, and
// state (a real directory, so it can be an upper) is bound onto it. /run
// gets a tmpfs so the overlay helper's lock dir stays in the namespace too.
func privateHostState(t *testing.T, state string) {
	t.Helper()
	scratch := t.TempDir()
	upper, work := filepath.Join(scratch, "upper"), filepath.Join(scratch, "work")
	mustMkdir(t, upper)
	mustMkdir(t, work)
	mountPrivate(t, "overlay", "/var/lib", "overlay", 0, "lowerdir=/var/lib,upperdir="+upper+",workdir="+work)
	mustMkdir(t, hostpath.StateDir)
	mountPrivate(t, state, hostpath.StateDir, "", unix.MS_BIND, "")
	mountPrivate(t, "tmpfs", "/run", "tmpfs", 0, "mode=0755,size=16m")
}

// TestRealSudo installs the project's rendered sudoers rules for a
// throwaway user and shows, through the real sudo, that the user can run
// the allowed helper verbs (and l4d2ctl end to end, mounting a real
// overlay) and nothing else: no other instance path, no other unit, no extra
// argument, no other command, no environment of its choosing.
func TestRealSudo(t *testing.T) {
	testenv.RequireNamespace(t)
	if _, err := exec.LookPath("visudo"); err != nil {
		t.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin")
	}
	sudo := testenv.RequireBinary(t, "sudo", "sudo")
	testenv.RequireBinary(t, "visudo", "sudo")
	u := newTestUser(t)

	// The helpers and their entry points, in a directory of their own as
	// on a host (the entry points name the helpers by absolute path).
	libexec, err := os.MkdirTemp("", "l4m-tct-libexec-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(libexec) })
	os.Chmod(libexec, 0o755)
	bin := map[string]string{}
	for _, n := range []string{"l4d2ctl", "left4me-overlay", "left4me-systemctl", "left4me-journalctl"} {
		bin[n] = filepath.Join(libexec, n)
		copyExecutable(t, gobuild.Binary(t, n), bin[n])
	}
	params := sudoers.Params{User: u.name, OverlayHelper: bin["left4me-overlay"],
		SystemctlHelper: bin["left4me-systemctl"], JournalHelper: bin["left4me-journalctl"]}
	for _, e := range sudoers.EntryPoints(params) {
		script, err := sudoers.Script(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.Path, script, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ov, sys := bin["left4me-overlay"], bin["left4me-systemctl"]
	rules, err := sudoers.Render(params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sudoersDropIn) })
	if _, err := sudoers.Install(context.Background(), runner.Exec{}, sudoersDropIn, rules); err != nil {
		t.Fatalf("install %s: %v", sudoersDropIn, err)
	}

	// The host layout, owned by the test user, in this namespace only.
	state := t.TempDir()
	privateHostState(t, state)
	for _, d := range []string{hostpath.InstallationDir, hostpath.Upper("a"), hostpath.Work("a"), hostpath.Merged("a")} {
		mustMkdir(t, d)
	}
	mustWrite(t, hostpath.InstallationDir+"/game.txt", "from the installation\n")
	mustWrite(t, hostpath.InstanceEnv("a"), "LOWERDIRS="+hostpath.InstallationDir+"\n")
	writeSentinel(t, hostpath.Root("/"))
	t.Cleanup(func() { unix.Unmount(hostpath.Merged("a"), unix.MNT_DETACH) })
	filepath.Walk(hostpath.StateDir, func(p string, _ os.FileInfo, _ error) error {
		return os.Lchown(p, int(u.uid), int(u.gid))
	})
	os.Chmod(hostpath.StateDir, 0o750)

	// No systemd runs here: stand-ins take the place of /usr/bin/systemctl
	// and /usr/bin/journalctl, which the helpers run under sudo whatever
	// the environment says.
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.log")
	sysStandIn, journalStandIn := writeStandIns(t, dir, log)
	mountPrivate(t, sysStandIn, svchelper.Systemctl, "", unix.MS_BIND, "")
	mountPrivate(t, journalStandIn, svchelper.Journalctl, "", unix.MS_BIND, "")
	calls := func() string {
		b, _ := os.ReadFile(log)
		os.Remove(log)
		return strings.TrimRight(string(b), "\n")
	}

	asUser := func(argv ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = "/"
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/", "LEFT4ME_SYSTEMCTL=/bin/false", "LEFT4ME_ROOT=/tmp"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid}}
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
			t.Fatalf("run %q as %s: %v", argv, u.name, err)
		}
		return cmd.ProcessState.ExitCode(), o.String(), e.String()
	}
	l4d2ctl := func(args ...string) (int, string, string) {
		t.Helper()
		return asUser(append([]string{bin["l4d2ctl"], "--root", "/", "--settle", "0s",
			"--overlay-helper", bin["left4me-overlay"],
			"--systemctl-helper", bin["left4me-systemctl"],
			"--journal-helper", bin["left4me-journalctl"]}, args...)...)
	}

	// l4d2ctl as the user, end to end through sudo -n.
	if code, out, errOut := l4d2ctl("start", "a"); code != 0 {
		t.Fatalf("l4d2ctl start a as %s = exit %d\nstdout: %s\nstderr: %s", u.name, code, out, errOut)
	}
	if got := mountsAt(t, hostpath.Merged("a")); len(got) != 1 || got[0] != "overlay" {
		t.Fatalf("mounts at merged after start through sudo = %q, want one overlay", got)
	}
	if b, err := os.ReadFile(hostpath.Merged("a") + "/game.txt"); err != nil || string(b) != "from the installation\n" {
		t.Fatalf("merged/game.txt = %q, %v", b, err)
	}
	if got, want := calls(), "systemctl reset-failed left4me-server@a.service\nsystemctl start left4me-server@a.service\nsystemctl show --property="+svchelper.ShowProperties+" left4me-server@a.service"; got != want {
		t.Fatalf("systemctl calls through sudo = %q, want %q", got, want)
	}
	code, out, errOut := l4d2ctl("status", "a", "--json")
	var st Status
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || !st.Mounted || st.State != "active" {
		t.Fatalf("status --json through sudo = exit %d, %q, %q", code, out, errOut)
	}
	calls()
	// list asks systemd once, through the list-units entry point (no
	// argument), which the per-verb rules grant like the others.
	if code, out, errOut := l4d2ctl("list", "--json"); code != 0 || !strings.Contains(out, `"a"`) {
		t.Fatalf("list --json through sudo = exit %d, %q, %q", code, out, errOut)
	}
	if got := calls(); !strings.HasPrefix(got, "systemctl list-units ") || strings.Contains(got, "\n") {
		t.Fatalf("systemctl calls of list through sudo = %q, want one list-units", got)
	}
	if code, out, errOut := l4d2ctl("logs", "a", "-n", "5"); code != 0 || !strings.Contains(out, "map c1m1_hotel") {
		t.Fatalf("logs through sudo = exit %d, %q, %q", code, out, errOut)
	}
	if got, want := calls(), "journalctl -u left4me-server@a.service --no-pager -n 5"; got != want {
		t.Fatalf("journalctl call through sudo = %q, want %q", got, want)
	}
	if code, out, errOut := l4d2ctl("stop", "a"); code != 0 || errOut != "" {
		t.Fatalf("stop through sudo = exit %d, %q, %q", code, out, errOut)
	}
	if got := mountsAt(t, hostpath.Merged("a")); len(got) != 0 {
		t.Fatalf("mounts at merged after stop through sudo = %q", got)
	}
	calls()

	// Every allowed systemctl verb, straight through sudo to its entry
	// point, reaches exactly systemctl VERB left4me-server@a.service.
	for _, verb := range svchelper.Verbs {
		asUser(sudo, "-n", sys+"-"+verb, "a")
		want := "systemctl " + verb + " left4me-server@a.service"
		if verb == "show" {
			want = "systemctl show --property=" + svchelper.ShowProperties + " left4me-server@a.service"
		}
		if got := calls(); got != want {
			t.Errorf("sudo left4me-systemctl-%s a ran %q, want %q", verb, got, want)
		}
	}
	// "start ssh" can only ever mean the instance named ssh.
	asUser(sudo, "-n", sys+"-start", "ssh")
	if got, want := calls(), "systemctl start left4me-server@ssh.service"; got != want {
		t.Errorf("sudo left4me-systemctl-start ssh ran %q, want %q", got, want)
	}

	// Refused by the entry points and the helpers (sudo grants the entry
	// points with any arguments; they and the helpers are the parser of
	// record): a failure exit with the reason, nothing run, nothing
	// mounted.
	refusedByHelper := []struct {
		argv []string
		want string
	}{
		{[]string{ov + "-mount", "../x"}, "invalid instance name"},
		{[]string{ov + "-mount", "a", "b"}, "want exactly one argument"},
		{[]string{ov + "-mount"}, "want exactly one argument"},
		{[]string{ov + "-umount", "/etc"}, "invalid instance name"},
		{[]string{sys + "-start", "ssh.service"}, "invalid instance name"},
		{[]string{sys + "-start", "a", "ssh"}, "want exactly one argument"},
		{[]string{sys + "-start", "a", "--no-block"}, "want exactly one argument"},
		{[]string{sys + "-stop", "--no-block"}, "invalid instance name"},
		{[]string{bin["left4me-journalctl"], "a", "-n", "0"}, "want a number of lines"},
		{[]string{bin["left4me-journalctl"], "a", "--file=/etc/shadow"}, `argument "--file=/etc/shadow" not allowed`},
		{[]string{bin["left4me-journalctl"], "a", "-u", "ssh.service"}, `argument "-u" not allowed`},
	}
	for _, tt := range refusedByHelper {
		code, _, errOut := asUser(append([]string{sudo, "-n"}, tt.argv...)...)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("sudo %q as %s = exit %d, %q; want a failure and %q", tt.argv, u.name, code, errOut, tt.want)
		}
		if got := calls(); got != "" {
			t.Errorf("sudo %q ran %q", tt.argv, got)
		}
	}
	if got := mountsAt(t, hostpath.Merged("a")); len(got) != 0 {
		t.Fatalf("refused calls left a mount: %q", got)
	}

	// Refused by sudo itself: other verbs of the overlay helper, other
	// programs, and environment the user would set.
	refusedBySudo := [][]string{
		{sudo, "-n", ov, "mount", "a"},
		{sudo, "-n", ov, "status", "a"},
		{sudo, "-n", ov},
		{sudo, "-n", sys, "start", "a"},
		{sudo, "-n", sys + "-enable", "a"},
		{sudo, "-n", "/usr/bin/systemctl", "start", "ssh"},
		{sudo, "-n", "/bin/sh", "-c", "id"},
		{sudo, "-n", bin["l4d2ctl"], "list"},
		{sudo, "-n", "LEFT4ME_ROOT=/tmp", ov + "-mount", "a"},
		{sudo, "-n", "LEFT4ME_SYSTEMCTL=/bin/sh", sys + "-start", "a"},
		{sudo, "-n", "-u", "nobody", sys + "-start", "a"},
	}
	for _, argv := range refusedBySudo {
		code, _, errOut := asUser(argv...)
		if code != 1 || !(strings.HasPrefix(errOut, "sudo: ") || strings.HasPrefix(errOut, "sudo-rs: ")) {
			t.Errorf("%q as %s = exit %d, %q; want sudo's refusal (exit 1)", argv, u.name, code, errOut)
		}
		if got := calls(); got != "" {
			t.Errorf("%q ran %q", argv, got)
		}
	}
	if got := mountsAt(t, hostpath.Merged("a")); len(got) != 0 {
		t.Fatalf("refused calls left a mount: %q", got)
	}

	// -E (keep the caller's environment): sudo 1.9 refuses it; sudo-rs 0.2.5
	// ignores it with a warning and runs the call with a reset environment.
	// Either way the caller's environment (LEFT4ME_SYSTEMCTL=/bin/false)
	// does not reach the helper: if the call runs, it runs systemctl.
	code, _, errOut = asUser(sudo, "-n", "-E", sys+"-start", "a")
	switch got := calls(); {
	case code == 1 && got == "":
	case code == 0 && got == "systemctl start left4me-server@a.service" && strings.Contains(errOut, "--preserve-env"):
		t.Logf("sudo -E: %s", strings.TrimSpace(errOut))
	default:
		t.Errorf("sudo -n -E %s-start a as %s = exit %d, %q, ran %q; want a refusal, or -E ignored and systemctl run", sys, u.name, code, errOut, got)
	}

	// delete as the user removes everything, including the kernel's
	// root-owned, mode 0 work/work the overlay left behind.
	if fi, err := os.Lstat(hostpath.Work("a") + "/work"); err != nil || fi.Mode().Perm() != 0 {
		t.Logf("work/work after the overlay was used: %v, %v", fi, err)
	}
	if code, out, errOut := l4d2ctl("delete", "a"); code != 0 || errOut != "" {
		t.Fatalf("delete as %s = exit %d, %q, %q", u.name, code, out, errOut)
	}
	if _, err := os.Lstat(hostpath.Instance("a")); !os.IsNotExist(err) {
		t.Fatalf("runtime/a after delete as %s: %v", u.name, err)
	}
	if _, err := os.Stat(hostpath.InstallationDir + "/game.txt"); err != nil {
		t.Fatalf("delete removed the installation's file: %v", err)
	}
}

// copyExecutable copies the program at src to dst, mode 0755.
func copyExecutable(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
