//go:build linux

package migrate

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

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

// allowOtherFuse gives this test's mount namespace (only) an
// /etc/fuse.conf with user_allow_other, as a permissive host has.
func allowOtherFuse(t *testing.T) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "fuse.conf")
	write(t, conf, "user_allow_other\n")
	if err := unix.Mount(conf, "/etc/fuse.conf", "", unix.MS_BIND, ""); err != nil {
		testenv.Skip(t, "bind %s over /etc/fuse.conf: %v", conf, err)
	}
	t.Cleanup(func() { unix.Unmount("/etc/fuse.conf", unix.MNT_DETACH) })
}

// fusePids lists the fuse-overlayfs processes of this test's namespace.
func fusePids() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, _ := os.ReadFile("/proc/" + e.Name() + "/comm"); strings.TrimSpace(string(b)) == "fuse-overlayfs" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestStoppedFuseCannotParkMigration: the owner mounts its own
// fuse-overlayfs (allow_other) over an instance's upper/ or work/, or over
// runtime/, and stops the daemon. The migration's dry run must come back
// (with a report or an error naming the mount point) without asking that
// file system anything; a run still going when the bound ends is parked.
func TestStoppedFuseCannotParkMigration(t *testing.T) {
	testenv.RequireNamespace(t)
	fuseBin := testenv.RequireBinary(t, "fuse-overlayfs", "fuse-overlayfs")
	fusermount := testenv.RequireBinary(t, "fusermount3", "fuse3")
	uid, gid := addFuseUser(t)
	openDevFuse(t)
	allowOtherFuse(t)
	for _, at := range []string{"runtime", "runtime/a", "runtime/a/upper", "runtime/a/work"} {
		t.Run(at, func(t *testing.T) {
			tr := newWorldTree(t, "l4m-tmg-park-", "a")
			write(t, filepath.Join(tr.upper("a"), "f"), "f")
			scratch := tr.root.Join("/scratch")
			for _, d := range []string{"lower", "upper", "work"} {
				mkdir(t, filepath.Join(scratch, d))
			}
			target := tr.root.Join("/var/lib/left4me/" + at)
			if out, err := exec.Command("cp", "-a", target+"/.", filepath.Join(scratch, "lower")).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v: %s", err, out)
			}
			if out, err := exec.Command("chown", "-R", strconv.Itoa(uid)+":"+strconv.Itoa(gid), tr.root.Join("/var"), scratch).CombinedOutput(); err != nil {
				t.Fatalf("chown: %v: %s", err, out)
			}
			asUser(t, uid, gid, "", fuseBin, "-o", "lowerdir="+scratch+"/lower,upperdir="+scratch+"/upper,workdir="+scratch+"/work,allow_other", target)
			pids := fusePids()
			if len(pids) == 0 {
				t.Fatal("no fuse-overlayfs daemon found")
			}
			for _, p := range pids {
				syscall.Kill(p, syscall.SIGSTOP)
			}
			cont := func() {
				for _, p := range pids {
					syscall.Kill(p, syscall.SIGCONT)
				}
			}
			t.Cleanup(func() {
				cont()
				exec.Command(fusermount, "-u", "-z", target).Run()
				waitFuseGone(t)
			})
			type result struct {
				rep *Report
				err error
			}
			done := make(chan result, 1)
			go func() {
				rep, err := Run(context.Background(), Options{Root: tr.root, DryRun: true})
				done <- result{rep, err}
			}()
			select {
			case r := <-done:
				if r.err != nil && !strings.Contains(r.err.Error(), "mount point") {
					t.Errorf("dry run with a stopped FUSE daemon at %s = %v; want a report or an error naming the mount point", at, r.err)
				}
			case <-time.After(60 * time.Second):
				cont()
				t.Fatalf("the dry run is parked by the stopped FUSE daemon at %s", at)
			}
		})
	}
}
