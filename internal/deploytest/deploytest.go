//go:build linux

// Package deploytest holds what the tests of a whole install share: the
// installer's tests (package deploy) and the day-two verbs' tests deploy
// into a throwaway root with stand-in programs, look at the run's events,
// compare the tree before and after, and plant what an unprivileged user
// can leave behind. It is for tests only; no binary links it.
package deploytest

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/steps"
)

// RequireTools skips (fails in CI) unless the test can install for real:
// root, visudo and systemd-analyze.
func RequireTools(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
	if _, err := steps.RealProbe().LookPath("visudo"); err != nil {
		testenv.Skip(t, "needs visudo (Debian package sudo): %v", err)
	}
	testenv.RequireBinary(t, "systemd-analyze", "systemd")
}

// FakeBinDir holds small stand-ins for the installed programs.
func FakeBinDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, b := range steps.Programs {
		if err := os.WriteFile(filepath.Join(dir, b.Name), []byte("#!/bin/sh\necho "+b.Name+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// BinDirWith is FakeBinDir with a tag in every program and an installer,
// so that each tag makes a different release.
func BinDirWith(t testing.TB, tag string) string {
	t.Helper()
	dir := FakeBinDir(t)
	for _, b := range steps.Programs {
		if err := os.WriteFile(filepath.Join(dir, b.Name), []byte("#!/bin/sh\n# "+tag+" "+b.Name+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, steps.DeployBinary), []byte("#!/bin/sh\n# installer "+tag+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Run is what one run of the plan emitted and returned.
type Run struct {
	mu     sync.Mutex
	Events []steps.Event
	Sum    steps.Event
	Err    error
}

// Emit is the run's Options.Emit: it keeps every event.
func (r *Run) Emit(e steps.Event) {
	r.mu.Lock()
	r.Events = append(r.Events, e)
	r.mu.Unlock()
}

// ByStep returns every step event, keyed by step.
func (r *Run) ByStep() map[string]steps.Event {
	m := map[string]steps.Event{}
	for _, e := range r.Events {
		if e.Type == "step" {
			m[e.Step] = e
		}
	}
	return m
}

// ChangedSteps lists the steps that changed something, in order.
func (r *Run) ChangedSteps() []string {
	var out []string
	for _, e := range r.Events {
		if e.Type == "step" && e.Status == steps.StatusChanged {
			out = append(out, e.Step)
		}
	}
	return out
}

// String is the run's events as the text output prints them.
func (r *Run) String() string {
	var b strings.Builder
	for _, e := range r.Events {
		b.WriteString(steps.FormatText(e))
	}
	return b.String()
}

// Entry is what Snapshot records of one path.
type Entry struct {
	Mode     fs.FileMode
	UID, GID uint32
	Size     int64
	Mtime    int64
	Sum      [32]byte
}

// Snapshot records every path under root with its mode, owner, size, mtime
// (ns) and content checksum. The lock file is left out: it names the
// current holder on every run and lives in /run, not in the installation.
func Snapshot(t testing.TB, root string) map[string]Entry {
	t.Helper()
	m := map[string]Entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == strings.TrimPrefix(hostpath.DeployLock, "/") {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := Entry{Mode: fi.Mode(), UID: st.Uid, GID: st.Gid, Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.Sum = sha256.Sum256(b)
		}
		m[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// DiffSnapshots lists what was removed, changed and added from a to b.
func DiffSnapshots(a, b map[string]Entry) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			out = append(out, "removed "+k)
		} else if v != w {
			out = append(out, fmt.Sprintf("changed %s: %+v -> %+v", k, v, w))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "added "+k)
		}
	}
	return out
}

// Nobody stands for the state root's owner (any uid but root).
const Nobody = 65534

// OldDeployLock is where the deploy lock used to be: in the 1777
// /run/lock, where any user can make the file first.
const OldDeployLock = "/run/lock/left4me-deploy.lock"

// PlantLock makes what an unprivileged user can leave at the old lock path
// below root (a file with a forged holder line, or a FIFO) and holds an
// flock on it through an open file of its own, as that user's process
// would, until the test ends.
func PlantLock(t *testing.T, root string, fifo bool) {
	t.Helper()
	p := filepath.Join(root, OldDeployLock)
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
	if err := os.Lchown(p, Nobody, Nobody); err != nil {
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
