//go:build linux

package rootdir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// nobody is a uid that is neither root nor the test's.
const nobody = 65534

// TestOpen: root's own directory is made 0700 and kept so; one that
// another user made, a symlink, or an ancestor another user could change
// is refused with ErrUnsafe, and nothing is created through it.
func TestOpen(t *testing.T) {
	testenv.RequireRoot(t)
	const dir = "/run/left4me-deploy"
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, root string)
		unsafe bool
	}{
		{"fresh", func(*testing.T, string) {}, false},
		{"existing 0755 is made 0700", func(t *testing.T, root string) { mk(t, root+dir, 0o755, 0) }, false},
		{"owned by another user", func(t *testing.T, root string) { mk(t, root+dir, 0o700, nobody) }, true},
		{"a symlink to a dir of another user", func(t *testing.T, root string) {
			mk(t, root+"/elsewhere", 0o700, nobody)
			mk(t, root+"/run", 0o755, 0)
			if err := os.Symlink(root+"/elsewhere", root+dir); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a symlink to a dir of root", func(t *testing.T, root string) {
			mk(t, root+"/elsewhere", 0o700, 0)
			mk(t, root+"/run", 0o755, 0)
			if err := os.Symlink(root+"/elsewhere", root+dir); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a file", func(t *testing.T, root string) {
			mk(t, root+"/run", 0o755, 0)
			if err := os.WriteFile(root+dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"ancestor writable by all (like /run/lock)", func(t *testing.T, root string) { mk(t, root+"/run", os.ModeSticky|0o777, 0) }, true},
		{"ancestor writable by its group", func(t *testing.T, root string) { mk(t, root+"/run", 0o775, 0) }, true},
		{"ancestor owned by another user", func(t *testing.T, root string) { mk(t, root+"/run", 0o755, nobody) }, true},
		{"ancestor a symlink", func(t *testing.T, root string) {
			mk(t, root+"/real", 0o755, 0)
			if err := os.Symlink(root+"/real", root+"/run"); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.setup(t, root)
			d, err := Open(hostpath.Root(root), dir)
			if tc.unsafe {
				d.Close()
				if !errors.Is(err, ErrUnsafe) {
					t.Fatalf("Open = %v, want ErrUnsafe", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open = %v", err)
			}
			defer d.Close()
			if want := root + dir; d.Path() != want {
				t.Errorf("the handle is named %s, want %s", d.Path(), want)
			}
			var st unix.Stat_t
			if err := unix.Fstat(d.FD(), &st); err != nil || st.Mode&0o7777 != 0o700 || st.Uid != 0 || st.Mode&unix.S_IFMT != unix.S_IFDIR {
				t.Fatalf("fstat = %v, mode %#o uid %d; want a 0700 root directory", err, st.Mode, st.Uid)
			}
			if fi, err := os.Lstat(root + dir); err != nil || !fi.IsDir() {
				t.Fatalf("lstat %s: %v", dir, err)
			}
		})
	}
}

// TestLookup creates nothing and refuses what Open would have to fix.
func TestLookup(t *testing.T) {
	testenv.RequireRoot(t)
	root := t.TempDir()
	if _, err := Lookup(hostpath.Root(root), "/run/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Lookup of a missing dir = %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(root, "run")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Lookup created run/: %v", err)
	}
	mk(t, root+"/run/x", 0o755, 0)
	if _, err := Lookup(hostpath.Root(root), "/run/x"); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("Lookup of a 0755 dir = %v, want ErrUnsafe", err)
	}
}

func mk(t *testing.T, p string, mode os.FileMode, uid int) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}
