//go:build linux

package bindmount

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

func TestMain(m *testing.M) { testenv.ReexecInNamespace(m) }

// stateDir makes base/var/lib/left4me on a tmpfs of the test's own (in its
// private mount namespace) and returns it.
func stateDir(t *testing.T) string {
	t.Helper()
	testenv.RequireNamespace(t)
	base := t.TempDir()
	if err := unix.Mount("tmpfs", base, "tmpfs", 0, "size=8m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(base, unix.MNT_DETACH) })
	dir := filepath.Join(base, "var/lib/left4me")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	return dir
}

// bindSelf binds dir onto itself with the mount flags given (the unit's
// Options=bind,nosuid,nodev is MS_NOSUID|MS_NODEV).
func bindSelf(t *testing.T, src, dir string, flags uintptr) {
	t.Helper()
	if err := unix.Mount(src, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s on %s: %v", src, dir, err)
	}
	if flags != 0 {
		if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|flags, ""); err != nil {
			t.Fatalf("remount %s: %v", dir, err)
		}
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
}

// fuseOn mounts the real fuse-overlayfs on dir (what the state root's
// owner can do with fusermount3) and returns its daemon.
func fuseOn(t *testing.T, dir string) *os.Process {
	t.Helper()
	bin := testenv.RequireBinary(t, "fuse-overlayfs", "fuse-overlayfs")
	w := t.TempDir()
	for _, d := range []string{"l", "u", "w"} {
		if err := os.Mkdir(filepath.Join(w, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := judge(t, dir).What
	cmd := exec.Command(bin, "-f", "-o", "lowerdir="+w+"/l,upperdir="+w+"/u,workdir="+w+"/w", dir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start fuse-overlayfs: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		unix.Unmount(dir, unix.MNT_DETACH)
		cmd.Process.Kill()
		cmd.Wait()
	})
	// Mounted once a new FUSE mount is on top of dir.
	for i := 0; ; i++ {
		if m, err := Judge(dir); err == nil && m.Verdict == Owner && m.What != before {
			return cmd.Process
		}
		if i == 2000 {
			t.Fatalf("fuse-overlayfs did not mount on %s", dir)
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 5e6}, nil)
	}
}

// mountFS mounts a tmpfs of its own on dir with the flags given.
func mountFS(t *testing.T, dir string, flags uintptr) {
	t.Helper()
	if err := unix.Mount("tmpfs", dir, "tmpfs", flags, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
}

func judge(t *testing.T, dir string) Mount {
	t.Helper()
	m, err := Judge(dir)
	if err != nil {
		t.Fatalf("Judge(%s) = %v", dir, err)
	}
	return m
}

// TestJudge: only the directory's own bind mount with nosuid and nodev is
// Real; a bind without the flags, another file system, a bind of another
// directory, and nothing at all are not, and a FUSE mount on the
// directory, even over the real bind mount, is the owner's.
func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  Verdict
		what  string
	}{
		{"nothing", func(*testing.T, string) {}, None, "nothing is mounted"},
		{"missing", func(t *testing.T, dir string) { os.Remove(dir) }, None, "does not exist"},
		{"own bind nosuid,nodev", func(t *testing.T, dir string) { bindSelf(t, dir, dir, unix.MS_NOSUID|unix.MS_NODEV) }, Real, "nosuid,nodev"},
		{"own bind without nodev", func(t *testing.T, dir string) { bindSelf(t, dir, dir, unix.MS_NOSUID) }, Other, "no nodev"},
		{"own bind without either", func(t *testing.T, dir string) { bindSelf(t, dir, dir, 0) }, Other, "no nosuid, no nodev"},
		{"bind of another directory", func(t *testing.T, dir string) {
			other := filepath.Join(filepath.Dir(dir), "other")
			os.Mkdir(other, 0o755)
			bindSelf(t, other, dir, unix.MS_NOSUID|unix.MS_NODEV)
		}, Other, "its root is not"},
		{"a file system of its own without the flags", func(t *testing.T, dir string) { mountFS(t, dir, 0) }, Other, "no nosuid, no nodev"},
		{"a file system of its own nosuid,nodev (fstab)", func(t *testing.T, dir string) { mountFS(t, dir, unix.MS_NOSUID|unix.MS_NODEV) }, Real, "a file system of its own"},
		{"a bind of a subdirectory of another file system", func(t *testing.T, dir string) {
			other := t.TempDir()
			if err := unix.Mount("tmpfs", other, "tmpfs", 0, "size=1m"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Unmount(other, unix.MNT_DETACH) })
			os.Mkdir(other+"/sub", 0o755)
			bindSelf(t, other+"/sub", dir, unix.MS_NOSUID|unix.MS_NODEV)
		}, Other, "nor a whole file system"},
		{"fuse", func(t *testing.T, dir string) { fuseOn(t, dir) }, Owner, "a FUSE mount"},
		{"fuse over the real bind", func(t *testing.T, dir string) {
			bindSelf(t, dir, dir, unix.MS_NOSUID|unix.MS_NODEV)
			fuseOn(t, dir)
		}, Owner, "fuse.fuse-overlayfs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := stateDir(t)
			tc.setup(t, dir)
			m := judge(t, dir)
			if m.Verdict != tc.want || !strings.Contains(m.What, tc.what) {
				t.Errorf("Judge = %d %q, want %d with %q", m.Verdict, m.What, tc.want, tc.what)
			}
		})
	}
}

// TestJudgeStoppedDaemon: a FUSE mount whose daemon is stopped neither
// holds Judge nor DetachOwner, and DetachOwner takes off exactly the
// owner's mounts (two stacked), leaving the real bind mount under them.
func TestJudgeStoppedDaemon(t *testing.T) {
	dir := stateDir(t)
	bindSelf(t, dir, dir, unix.MS_NOSUID|unix.MS_NODEV)
	fuseOn(t, dir)
	p := fuseOn(t, dir)
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if m := judge(t, dir); m.Verdict != Owner {
		t.Fatalf("Judge over a stopped daemon = %d %q, want Owner", m.Verdict, m.What)
	}
	done, err := DetachOwner(dir)
	if err != nil || len(done) != 2 {
		t.Fatalf("DetachOwner = %q, %v; want two detached", done, err)
	}
	if m := judge(t, dir); m.Verdict != Real {
		t.Fatalf("after DetachOwner: %d %q, want the real bind mount", m.Verdict, m.What)
	}
	if done, err := DetachOwner(dir); err != nil || len(done) != 0 {
		t.Fatalf("second DetachOwner = %q, %v; want nothing to do", done, err)
	}
}
