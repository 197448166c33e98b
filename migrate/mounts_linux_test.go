//go:build linux

package migrate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/mountinfo"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// evilName is a directory name with a vertical tab and fake mountinfo
// fields: split on whitespace it reads as another mount.
const evilName = "a\v0 0 0:0 r p rw - ext4 e rw"

// overlaysUnder lists the overlay and fuse mounts at or below dir.
func overlaysUnder(t *testing.T, dir string) []mountinfo.Entry {
	t.Helper()
	table, err := mountinfo.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return staleMounts(table, dir)
}

// TestUnmountsRenamedInstance: an instance directory renamed (by its
// owner) to a name with a vertical tab and fake fields is read as one
// mount point, and its overlay is taken down.
func TestUnmountsRenamedInstance(t *testing.T) {
	testenv.RequireNamespace(t)
	tr := newTree(t, "a")
	write(t, filepath.Join(tr.lower(), "f"), "f")
	mountOverlay(t, tr.lower(), tr.upper("a"), tr.work("a"), tr.merged("a"))
	evil := tr.root.Join(hostpath.Instance(evilName))
	if err := os.Rename(tr.root.Join(hostpath.Instance("a")), evil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(filepath.Join(evil, "merged"), unix.MNT_DETACH) })

	rep := runMigrate(t, tr, Options{})
	want := hostpath.Instance(evilName) + "/merged"
	if len(rep.Unmounts) != 1 || rep.Unmounts[0].Path != want {
		t.Errorf("unmounts = %+v, want one at %q", rep.Unmounts, want)
	}
	if left := overlaysUnder(t, tr.root.Join(hostpath.StateDir)); len(left) != 0 {
		t.Errorf("still mounted after the migration: %+v", left)
	}
}

// TestUnmountsMovedMountPoint: the owner moves a mounted merged/ (or the
// directory above it) from a mount namespace made before the mount, after
// the migration read the mount table. The migration follows the mount by
// its id and takes it down where it is now; a mount point removed that way
// (which detaches the mount) is simply gone.
func TestUnmountsMovedMountPoint(t *testing.T) {
	testenv.RequireNamespace(t)
	unshare := testenv.RequireBinary(t, "unshare", "util-linux")
	nsenter := testenv.RequireBinary(t, "nsenter", "util-linux")
	for _, tc := range []struct {
		name    string
		move    func(tr *tree) []string // argv run in the owner's namespace
		newPath string                  // host path of the mount point after the move; "" gone
	}{
		{"merged renamed", func(tr *tree) []string {
			return []string{"mv", tr.merged("a"), tr.root.Join(hostpath.Instance("a")) + "/" + evilName}
		}, hostpath.Instance("a") + "/" + evilName},
		{"instance renamed", func(tr *tree) []string {
			return []string{"mv", tr.root.Join(hostpath.Instance("a")), tr.root.Join(hostpath.Instance(evilName))}
		}, hostpath.Instance(evilName) + "/merged"},
		{"merged moved into another instance", func(tr *tree) []string {
			return []string{"mv", tr.merged("a"), tr.root.Join(hostpath.Instance("b")) + "/x"}
		}, hostpath.Instance("b") + "/x"},
		{"merged removed", func(tr *tree) []string {
			return []string{"rmdir", tr.merged("a")}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "a", "b")
			write(t, filepath.Join(tr.lower(), "f"), "f")
			// The owner's namespace exists before the overlay is mounted,
			// so in it merged/ is a plain directory it may rename.
			owner := exec.Command(unshare, "--mount", "--propagation", "private", "sleep", "600")
			if err := owner.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { owner.Process.Kill(); owner.Wait() })
			waitNamespace(t, owner.Process.Pid)
			mountOverlay(t, tr.lower(), tr.upper("a"), tr.work("a"), tr.merged("a"))
			if tc.newPath != "" {
				t.Cleanup(func() { unix.Unmount(tr.root.Join(tc.newPath), unix.MNT_DETACH) })
			}

			m := newMigrator(Options{Root: tr.root})
			moves := 0
			m.beforeUnmount = func() {
				moves++
				argv := append([]string{"-t", strconv.Itoa(owner.Process.Pid), "-m", "--"}, tc.move(tr)...)
				if out, err := exec.Command(nsenter, argv...).CombinedOutput(); err != nil {
					t.Fatalf("nsenter %q: %v: %s", argv, err, out)
				}
			}
			rep, err := m.run(t.Context())
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if moves != 1 {
				t.Fatalf("the mount point was moved %d times, want once", moves)
			}
			if left := overlaysUnder(t, tr.root.Join(hostpath.StateDir)); len(left) != 0 {
				t.Errorf("still mounted after the migration: %+v", left)
			}
			var paths []string
			for _, u := range rep.Unmounts {
				paths = append(paths, u.Path)
			}
			want := []string{}
			if tc.newPath != "" {
				want = []string{tc.newPath}
			}
			if strings.Join(paths, "|") != strings.Join(want, "|") {
				t.Errorf("unmounts = %q, want %q", paths, want)
			}
		})
	}
}

// waitNamespace waits until process pid runs in a mount namespace other
// than ours.
func waitNamespace(t *testing.T, pid int) {
	t.Helper()
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		if ns, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/mnt"); err == nil && ns != self {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d never entered a mount namespace of its own", pid)
}

