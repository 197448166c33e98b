//go:build linux

package daytwo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/deploytest"
	"github.com/left4me/left4me-deploy/internal/hostfile"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/release"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/steps"
)

// Files installed without their record (a run that died after its
// changes, before its release step) are recorded by the next run, which
// says how the record came about; rollback refuses while the history does
// not say what is installed.
func TestReleaseReconciled(t *testing.T) {
	deploytest.RequireTools(t)
	root := t.TempDir()
	o := baseOptions(t, root, deploytest.BinDirWith(t, "A"))
	if r := apply(t, o); r.Err != nil {
		t.Fatalf("deploy A: %v\n%s", r.Err, r)
	}
	a, _ := release.Last(hostpath.Root(root))
	binB := deploytest.BinDirWith(t, "B")
	// What a run of B killed before its release step leaves: B's l4d2ctl
	// in place, no record.
	c := hostfile.CopyFile{Source: filepath.Join(binB, "l4d2ctl"), Path: filepath.Join(root, hostpath.L4d2ctl), Mode: 0o755, Owner: hostfile.RootOwner}
	if err := c.Write(); err != nil {
		t.Fatal(err)
	}
	if _, err := PreviousRelease(hostpath.Root(root)); !errors.Is(err, ErrRecordMismatch) || !strings.Contains(err.Error(), hostpath.L4d2ctl) {
		t.Fatalf("PreviousRelease with files unlike the record = %v, want ErrRecordMismatch naming l4d2ctl", err)
	}
	// The rerun (B everywhere else too) changes the other binaries, so
	// make them B by hand as well: then the run itself changes nothing.
	for _, b := range append(steps.Programs, steps.Program{Name: steps.DeployBinary, Dest: hostpath.DeployTool}) {
		c := hostfile.CopyFile{Source: filepath.Join(binB, b.Name), Path: filepath.Join(root, b.Dest), Mode: 0o755, Owner: hostfile.RootOwner}
		if err := c.Write(); err != nil {
			t.Fatal(err)
		}
	}
	o.BinDir = binB
	r := apply(t, o)
	if r.Err != nil || r.Sum.Changed != 0 {
		t.Fatalf("rerun: %v, changed %d\n%s", r.Err, r.Sum.Changed, r)
	}
	hist, _ := release.ReadHistory(hostpath.Root(root))
	last := hist[len(hist)-1]
	if len(hist) != 2 || last.Kind != release.KindReconciled || last.From != a.ID || !strings.Contains(last.Note, hostpath.L4d2ctl) {
		t.Fatalf("history after the rerun: %d records, last %+v", len(hist), last)
	}
	if m, err := RecordMismatch(hostpath.Root(root), last); m != "" || err != nil {
		t.Fatalf("after reconciling: %q, %v", m, err)
	}
	rb, err := PreviousRelease(hostpath.Root(root))
	if err != nil || rb.Target.ID != a.ID || rb.Current.ID != last.ID {
		t.Fatalf("PreviousRelease after reconciling = %s from %s, %v; want %s", rb.Target.ID, rb.Current.ID, err, a.ID)
	}
	if r := apply(t, o); r.Err != nil || r.Sum.Changed != 0 {
		t.Fatalf("third run: %v, changed %d\n%s", r.Err, r.Sum.Changed, r)
	}
	if hist2, _ := release.ReadHistory(hostpath.Root(root)); len(hist2) != 2 {
		t.Fatalf("a matching run recorded again: %d records", len(hist2))
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
		deploytest.PlantLock(t, root, fifo)
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
