package steps

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostfile"
)

// A Guard that refuses what is at the directory stops both the look and
// the change: nothing is stat'ed through it or chmodded; a Guard that
// allows it sees the directory's own handle, and Ensure then sets the mode.
func TestDirGuard(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	refused := errors.New("a FUSE mount is on it")
	var calls int
	d := Dir{Path: dir, Mode: 0o750, Owner: hostfile.Unmanaged, Guard: func(fd int, path string) error {
		calls++
		if path != dir || fd < 0 {
			t.Errorf("Guard(%d, %q), want a handle of %s", fd, path, dir)
		}
		return refused
	}}
	if _, err := d.Check(); !errors.Is(err, refused) {
		t.Fatalf("Check = %v, want the guard's refusal", err)
	}
	if err := d.Ensure(); !errors.Is(err, refused) {
		t.Fatalf("Ensure = %v, want the guard's refusal", err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o777 || calls != 2 {
		t.Fatalf("mode %v after a refusing guard (%d calls), want 0777 untouched", fi.Mode(), calls)
	}
	d.Guard = func(int, string) error { return nil }
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	if st, err := d.Check(); err != nil || !st.Same {
		t.Fatalf("Check after Ensure = %+v, %v; want the same", st, err)
	}
}
