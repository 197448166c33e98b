//go:build linux

package mountinfo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

func TestMain(m *testing.M) { testenv.ReexecInNamespace(m) }

// TestReadRealLongLine mounts a real overlay of 500 layers with long paths
// (as one instance with 500 deep layers does) at a mount point whose name
// carries every character the kernel escapes and a few it does not, and
// reads it back from /proc/self/mountinfo: a line of more than 1 MiB. Where
// the kernel cannot take layers as fds (before 6.13), the line's length
// comes from a mount point path of over 1 MiB instead.
func TestReadRealLongLine(t *testing.T) {
	testenv.RequireNamespace(t)
	base := t.TempDir()
	long := strings.Repeat("d", 250)
	deep := filepath.Join(long, long, long, long, long, long, long, long, long)

	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		t.Fatalf("fsopen(2) for overlay (Linux 5.2+): %v", err)
	}
	defer unix.Close(fsfd)
	var layers []string
	for i := 0; i < 500; i++ {
		p := filepath.Join(base, fmt.Sprintf("l%03d", i), deep)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = unix.FsconfigSetFd(fsfd, "lowerdir+", fd)
		unix.Close(fd)
		if err != nil {
			// Before Linux 6.13 layers cannot be fds and an overlay's
			// options fit one page: a long mount point makes the line.
			t.Logf("no overlay layers by fd here (%v): a mount point path of over 1 MiB instead", err)
			readLongMountPoint(t, base)
			return
		}
		layers = append(layers, p)
	}
	mp := filepath.Join(base, "m a\tb\nc\\d\ve - 0 0 0:0 r p rw - ext4 x rw\rf")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		t.Fatalf("create overlay of 500 layers: %v", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("fsmount: %v", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, mp, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		t.Fatalf("move_mount: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mp, unix.UMOUNT_NOFOLLOW); err != nil {
			t.Errorf("unmount %q: %v", mp, err)
		}
	})
	var sx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, mp, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &sx); err != nil {
		t.Fatal(err)
	}

	entries, err := ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("ReadFile(/proc/self/mountinfo) = %v", err)
	}
	var found *Entry
	for i := range entries {
		if entries[i].ID == sx.Mnt_id {
			found = &entries[i]
		}
	}
	if found == nil {
		t.Fatalf("mount id %d (statx) not in the mount table of %d entries", sx.Mnt_id, len(entries))
	}
	if found.MountPoint != mp || found.FSType != "overlay" {
		t.Fatalf("mount %d: %q %q, want overlay at %q", found.ID, found.FSType, found.MountPoint, mp)
	}
	if n := len(found.SuperOpts); n <= 1<<20 {
		t.Fatalf("super options of %d bytes: want a line over 1 MiB for this test", n)
	}
	t.Logf("mountinfo line of mount %d: %d bytes of super options", found.ID, len(found.SuperOpts))
	at := 0
	for _, l := range layers {
		i := strings.Index(found.SuperOpts[at:], l)
		if i < 0 {
			t.Fatalf("layer %s not in the super options (in order)", l)
		}
		at += i + len(l)
	}
	// Every other entry is still there after the long one.
	if last := entries[len(entries)-1]; last.ID == 0 || last.MountPoint == "" {
		t.Fatalf("last entry %+v", last)
	}
}

// readLongMountPoint mounts a tmpfs on a directory 4300 levels of 250-byte
// names below base, the last named with every character the kernel escapes
// and a few it does not, and reads that mount back from the table.
func readLongMountPoint(t *testing.T, base string) {
	const levels = 4300
	name := strings.Repeat("d", 250)
	last := "m a\tb\nc\\d\ve - 0 0 0:0 r p rw - ext4 x rw\rf"
	fd, err := unix.Open(base, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parts := []string{base}
	for i := 0; i <= levels; i++ {
		n := name
		if i == levels {
			n = last
		}
		if err := unix.Mkdirat(fd, n, 0o755); err != nil {
			t.Fatalf("mkdir at level %d: %v", i, err)
		}
		next, err := unix.Openat(fd, n, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if i < levels {
			unix.Close(fd)
		}
		if err != nil {
			t.Fatalf("open level %d: %v", i, err)
		}
		if i == levels {
			parent := fd
			defer unix.Close(parent)
			defer unix.Close(next)
			if err := unix.Mount("tmpfs", fmt.Sprintf("/proc/self/fd/%d", next), "tmpfs", 0, "size=1m"); err != nil {
				t.Fatalf("mount a tmpfs %d levels deep: %v", levels, err)
			}
			root, err := unix.Openat(parent, n, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(root)
			defer func() {
				if err := unix.Unmount(fmt.Sprintf("/proc/self/fd/%d", root), unix.MNT_DETACH); err != nil {
					t.Errorf("unmount the deep tmpfs: %v", err)
				}
			}()
			var sx unix.Statx_t
			if err := unix.Statx(root, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &sx); err != nil {
				t.Fatal(err)
			}
			parts = append(parts, n)
			want := strings.Join(parts, "/")
			entries, err := ReadFile("/proc/self/mountinfo")
			if err != nil {
				t.Fatalf("ReadFile(/proc/self/mountinfo) = %v", err)
			}
			for _, e := range entries {
				if e.ID != sx.Mnt_id {
					continue
				}
				if e.FSType != "tmpfs" || e.MountPoint != want {
					t.Fatalf("mount %d: %q at a path of %d bytes, want tmpfs at the %d-byte path made", e.ID, e.FSType, len(e.MountPoint), len(want))
				}
				if len(e.MountPoint) <= 1<<20 {
					t.Fatalf("mount point of %d bytes: want a line over 1 MiB for this test", len(e.MountPoint))
				}
				t.Logf("mountinfo line of mount %d: a mount point of %d bytes", e.ID, len(e.MountPoint))
				return
			}
			t.Fatalf("mount id %d (statx) not in the mount table of %d entries", sx.Mnt_id, len(entries))
		}
		fd = next
		parts = append(parts, n)
	}
}

// TestReadRealLongMountPoint: on every kernel, a mount point path of over
// 1 MiB whose last name carries escaped and unescaped characters is read
// back whole from the mount table.
func TestReadRealLongMountPoint(t *testing.T) {
	testenv.RequireNamespace(t)
	readLongMountPoint(t, t.TempDir())
}
