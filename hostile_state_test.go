//go:build linux

package deploy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/rootdir"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// nobody stands for the state root's owner (any uid but root).
const nobody = 65534

// oldDeployLock is where the deploy lock used to be: in the 1777 /run/lock,
// where any user can make the file first.
const oldDeployLock = "/run/lock/left4me-deploy.lock"

// plantLock makes what an unprivileged user can leave at the old lock
// path, holds an flock on it through an open file of its own (as that
// user's process would) and returns that file.
func plantLock(t *testing.T, root string, fifo bool) {
	t.Helper()
	p := filepath.Join(root, oldDeployLock)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(p), os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	if fifo {
		if err := unix.Mkfifo(p, 0o666); err != nil {
			t.Fatal(err)
		}
	} else if err := os.WriteFile(p, []byte("pid 1, user root, started 2020-01-01T00:00:00Z, command \"forged\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(p, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	// O_RDWR: also the writer that keeps a read of the FIFO waiting.
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("flock the planted %s: %v", p, err)
	}
}

// TestPlantedLockDeniesNothing: a lock file or FIFO that another user
// made first, with a forged holder line and an flock held on it, neither
// refuses nor holds a deploy: the lock is root's own, in a directory no
// one else can write.
func TestPlantedLockDeniesNothing(t *testing.T) {
	testenv.RequireRoot(t)
	for _, fifo := range []bool{false, true} {
		name := "file"
		if fifo {
			name = "fifo"
		}
		t.Run(name, func(t *testing.T) {
			root, bin := t.TempDir(), fakeBinDir(t)
			plantLock(t, root, fifo)
			r := apply(t, baseOptions(t, root, bin))
			if ev, ok := r.byStep()["lock"]; ok {
				t.Fatalf("the deploy was refused by the planted lock: %s", ev.Reason)
			}
			if errors.Is(r.err, ErrLocked) {
				t.Fatalf("apply = %v, want no lock refusal", r.err)
			}
		})
	}
}

// TestLockDirChecked: a lock directory that another user made (or a
// symlink, or a FIFO where the lock file goes) is a clear error naming
// it, never a silent refusal or a hang.
func TestLockDirChecked(t *testing.T) {
	testenv.RequireRoot(t)
	root := t.TempDir()
	dir := filepath.Join(root, hostpath.DeployRunDir)
	if err := os.MkdirAll(dir, 0o700); err != nil || os.Chown(dir, nobody, nobody) != nil {
		t.Fatalf("make %s: %v", dir, err)
	}
	if _, err := acquireLock(hostpath.Root(root), "test"); !errors.Is(err, rootdir.ErrUnsafe) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("acquireLock in a directory owned by uid %d = %v, want ErrUnsafe naming %s", nobody, err, dir)
	}
	if err := os.Chown(dir, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(root, hostpath.DeployLock), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(filepath.Join(root, hostpath.DeployLock), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	unix.Flock(int(w.Fd()), unix.LOCK_EX)
	if _, err := acquireLock(hostpath.Root(root), "test"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("acquireLock on a FIFO = %v, want a refusal naming it", err)
	}
}
