//go:build linux

package overlay

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/sudoers"
)

// listTree lists every path below dir, for comparisons.
func listTree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestInventedNamesLeaveNothing: umount (and mount) of names that exist
// nowhere create nothing, so a caller cannot fill a file system with lock
// state by inventing names.
func TestInventedNamesLeaveNothing(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	before := listTree(t, f.root)
	for i := range 1000 {
		verb := "umount"
		if i%10 == 0 {
			verb = "mount"
		}
		out, errs, code := f.helper(f.helperEnv(), verb, fmt.Sprintf("zz%d", i))
		want := 0
		if verb == "mount" {
			want = 1
		}
		if code != want {
			t.Fatalf("%s zz%d = exit %d, %q %q", verb, i, code, out, errs)
		}
	}
	after := listTree(t, f.root)
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Fatalf("1000 calls for invented names changed the tree:\nbefore %q\nafter  %q", before, after)
	}
}

// TestLockWaitIsBounded: a lock held elsewhere (by a helper its caller
// managed to stop, or by the owner itself, who may flock its own
// directory) makes the helper give up after LockWait with a message naming
// the instance, instead of hanging.
func TestLockWaitIsBounded(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	inst := f.instance("s1", "/var/lib/left4me/installation")
	lf, err := os.Open(inst)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		out, errs, code := f.helper(f.helperEnv(), "umount", "s1")
		done <- fmt.Sprintf("%d %s%s", code, out, errs)
	}()
	select {
	case o := <-done:
		want := "instance busy: instance s1: another process has held the lock on /var/lib/left4me/runtime/s1"
		if !strings.HasPrefix(o, "1 ") || !strings.Contains(o, want) {
			t.Fatalf("umount s1 while its lock is held = %q, want exit 1 and %q", o, want)
		}
	case <-time.After(LockWait + 20*time.Second):
		t.Fatalf("umount s1 still waiting %v after the lock wait should have ended", LockWait+20*time.Second)
	}
}