// TestUnmountsWithHugeMountTable: a mount point path of over 1 MiB, and on
// Linux 6.13+ also one overlay of 500 layers with long paths, make mount
// table lines of more than 1 MiB; the migration still reads the table and
// takes both overlays down.
func TestUnmountsWithHugeMountTable(t *testing.T) {
	testenv.RequireNamespace(t)
	tr := newTree(t, "a", "big")
	write(t, filepath.Join(tr.lower(), "f"), "f")
	mountOverlay(t, tr.lower(), tr.upper("a"), tr.work("a"), tr.merged("a"))

	if !mountHugeOverlay(t, tr, tr.merged("big")) {
		// Before Linux 6.13 an overlay's line is bounded by the page its
		// options fit in; "big" gets a plain overlay there.
		mountOverlay(t, tr.lower(), tr.upper("big"), tr.work("big"), tr.merged("big"))
	}
	// On every kernel: a mount point path of over 1 MiB, outside the tree.
	mountAtDeepPath(t, t.TempDir(), 4300)
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	longest := 0
	for _, l := range strings.Split(string(b), "\n") {
		longest = max(longest, len(l))
	}
	if longest <= 1<<20 {
		t.Fatalf("longest mount table line %d bytes: want over 1 MiB for this test", longest)
	}

	rep := runMigrate(t, tr, Options{})
	if len(rep.Unmounts) != 2 {
		t.Errorf("unmounts = %+v, want both overlays", rep.Unmounts)
	}
	if left := overlaysUnder(t, tr.root.Join(hostpath.StateDir)); len(left) != 0 {
		t.Errorf("still mounted after the migration: %+v", left)
	}
}

// TestUnmountsUsersFuseMount: a fuse-overlayfs mount its user made without
// allow_other (root may not even stat its root with a normal request) is
// identified by mount id and taken down, as on a fuse-era host.
func TestUnmountsUsersFuseMount(t *testing.T) {
	testenv.RequireNamespace(t)
	fuseBin := testenv.RequireBinary(t, "fuse-overlayfs", "fuse-overlayfs")
	fusermount := testenv.RequireBinary(t, "fusermount3", "fuse3")
	uid, gid := addFuseUser(t)
	openDevFuse(t)
	tr := newWorldTree(t, "l4m-tmg-fuse-", "a")
	write(t, filepath.Join(tr.lower(), "f"), "f")
	if out, err := exec.Command("chown", "-R", strconv.Itoa(uid)+":"+strconv.Itoa(gid), tr.root.Join("/var")).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	merged := tr.merged("a")
	asUser(t, uid, gid, "", fuseBin, "-o", "lowerdir="+tr.lower()+",upperdir="+tr.upper("a")+",workdir="+tr.work("a"), merged)
	t.Cleanup(func() { exec.Command(fusermount, "-u", "-z", merged).Run() })
	if !isFuseMounted(t, merged) {
		t.Fatal("fuse-overlayfs did not mount")
	}
	var sx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, merged, 0, unix.STATX_BASIC_STATS, &sx); err == nil {
		t.Logf("note: root could stat the fuse mount's root with a normal request")
	}

	rep := runMigrate(t, tr, Options{})
	if len(rep.Unmounts) != 1 || rep.Unmounts[0].FSType != "fuse.fuse-overlayfs" {
		t.Errorf("unmounts = %+v, want the fuse mount", rep.Unmounts)
	}
	if isMounted(t, merged) {
		t.Error("the fuse mount is still there")
	}
	waitFuseGone(t)
}

// mountHugeOverlay mounts at merged an overlay of 500 layers, each nine
// 250-byte names deep, passed as fds (Linux 6.13+), whose mount table line
// is over 1 MiB. It reports false, having mounted nothing, where the
// kernel cannot take layers as fds.
func mountHugeOverlay(t *testing.T, tr *tree, merged string) bool {
	t.Helper()
	long := strings.Repeat("d", 250)
	deep := filepath.Join(long, long, long, long, long, long, long, long, long)
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return false
	}
	defer unix.Close(fsfd)
	for i := 0; i < 500; i++ {
		p := filepath.Join(tr.root.Join(hostpath.OverlaysDir), strconv.Itoa(i), deep)
		mkdir(t, p)
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = unix.FsconfigSetFd(fsfd, "lowerdir+", fd)
		unix.Close(fd)
		if err != nil {
			return false
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		t.Fatal(err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, merged, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })
	return true
}

// mountAtDeepPath mounts a tmpfs on a directory levels deep below dir, each
// level a 250-byte name, so that its mount point alone makes a mount table
// line of levels*251 bytes. The path is walked by fds, as it is far longer
// than PATH_MAX.
func mountAtDeepPath(t *testing.T, dir string, levels int) {
	t.Helper()
	name := strings.Repeat("d", 250)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < levels; i++ {
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatalf("mkdir at level %d: %v", i, err)
		}
		next, err := unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatalf("open level %d: %v", i, err)
		}
		fd = next
	}
	if err := unix.Mount("tmpfs", "/proc/self/fd/"+strconv.Itoa(fd), "tmpfs", 0, "size=1m"); err != nil {
		unix.Close(fd)
		t.Fatalf("mount a tmpfs %d levels deep: %v", levels, err)
	}
	t.Cleanup(func() {
		defer unix.Close(fd)
		// The fd names the directory under the mount; its root is what a
		// new lookup through the parent finds.
		parent, err := unix.Openat(fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		defer unix.Close(parent)
		root, err := unix.Openat(parent, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		defer unix.Close(root)
		if err := unix.Unmount("/proc/self/fd/"+strconv.Itoa(root), unix.MNT_DETACH); err != nil {
			t.Errorf("unmount the deep tmpfs: %v", err)
		}
	})
}
