//go:build linux

package deploy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/deploytest"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/rootdir"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

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
			root, bin := t.TempDir(), deploytest.FakeBinDir(t)
			deploytest.PlantLock(t, root, fifo)
			r := apply(t, baseOptions(t, root, bin))
			if ev, ok := r.ByStep()["lock"]; ok {
				t.Fatalf("the deploy was refused by the planted lock: %s", ev.Reason)
			}
			if errors.Is(r.Err, ErrLocked) {
				t.Fatalf("apply = %v, want no lock refusal", r.Err)
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
	if err := os.MkdirAll(dir, 0o700); err != nil || os.Chown(dir, deploytest.Nobody, deploytest.Nobody) != nil {
		t.Fatalf("make %s: %v", dir, err)
	}
	if _, err := acquireLock(hostpath.Root(root), "test"); !errors.Is(err, rootdir.ErrUnsafe) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("acquireLock in a directory owned by uid %d = %v, want ErrUnsafe naming %s", deploytest.Nobody, err, dir)
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