// TestCallerCannotParkHelper is the parked-helper attack through the real
// sudo and the rendered sudoers rules: the unprivileged caller sends
// SIGTSTP (and then SIGSTOP, and SIGINT) to its own sudo while the helper
// it started holds the instance's lock. sudo relays the job-control and
// interrupt signals; the helper must neither stop nor die half-way, and
// root's own umount must complete.
func TestCallerCannotParkHelper(t *testing.T) {
	testenv.RequireNamespace(t)
	sudo := testenv.RequireBinary(t, "sudo", "sudo")
	testenv.RequireBinary(t, "visudo", "sudo")
	helper := helperBin(t)
	if err := os.Chmod(filepath.Dir(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	uid, gid := testenv.AddUser(t, sudoTestUser, "")
	writeEntryPoints(t, helper)
	rules, err := sudoers.Render(sudoers.Params{User: sudoTestUser, OverlayHelper: helper, SystemctlHelper: "/bin/false", JournalHelper: "/bin/false"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sudoTestSudoers) })
	if _, err := sudoers.Install(context.Background(), runner.Exec{}, sudoTestSudoers, rules); err != nil {
		t.Fatalf("install %s: %v", sudoTestSudoers, err)
	}

	// The production layout in this namespace only, owned by the caller;
	// 500 layers keep the helper inside its lock long enough to be caught.
	privateHostDirs(t)
	state := "/var/lib/left4me"
	var layers []string
	for i := range 500 {
		l := fmt.Sprintf("%s/overlays/l%03d", state, i)
		writeFile(t, l+"/f", "x")
		layers = append(layers, l)
	}
	for _, d := range []string{"installation", "runtime/a/upper", "runtime/a/work", "runtime/a/merged"} {
		mkdir(t, filepath.Join(state, d))
	}
	writeFile(t, filepath.Join(state, "runtime/a/instance.env"), "LOWERDIRS="+strings.Join(layers, ":")+"\n")
	writeSentinel(t, state)
	t.Cleanup(func() { unix.Unmount(filepath.Join(state, "runtime/a/merged"), unix.MNT_DETACH) })
	if out, err := exec.Command("chown", "-R", sudoTestUser+":"+sudoTestUser, state).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}

	for _, sigs := range [][]syscall.Signal{{syscall.SIGTSTP}, {syscall.SIGSTOP, syscall.SIGTSTP}, {syscall.SIGTTOU, syscall.SIGINT}} {
		t.Run(fmt.Sprint(sigs), func(t *testing.T) {
			for _, verb := range []string{"mount", "umount"} {
				if verb == "umount" {
					c := exec.Command(helper, "mount", "a")
					c.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SUDO_USER=root"}
					if o, err := c.CombinedOutput(); err != nil {
						t.Fatalf("root's mount: %v %s", err, o)
					}
				}
				cmd := exec.Command(sudo, "-n", helper+"-"+verb, "a")
				cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
				cmd.Dir = "/"
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
				var out strings.Builder
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				holder, caught := waitForLockHolder(cmd.Process.Pid)
				if !caught && verb == "mount" {
					cmd.Wait()
					t.Fatalf("never saw the helper hold a lock (%q): the attack was not tried", out.String())
				}
				if caught {
					for _, sig := range sigs {
						// As the caller: the user may signal its own sudo.
						kill := exec.Command("kill", "-s", strconv.Itoa(int(sig)), strconv.Itoa(cmd.Process.Pid))
						kill.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
						if out, err := kill.CombinedOutput(); err != nil {
							t.Fatalf("kill -%d sudo as the caller: %v %s", sig, err, out)
						}
					}
				}
				// Root's own umount must complete whatever the caller did.
				rootDone := make(chan string, 1)
				go func() {
					c := exec.Command(helper, "umount", "a")
					c.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SUDO_USER=root"}
					o, err := c.CombinedOutput()
					rootDone <- fmt.Sprintf("%v %s", err, o)
				}()
				var rootOut string
				select {
				case rootOut = <-rootDone:
				case <-time.After(LockWait + 30*time.Second):
					st := procState(holder)
					cleanupStopped(cmd.Process.Pid, holder)
					t.Fatalf("%s: root's umount still waiting; the caller's helper (pid %d, state %q) holds the lock", verb, holder, st)
				}
				st := procState(holder)
				cleanupStopped(cmd.Process.Pid, holder)
				cmd.Wait()
				if strings.HasPrefix(st, "T") {
					t.Errorf("%s: the caller stopped the root helper (state %q)", verb, st)
				}
				if !strings.HasPrefix(rootOut, "<nil> ") {
					t.Errorf("%s: root's umount = %q", verb, rootOut)
				}
				t.Logf("%s: caught in its lock: %v; caller saw %q; root's umount: %q", verb, caught, out.String(), rootOut)
			}
			if ms := mountsUnder(t, "self", state); len(ms) != 0 {
				t.Errorf("left mounted: %+v", ms)
			}
		})
	}
}

// waitForLockHolder waits until a child of sudo (the helper) holds a
// flock, as /proc/locks shows it, and returns its pid; caught is false when
// sudo's child ended first.
func waitForLockHolder(sudoPID int) (pid int, caught bool) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		child := childOf(sudoPID)
		if child > 0 {
			pid = child
			b, _ := os.ReadFile("/proc/locks")
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(line)
				if len(f) >= 5 && f[1] == "FLOCK" && f[4] == strconv.Itoa(child) {
					return child, true
				}
			}
		}
		if procState(sudoPID) == "" || strings.HasPrefix(procState(sudoPID), "Z") {
			return pid, false
		}
	}
	return pid, false
}

// childOf returns a child of pid, or 0.
func childOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// procState is the state letter and what follows in /proc/PID/stat.
func procState(pid int) string {
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return ""
}

// cleanupStopped continues the processes this test started (sudo and its
// helper), whatever the caller's signals did to them.
func cleanupStopped(pids ...int) {
	for _, p := range pids {
		if p > 0 {
			syscall.Kill(p, syscall.SIGCONT)
		}
	}
}
