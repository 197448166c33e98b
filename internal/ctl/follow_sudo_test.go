//go:build linux

package ctl

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/left4me/left4me-deploy/internal/gobuild"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/svchelper"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/sudoers"
	"golang.org/x/sys/unix"
)

// gone reports whether pid has ended (no such process, or a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

// waitFor polls cond until it holds or ctx ends; it reports whether it held.
func waitFor(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// TestRealSudoFollowEndsWithCaller: through the real sudo and the rendered
// rule, the left4me user follows a journal, and its sudo is killed with
// SIGKILL. Root's journalctl must end too. A stand-in that never ends
// replaces /usr/bin/journalctl in this namespace. Two callers: one without
// a terminal (no hang-up reaches anyone), and one on a terminal of its own
// with sudo's use_pty, where sudo runs the helper under a monitor process
// of its own on a new pty, so the helper's parent is not the sudo that was
// killed; the caller keeps its terminal open, so no hang-up comes from it.
func TestRealSudoFollowEndsWithCaller(t *testing.T) {
	for _, tc := range []struct {
		name   string
		usePty bool
	}{{"no terminal", false}, {"terminal, use_pty", true}} {
		t.Run(tc.name, func(t *testing.T) { followEndsWithCaller(t, tc.usePty) })
	}
}

func followEndsWithCaller(t *testing.T, usePty bool) {
	testenv.RequireNamespace(t)
	if _, err := exec.LookPath("visudo"); err != nil {
		t.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin")
	}
	sudo := testenv.RequireBinary(t, "sudo", "sudo")
	testenv.RequireBinary(t, "visudo", "sudo")
	u := newTestUser(t)
	jBin := gobuild.Binary(t, "left4me-journalctl")
	rules, err := sudoers.Render(sudoers.Params{User: u.name, OverlayHelper: "/usr/local/libexec/left4me/left4me-overlay",
		SystemctlHelper: "/usr/local/libexec/left4me/left4me-systemctl", JournalHelper: jBin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sudoersDropIn) })
	if usePty {
		// Debian's /etc/sudoers has "Defaults use_pty"; say it here too,
		// for this user only, so the case does not depend on the machine.
		rules = append(rules, []byte("Defaults:"+u.name+" use_pty\n")...)
	}
	if _, err := sudoers.Install(context.Background(), runner.Exec{}, sudoersDropIn, rules); err != nil {
		t.Fatalf("install %s: %v", sudoersDropIn, err)
	}
	mountPrivate(t, "tmpfs", "/run", "tmpfs", 0, "mode=0755,size=16m")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	pidFile := filepath.Join(dir, "pid")
	standIn := filepath.Join(dir, "journalctl")
	mustWriteMode(t, standIn, "#!/bin/sh\necho $$ > "+pidFile+"\nexec sleep 100000\n", 0o755)
	mountPrivate(t, standIn, svchelper.Journalctl, "", unix.MS_BIND, "")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.Command(sudo, "-n", jBin, "a", "-f")
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid}, Setsid: true}
	if usePty {
		tty := openPty(t, u.uid)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = true, 0
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if !waitFor(ctx, func() bool {
		b, err := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	}) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the follow never started root's journalctl")
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	// The stand-in's parent is the helper; the helper's parent is the sudo
	// started here, or with use_pty sudo's monitor: check the case is the
	// one named.
	if caller := parentOf(parentOf(pid)); (caller == cmd.Process.Pid) == usePty {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the helper's parent is pid %d, sudo is pid %d: with use_pty=%v they should %s", caller, cmd.Process.Pid, usePty,
			map[bool]string{true: "differ (sudo's monitor)", false: "be the same"}[usePty])
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !waitFor(ctx, func() bool { return gone(pid) }) {
		t.Fatalf("root's journalctl (pid %d) still runs after its caller's sudo was killed", pid)
	}
	// Nothing the follow started stays behind: sudo's monitor (use_pty)
	// and the helper end too.
	if !waitFor(ctx, func() bool { return len(processesOf(u.uid)) == 0 }) {
		t.Fatalf("after the follow ended, processes of its caller's user remain: %v", processesOf(u.uid))
	}
}

