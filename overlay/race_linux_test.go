//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/mountinfo"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// TestOriginalBugFixed reproduces why the old stack failed and shows the
// fix. The test's namespace plays the host (PID 1, a shared mount as on a
// systemd host). A "game-server" namespace exists before anything is
// mounted, a slave of the host as systemd gives a unit with PrivateTmp=yes.
// A "service" namespace of the same kind (the web app's) then mounts one
// instance in place, as the old fuse-overlayfs stack did, and another
// through the helper. Only the helper's mount reaches the host and the game
// server; the in-place one exists only inside the dead service's namespace,
// which is the old status=200/CHDIR.
func TestOriginalBugFixed(t *testing.T) {
	testenv.RequireNamespace(t)
	unshare := testenv.RequireBinary(t, "unshare", "util-linux")
	nsenter := testenv.RequireBinary(t, "nsenter", "util-linux")
	mountBin := testenv.RequireBinary(t, "mount", "mount")
	f := newFixture(t)
	if err := unix.Mount(f.root, f.root, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("", f.root, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.real("/var/lib/left4me/installation/srcds_run"), "#!/bin/sh\n")
	f.instance("fixed", "/var/lib/left4me/installation")
	f.instance("old", "/var/lib/left4me/installation")

	gs := exec.Command(unshare, "--mount", "--propagation", "slave", "--", "sleep", "600")
	if err := gs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gs.Process.Kill(); gs.Wait() })
	gsPID := fmt.Sprint(gs.Process.Pid)
	waitExec(t, gsPID, "sleep")

	old := filepath.Join(f.state, "runtime/old")
	script := strings.Join([]string{
		"set -e",
		helperBin(t) + " mount fixed",
		fmt.Sprintf("%s -t overlay -o lowerdir=%s,upperdir=%s/upper,workdir=%s/work old-in-place %s/merged", mountBin, filepath.Join(f.state, "installation"), old, old, old),
		"test -f " + old + "/merged/srcds_run",
		"test -f " + f.merged("fixed") + "/srcds_run",
		"echo service-ok",
	}, "\n")
	svc := exec.Command(unshare, "--mount", "--propagation", "slave", "--", "sh", "-c", script)
	svc.Env = f.helperEnv()
	out, err := svc.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "service-ok") {
		t.Fatalf("service: %v\n%s", err, out)
	}

	// The host.
	if _, err := os.Stat(filepath.Join(f.merged("fixed"), "srcds_run")); err != nil {
		t.Errorf("host: the helper's mount is not visible: %v", err)
	}
	if _, err := os.Stat(filepath.Join(old, "merged/srcds_run")); !os.IsNotExist(err) {
		t.Errorf("host: the in-place mount is visible (%v); the reproduction is broken", err)
	}
	// The game server, through its own namespace, as systemd would start it.
	gsSees := func(dir string) error {
		return exec.Command(nsenter, "--mount=/proc/"+gsPID+"/ns/mnt", "--", "sh", "-c", "cd "+dir+" && test -f srcds_run").Run()
	}
	if err := gsSees(f.merged("fixed")); err != nil {
		t.Errorf("game server: cannot use the helper's mount: %v", err)
	}
	if err := gsSees(filepath.Join(old, "merged")); err == nil {
		t.Errorf("game server: sees the in-place mount; the reproduction is broken")
	}
	if got := len(mountsUnder(t, gsPID, f.merged("fixed"))); got != 1 {
		t.Errorf("game server's mount table has %d mounts at merged, want 1", got)
	}
	// Unmounting through the helper reaches the game server too.
	f.mustHelper("umount", "fixed")
	if got := len(mountsUnder(t, gsPID, f.merged("fixed"))); got != 0 {
		t.Errorf("after umount the game server still has %d mounts at merged", got)
	}
}

