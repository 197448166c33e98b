//go:build linux

package daytwo

import (
	"context"
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

	deploy "github.com/left4me/left4me-deploy"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/steps"
)

// Helpers shared by the tests that deploy into a throwaway root and then
// ask status or rollback about it, as package deploy's own tests do.

// requireTools skips (fails in CI) unless the test can install for real:
// root, visudo and systemd-analyze.
func requireTools(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
	if _, err := steps.RealProbe().LookPath("visudo"); err != nil {
		testenv.Skip(t, "needs visudo (Debian package sudo): %v", err)
	}
	testenv.RequireBinary(t, "systemd-analyze", "systemd")
}

// fakeBinDir holds small stand-ins for the four installed programs.
func fakeBinDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, b := range steps.Programs {
		if err := os.WriteFile(filepath.Join(dir, b.Name), []byte("#!/bin/sh\necho "+b.Name+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type run struct {
	events []steps.Event
	sum    steps.Event
	err    error
}

// byStep returns "status: reason" of every step event, keyed by step.
func (r run) byStep() map[string]steps.Event {
	m := map[string]steps.Event{}
	for _, e := range r.events {
		if e.Type == "step" {
			m[e.Step] = e
		}
	}
	return m
}

func (r run) String() string {
	var b strings.Builder
	for _, e := range r.events {
		b.WriteString(steps.FormatText(e))
	}
	return b.String()
}

func baseOptions(t testing.TB, root, bin string) deploy.Options {
	return deploy.Options{Root: hostpath.Root(root), BinDir: bin, Runner: runner.Exec{}}
}

func apply(t testing.TB, o deploy.Options) run {
	t.Helper()
	var r run
	var mu sync.Mutex
	o.Emit = func(e steps.Event) { mu.Lock(); r.events = append(r.events, e); mu.Unlock() }
	r.sum, r.err = deploy.Apply(context.Background(), o)
	return r
}

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

type entry struct {
	mode     fs.FileMode
	uid, gid uint32
	size     int64
	mtime    int64
	sum      [32]byte
}

// snapshot records every path under root with its mode, owner, size, mtime
// (ns) and content checksum. The lock file is left out: it names the
// current holder on every run and lives in /run, not in the installation.
func snapshot(t testing.TB, root string) map[string]entry {
	t.Helper()
	m := map[string]entry{}
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
		e := entry{mode: fi.Mode(), uid: st.Uid, gid: st.Gid, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.sum = sha256.Sum256(b)
		}
		m[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func diffSnapshots(a, b map[string]entry) []string {
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