// processesOf lists the live processes whose real uid is uid, as
// "PID NAME".
func processesOf(uid uint32) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || gone(pid) {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		var name string
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "Name:"); ok {
				name = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(l, "Uid:"); ok {
				if f := strings.Fields(v); len(f) > 0 && f[0] == strconv.Itoa(int(uid)) {
					out = append(out, e.Name()+" "+name)
				}
			}
		}
	}
	return out
}

// TestFollowLifetime: a follow ends at its lifetime cap, with the reason.
func TestFollowLifetime(t *testing.T) {
	testenv.RequireNamespace(t)
	jBin := gobuild.Binary(t, "left4me-journalctl")
	dir := t.TempDir()
	standIn := filepath.Join(dir, "journalctl")
	mustWriteMode(t, standIn, "#!/bin/sh\nexec sleep 100000\n", 0o755)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "/bin/sh", "-c", jBin+" a -f; :")
	c.Env = []string{"PATH=/usr/bin:/bin", svchelper.JournalctlEnv + "=" + standIn,
		svchelper.FollowDirEnv + "=" + filepath.Join(dir, "slots"), svchelper.FollowLifetimeEnv + "=1s"}
	out, _ := c.CombinedOutput()
	if ctx.Err() != nil || !strings.Contains(string(out), "follow ended after 1s") {
		t.Fatalf("follow with a 1s lifetime = %q (context: %v)", out, ctx.Err())
	}
}

// TestFollowCap: follows beyond the host-wide cap are refused with a clear
// error while the others run; once one ends, its slot is free again.
func TestFollowCap(t *testing.T) {
	testenv.RequireNamespace(t)
	jBin := gobuild.Binary(t, "left4me-journalctl")
	dir := t.TempDir()
	standIn := filepath.Join(dir, "journalctl")
	mustWriteMode(t, standIn, "#!/bin/sh\necho started >&2\nexec sleep 100000\n", 0o755)
	env := []string{"PATH=/usr/bin:/bin", svchelper.JournalctlEnv + "=" + standIn,
		svchelper.FollowDirEnv + "=" + filepath.Join(dir, "slots"), svchelper.MaxFollowsEnv + "=2"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var running []*exec.Cmd
	var outs []*strings.Builder
	t.Cleanup(func() {
		for _, c := range running {
			c.Process.Kill()
			c.Wait()
		}
	})
	for range 2 {
		c := exec.Command(jBin, "a", "-f")
		c.Env = env
		var b strings.Builder
		c.Stderr = &b
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		running, outs = append(running, c), append(outs, &b)
	}
	third := func() string {
		c := exec.CommandContext(ctx, jBin, "b", "-f")
		c.Env = append(append([]string{}, env...), svchelper.FollowLifetimeEnv+"=1s")
		out, _ := c.CombinedOutput()
		return string(out)
	}
	// Wait until the two hold their slots: flocks on the slot files'
	// inodes in /proc/locks (looking takes no lock a helper could meet).
	held := func(slot string) bool {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(dir, "slots", slot), &st) != nil {
			return false
		}
		b, _ := os.ReadFile("/proc/locks")
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) >= 6 && f[1] == "FLOCK" && strings.HasSuffix(f[5], ":"+strconv.FormatUint(st.Ino, 10)) {
				return true
			}
		}
		return false
	}
	if !waitFor(ctx, func() bool { return held("slot-0") && held("slot-1") }) {
		t.Fatalf("the two follows never held their slots: %q, %q", outs[0].String(), outs[1].String())
	}
	if out := third(); !strings.Contains(out, "left4me-journalctl: 2 follows (-f) are running on this host already, the most there may be at once") {
		t.Fatalf("a third follow beyond a cap of 2: %q; want it refused", out)
	}
	running[0].Process.Kill()
	running[0].Wait()
	if out := third(); !strings.Contains(out, "follow ended after 1s") {
		t.Fatalf("a follow after one of the two ended = %q; want it to run (until its 1s lifetime)", out)
	}
}

// openPty opens a new pseudo-terminal and returns its terminal side, owned
// by uid. Its controller side stays open until the test ends (what is
// written to the terminal is never read: the test writes little).
func openPty(t *testing.T, uid uint32) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		testenv.Skip(t, "no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	name := "/dev/pts/" + strconv.Itoa(int(n))
	if err := os.Chown(name, int(uid), -1); err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}

// parentOf is pid's parent, or 0.
func parentOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}
