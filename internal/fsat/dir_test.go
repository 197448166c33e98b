//go:build linux

package fsat

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDirOps: the changing operations of a Dir work on one name beneath
// it, never follow a final symlink, refuse a name of more than one
// component before any system call, and name the entry in their errors.
func TestDirOps(t *testing.T) {
	base, outside := tree(t)
	d, err := OpenTrusted(base, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	if err := d.Mkdir("new", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := d.Mkdir("new", 0o700); !errors.Is(err, unix.EEXIST) || err.Error() != "mkdir "+base+"/new: file exists" {
		t.Errorf("second mkdir: %v", err)
	}
	for _, bad := range []string{"", ".", "..", "a/new", "link/x"} {
		if err := d.Mkdir(bad, 0o700); !errors.Is(err, unix.EINVAL) {
			t.Errorf("Mkdir(%q) = %v, want EINVAL", bad, err)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("something was made outside: %v", err)
	}

	// Unlink of a symlink removes the link, not its target.
	if err := d.Unlink("tofile"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, "file")); err != nil {
		t.Errorf("the link's target went too: %v", err)
	}
	if err := d.Unlink("missing"); !errors.Is(err, unix.ENOENT) || err.Error() != "unlink "+base+"/missing: no such file or directory" {
		t.Errorf("unlink missing: %v", err)
	}
	if err := d.Rmdir("new"); err != nil {
		t.Fatal(err)
	}

	if err := d.MkWhiteout("wh"); err != nil {
		t.Fatal(err)
	}
	if e, err := d.Stat("wh"); err != nil || !e.IsWhiteout() {
		t.Errorf("whiteout: %+v, %v", e, err)
	}

	// A rename never replaces, and moves a symlink itself.
	if err := d.RenameNoReplace("link", d, "file"); !errors.Is(err, unix.EEXIST) {
		t.Errorf("rename over file: %v", err)
	}
	if err := d.RenameNoReplace("link", d, "moved"); err != nil {
		t.Fatal(err)
	}
	if e, err := d.Stat("moved"); err != nil || !e.IsLink() {
		t.Errorf("moved link: %+v, %v", e, err)
	}

	// Chown works on an O_PATH handle of a symlink without following it.
	l, err := d.Open("moved", unix.O_PATH, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Chown(123, 456); err != nil {
		t.Fatal(err)
	}
	if e, err := d.Stat("moved"); err != nil || e.UID != 123 || e.GID != 456 {
		t.Errorf("chowned link: %+v, %v", e, err)
	}
	var st unix.Stat_t
	if err := unix.Stat("/etc", &st); err != nil || st.Uid == 123 {
		t.Errorf("the link's target was chowned: %+v, %v", st, err)
	}

	// Reopen reads through the O_PATH handle's own inode.
	a, err := d.OpenDir("a", NoXdev)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ra, err := a.Reopen(unix.O_RDONLY | unix.O_DIRECTORY)
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	if names, err := ra.Names(10); err != nil || strings.Join(names, ",") != "b,up" || ra.Path() != base+"/a" {
		t.Errorf("names of the reopened %s: %q, %v", ra.Path(), names, err)
	}

	// Errors of a lookup name the entry below the Dir.
	if _, err := d.OpenDir("a/up", 0); !errors.Is(err, unix.ELOOP) || err.Error() != "open "+base+"/a/up: too many levels of symbolic links" {
		t.Errorf("open a/up: %v", err)
	}
	if _, err := d.Stat("missing"); err == nil || err.Error() != "statx "+base+"/missing: no such file or directory" {
		t.Errorf("stat missing: %v", err)
	}
	if err := d.Close(); err != nil || d.Close() != nil {
		t.Errorf("close twice: %v", err)
	}
	if _, err := OpenTrusted(filepath.Join(base, "missing"), unix.O_PATH); !errors.Is(err, unix.ENOENT) {
		t.Errorf("OpenTrusted missing: %v", err)
	}
}

func TestDirJoin(t *testing.T) {
	for _, tc := range []struct{ dir, name, want string }{
		{"/", "var", "/var"},
		{"/var/lib", "", "/var/lib"},
		{"/var/lib", ".", "/var/lib"},
		{"/var/lib", "left4me/runtime", "/var/lib/left4me/runtime"},
	} {
		if got := NewDir(-1, tc.dir).Join(tc.name); got != tc.want {
			t.Errorf("Join(%q, %q) = %q, want %q", tc.dir, tc.name, got, tc.want)
		}
	}
}
