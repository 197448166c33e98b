//go:build linux

package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

func TestMain(m *testing.M) {
	// Helper-process modes of the randomised truth test: run a workload
	// in the current directory, print a treeview.
	if file := os.Getenv("L4M_TMG_OPS"); file != "" {
		os.Exit(runOps(file))
	}
	if dir := os.Getenv("L4M_TMG_TREEVIEW"); dir != "" {
		os.Exit(printTreeview(dir, os.Getenv("L4M_TMG_PROBES")))
	}
	// Helper-process mode: migrate a tree and print the peak RSS (see
	// migrateMeasured).
	if root := os.Getenv("L4M_TMG_MEASURE"); root != "" {
		os.Exit(measureMigrate(root))
	}
	testenv.ReexecInNamespace(m)
}

// view records a tree: one line per entry with path, type, mode, owner,
// symlink target, device, content hash and xattrs. With all=false (a merged
// view) only user.* xattrs count, as a program using the mount sees them;
// with all=true (a raw upper dir) every xattr does.
func view(dir string, all bool) ([]string, error) {
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		// A broken view (a listed name that cannot be looked up) is part of
		// the view, not a failure to record it.
		if err != nil {
			lines = append(lines, rel+" error "+errText(err))
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			lines = append(lines, rel+" error "+errText(err))
			return nil
		}
		typ := typeName(st.Mode)
		line := fmt.Sprintf("%s %s %04o %d:%d", rel, typ, st.Mode&0o7777, st.Uid, st.Gid)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " -> " + t
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			line += " sha256:" + hex.EncodeToString(sum[:8])
		case unix.S_IFCHR, unix.S_IFBLK:
			line += fmt.Sprintf(" dev %d/%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if typ != "symlink" || all {
			x, err := xattrLine(p, all)
			if err != nil {
				return err
			}
			line += x
		}
		lines = append(lines, line)
		return nil
	})
	return lines, err
}

func errText(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

func xattrLine(p string, all bool) (string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err == unix.ENOTSUP {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("llistxattr %s: %w", p, err)
	}
	var names []string
	for _, b := range bytes.Split(buf[:n], []byte{0}) {
		if s := string(b); s != "" && (all || strings.HasPrefix(s, "user.")) {
			names = append(names, s)
		}
	}
	sort.Strings(names)
	var out strings.Builder
	for _, name := range names {
		v := make([]byte, 64<<10)
		n, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			return "", fmt.Errorf("lgetxattr %s %s: %w", p, name, err)
		}
		fmt.Fprintf(&out, " %s=%q", name, v[:n])
	}
	return out.String(), nil
}

func mustView(t *testing.T, dir string, all bool) []string {
	t.Helper()
	v, err := view(dir, all)
	if err != nil {
		t.Fatalf("view %s: %v", dir, err)
	}
	return v
}