// waitExec waits until process pid runs comm (unshare has exec'd).
func waitExec(t *testing.T, pid, comm string) {
	t.Helper()
	for range 500 {
		b, _ := os.ReadFile("/proc/" + pid + "/comm")
		if strings.TrimSpace(string(b)) == comm {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %s never became %s", pid, comm)
}

// TestSymlinkSwapRace runs the mount code against an owner who, all the
// while, swaps upper, merged and a layer for symlinks to a directory outside
// the root, and moves merged out of the root altogether. Whatever the
// interleaving, a mount that succeeds sits exactly at runtime/s1/merged and
// uses only the real layer and upper; a mount that fails leaves nothing
// mounted; nothing outside the root is read, written or mounted on. The
// "library" run calls the helper's code in-process for thousands of
// iterations; the "binary" run execs the real helper for fewer (each exec
// costs milliseconds).
func TestSymlinkSwapRace(t *testing.T) {
	testenv.RequireNamespace(t)
	lib, bin := 3000, 300
	if testing.Short() {
		lib, bin = 300, 30
	}
	t.Run("library", func(t *testing.T) {
		swapRace(t, lib, func(f *fixture, m Method, verb string) error {
			cfg := Config{Root: hostpath.Root(f.root), Method: m}
			var err error
			if verb == "mount" {
				_, err = cfg.Mount("s1")
			} else {
				_, err = cfg.Unmount("s1")
			}
			return err
		})
	})
	t.Run("binary", func(t *testing.T) {
		swapRace(t, bin, func(f *fixture, m Method, verb string) error {
			_, errs, code := f.helper(f.helperEnv("LEFT4ME_OVERLAY_METHOD="+m.String()), verb, "s1")
			if code != 0 {
				if strings.Contains(errs, ErrMoved.Error()) {
					return fmt.Errorf("%s: %w", strings.TrimSpace(errs), ErrMoved)
				}
				return errors.New(strings.TrimSpace(errs))
			}
			return nil
		})
	})
}

func swapRace(t *testing.T, iterations int, call func(f *fixture, m Method, verb string) error) {
	f := newFixture(t)
	outside := t.TempDir() // symlink target: must never be used
	moveTo := t.TempDir()  // where merged is moved: same file system, outside the root
	writeFile(t, filepath.Join(outside, "evil"), "outside\n")
	writeFile(t, f.real("/var/lib/left4me/installation/f"), "base\n")
	layer := f.layer("a", map[string]string{"f": "top\n"})
	f.instance("s1", layer, "/var/lib/left4me/installation")
	upper, merged, layerDir := f.upper("s1"), f.merged("s1"), f.real(layer)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var swaps, moves atomic.Int64
	var stuck atomic.Value
	restore := func(from, to string) bool {
		for range 10000 {
			if os.Rename(from, to) == nil {
				return true
			}
			runtime.Gosched()
		}
		err := os.Rename(from, to)
		stuck.Store(fmt.Sprintf("cannot move %s back to %s: %v", from, to, err))
		return false
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		targets := []string{upper, merged, layerDir}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p := targets[i%len(targets)]
			if p == merged && i%2 == 1 {
				// Move the real merged dir out of the root and back.
				if os.Rename(p, filepath.Join(moveTo, "merged")) == nil {
					moves.Add(1)
					runtime.Gosched()
					if !restore(filepath.Join(moveTo, "merged"), p) {
						return
					}
				}
				continue
			}
			if os.Rename(p, p+".real") != nil {
				continue // merged while mounted: EBUSY
			}
			if os.Symlink(outside, p) == nil {
				swaps.Add(1)
				runtime.Gosched()
				os.Remove(p)
			}
			if !restore(p+".real", p) {
				return
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	})

	var methods []Method // those this kernel has
	rel, err := KernelRelease()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range allMethods {
		if MethodAvailable(rel, m) == nil {
			methods = append(methods, m)
		}
	}
	outcomes := map[string]int{}
	for i := range iterations {
		m := methods[i%len(methods)]
		err := call(f, m, "mount")
		ours := mountsOf(t, "left4me-s1")
		if err != nil {
			outcomes[classify(err)]++
			if len(ours) != 0 {
				t.Fatalf("iteration %d (%s): mount failed (%v) but left %+v", i, m, err, ours)
			}
		} else {
			outcomes["mounted "+m.String()]++
			if len(ours) != 1 || ours[0].MountPoint != merged {
				t.Fatalf("iteration %d (%s): mount succeeded but the mounts are %+v, want one at %s", i, m, ours, merged)
			}
			// Read only the real layers, write only the real upper.
			if b, err := os.ReadFile(filepath.Join(merged, "f")); err != nil || string(b) != "top\n" {
				t.Fatalf("iteration %d (%s): merged/f = %q, %v; want the real top layer", i, m, b, err)
			}
			if _, err := os.Stat(filepath.Join(merged, "evil")); err == nil {
				t.Fatalf("iteration %d (%s): a directory outside the root is a layer", i, m)
			}
			probe := filepath.Join(merged, "probe")
			writeFile(t, probe, "p")
			if err := os.Remove(probe); err != nil {
				t.Fatal(err)
			}
			var log []string
			for {
				err := call(f, m, "umount")
				log = append(log, fmt.Sprint(err))
				if err == nil {
					break
				}
				outcomes["umount refused: "+classify(err)]++
			}
			if ours := mountsOf(t, "left4me-s1"); len(ours) != 0 {
				t.Fatalf("iteration %d: after umount %+v; umount said %q", i, ours, log)
			}
		}
		if v := stuck.Load(); v != nil {
			t.Fatalf("iteration %d: %s; mounts: %+v", i, v, mountsOf(t, "left4me-s1"))
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 1 {
			t.Fatalf("iteration %d: the outside dir was written: %v", i, ents)
		}
	}
	close(stop)
	wg.Wait()
	keys := make([]string, 0, len(outcomes))
	for k := range outcomes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var summary []string
	for _, k := range keys {
		summary = append(summary, fmt.Sprintf("%s: %d", k, outcomes[k]))
	}
	t.Logf("%d iterations, %d symlink swaps, %d moves; outcomes: %s", iterations, swaps.Load(), moves.Load(), strings.Join(summary, "; "))
	if swaps.Load() == 0 || moves.Load() == 0 {
		t.Fatalf("the attacker never got to swap (%d) or move (%d): the test proved nothing", swaps.Load(), moves.Load())
	}
}

// mountsOf lists every mount in this namespace with the given source.
func mountsOf(t testing.TB, source string) []mountinfo.Entry {
	t.Helper()
	all, err := readMountinfoSelf()
	if err != nil {
		t.Fatal(err)
	}
	var out []mountinfo.Entry
	for _, e := range all {
		if e.Source == source {
			out = append(out, e)
		}
	}
	return out
}

func readMountinfoSelf() ([]mountinfo.Entry, error) {
	fh, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return mountinfo.Parse(fh)
}

func classify(err error) string {
	s := err.Error()
	switch {
	case errors.Is(err, ErrMoved):
		return "moved, undone"
	case strings.Contains(s, "symlink"):
		return "symlink refused"
	case strings.Contains(s, "does not exist"):
		return "missing"
	case strings.Contains(s, "not a directory"):
		return "not a directory"
	}
	return s
}
