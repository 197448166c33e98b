//go:build linux

package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/internal/rootdir"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/migrate"
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

// TestStatusReadsNoPlantedFile: what the state root's owner can put where
// status reads the migration report (a FIFO with a writer that never
// writes, a 1 TiB sparse file, a symlink to a root-only file) neither
// hangs status, nor makes it allocate the file's size, nor makes it read
// and print the link's target.
func TestStatusReadsNoPlantedFile(t *testing.T) {
	testenv.RequireRoot(t)
	secret := filepath.Join(t.TempDir(), "root-only")
	if err := os.WriteFile(secret, []byte(`{"error":"SECRET-OF-ROOT","instances":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, p string)
		want  string
	}{
		{"fifo", func(t *testing.T, p string) {
			if err := unix.Mkfifo(p, 0o666); err != nil {
				t.Fatal(err)
			}
			w, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.Close() })
		}, "not a regular file"},
		{"sparse 1 TiB", func(t *testing.T, p string) {
			if err := os.WriteFile(p, nil, 0o644); err != nil || os.Truncate(p, 1<<40) != nil {
				t.Fatalf("make a sparse file: %v", err)
			}
		}, "larger than allowed"},
		{"symlink to a root-only file", func(t *testing.T, p string) {
			if err := os.Symlink(secret, p); err != nil {
				t.Fatal(err)
			}
		}, "symbolic links"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, bin := t.TempDir(), fakeBinDir(t)
			p := filepath.Join(root, migrate.ReportFile)
			if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, p)
			os.Lchown(p, nobody, nobody)
			st, _, _ := Status(context.Background(), baseOptions(t, root, bin))
			if got := st.Migration.Report; !strings.Contains(got, "unreadable") || !strings.Contains(got, tc.want) {
				t.Errorf("status migration report = %q, want unreadable: %s", got, tc.want)
			}
			if strings.Contains(st.Migration.Report, "SECRET") {
				t.Errorf("status printed the root-only file a link points at: %q", st.Migration.Report)
			}
		})
	}
}

// TestClaimLegacyLock: before a rollback runs an installer that still locks
// in /run/lock, what another user planted there (a file with a forged
// holder and an flock held on it, a flocked FIFO) is replaced by a file
// only root can open, so that installer's lock is its own.
func TestClaimLegacyLock(t *testing.T) {
	testenv.RequireRoot(t)
	for _, fifo := range []bool{false, true} {
		root := t.TempDir()
		plantLock(t, root, fifo)
		if err := ClaimLegacyLock(hostpath.Root(root)); err != nil {
			t.Fatalf("ClaimLegacyLock (fifo %v) = %v", fifo, err)
		}
		p := filepath.Join(root, LegacyDeployLock)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != 0 || st.Mode&0o777 != 0o600 {
			t.Fatalf("after ClaimLegacyLock %s: %v, mode %#o uid %d; want a root-owned 0600 file", p, err, st.Mode, st.Uid)
		}
		// What the old installer does: open, then a non-blocking flock.
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			t.Errorf("the old installer's flock after ClaimLegacyLock (fifo %v) = %v", fifo, err)
		}
		f.Close()
		if err := ClaimLegacyLock(hostpath.Root(root)); err != nil {
			t.Fatalf("second ClaimLegacyLock = %v", err)
		}
	}
}

// TestStatusReadsRootsReport: a migration keeps root's own copy of its
// report, and status reads that one, not what the state root's owner put
// in place of the state root's copy.
func TestStatusReadsRootsReport(t *testing.T) {
	requireTools(t)
	root, bin := t.TempDir(), fakeBinDir(t)
	if r := apply(t, baseOptions(t, root, bin)); r.err != nil {
		t.Fatalf("apply: %v\n%s", r.err, r)
	}
	own := filepath.Join(root, hostpath.DeployMigrationReport)
	var st unix.Stat_t
	if err := unix.Lstat(own, &st); err != nil || st.Mode&0o777 != 0o600 || st.Uid != 0 {
		t.Fatalf("root's copy of the migration report %s: %v, mode %#o uid %d; want root's 0600 file", own, err, st.Mode, st.Uid)
	}
	planted := filepath.Join(root, migrate.ReportFile)
	os.Remove(planted)
	if err := os.WriteFile(planted, []byte(`{"error":"FORGED","instances":[{},{},{}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _, _ := Status(context.Background(), baseOptions(t, root, bin))
	if got := s.Migration.Report; strings.Contains(got, "FORGED") || !strings.HasPrefix(got, "0 instances") {
		t.Fatalf("status migration report = %q, want root's copy (0 instances), not the state root's", got)
	}
}