// diffLines returns a readable difference of two views, "" when equal.
func diffLines(want, got []string) string {
	w := map[string]bool{}
	g := map[string]bool{}
	for _, l := range want {
		w[l] = true
	}
	for _, l := range got {
		g[l] = true
	}
	var out []string
	for _, l := range want {
		if !g[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range got {
		if !w[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// tree is a left4me root for one test.
type tree struct {
	root hostpath.Root
}

func newTree(t *testing.T, names ...string) *tree {
	t.Helper()
	tr := &tree{root: hostpath.Root(t.TempDir())}
	for _, d := range []string{hostpath.StateDir, hostpath.InstallationDir, hostpath.RuntimeDir} {
		mkdir(t, tr.root.Join(d))
	}
	for _, n := range names {
		for _, d := range []string{hostpath.Upper(n), hostpath.Work(n), hostpath.Merged(n)} {
			mkdir(t, tr.root.Join(d))
		}
	}
	return tr
}

func (tr *tree) upper(n string) string  { return tr.root.Join(hostpath.Upper(n)) }
func (tr *tree) work(n string) string   { return tr.root.Join(hostpath.Work(n)) }
func (tr *tree) merged(n string) string { return tr.root.Join(hostpath.Merged(n)) }
func (tr *tree) lower() string          { return tr.root.Join(hostpath.InstallationDir) }

func mkdir(t testing.TB, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t testing.TB, p, content string) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func setx(t testing.TB, p, name, val string) {
	t.Helper()
	if err := unix.Lsetxattr(p, name, []byte(val), 0); err != nil {
		t.Fatalf("lsetxattr %s %s: %v", p, name, err)
	}
}

func whiteout(t testing.TB, p string) {
	t.Helper()
	if err := unix.Mknod(p, unix.S_IFCHR, 0); err != nil {
		t.Fatalf("mknod %s: %v", p, err)
	}
}

func symlink(t testing.TB, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// runMigrate runs the migration on tr with --root semantics.
func runMigrate(t *testing.T, tr *tree, opts Options) *Report {
	t.Helper()
	opts.Root = tr.root
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// fakeServices is a service.Manager that records calls; failStart and
// failRestart make those calls fail for the units they name.
type fakeServices struct {
	mu          sync.Mutex
	calls       []string
	active      []string
	web         bool
	failStart   map[string]error
	failRestart map[string]error
	// onStart, when set, runs at each start (to look at the host then).
	onStart func(unit string)
}

func (f *fakeServices) rec(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fakeServices) IsActive(_ context.Context, u string) (bool, error) {
	f.rec("is-active " + u)
	return f.web, nil
}

func (f *fakeServices) ListActive(_ context.Context, p string) ([]string, error) {
	f.rec("list-active " + p)
	return f.active, nil
}

func (f *fakeServices) Start(_ context.Context, u ...string) error {
	f.rec("start " + strings.Join(u, " "))
	for _, unit := range u {
		if f.onStart != nil {
			f.onStart(unit)
		}
		if err := f.failStart[unit]; err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeServices) Stop(_ context.Context, u ...string) error {
	f.rec("stop " + strings.Join(u, " "))
	return nil
}

func (f *fakeServices) Restart(_ context.Context, u ...string) error {
	f.rec("restart " + strings.Join(u, " "))
	for _, unit := range u {
		if err := f.failRestart[unit]; err != nil {
			return err
		}
	}
	return nil
}

// fakeMounter is a Mounter that records its calls in the same list as the
// services, so a test sees their order.
type fakeMounter struct {
	log         *fakeServices
	failMount   map[string]error
	failUnmount map[string]error
}

func (f *fakeMounter) Mount(_ context.Context, name string) error {
	f.log.rec("mount " + name)
	return f.failMount[name]
}

func (f *fakeMounter) Unmount(_ context.Context, name string) error {
	f.log.rec("unmount " + name)
	return f.failUnmount[name]
}

func (f *fakeServices) DaemonReload(context.Context) error {
	f.rec("daemon-reload")
	return nil
}

// mountOverlay mounts kernel overlayfs at merged, and unmounts it on cleanup.
func mountOverlay(t *testing.T, lower, upper, work, merged string) {
	t.Helper()
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatalf("mount overlay %s: %v", opts, err)
	}
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })
}

func unmount(t *testing.T, p string) {
	t.Helper()
	if err := unix.Unmount(p, 0); err != nil {
		t.Fatalf("umount %s: %v", p, err)
	}
}

// newWorldTree is a tree for instance name in a fresh 0755 directory under
// the system temp dir (not t.TempDir, whose 0700 parents a fuse-overlayfs
// user could not enter), with its lower, upper, work and merged dirs.
func newWorldTree(t *testing.T, prefix, name string) *tree {
	t.Helper()
	base, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := &tree{root: hostpath.Root(base)}
	for _, d := range []string{hostpath.InstallationDir, hostpath.Upper(name), hostpath.Work(name), hostpath.Merged(name)} {
		mkdir(t, tr.root.Join(d))
	}
	return tr
}
