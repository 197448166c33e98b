package steps

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostfile"
)

// A symlink where a state directory belongs is refused, never followed:
// the unprivileged user owns the state root and could plant one.
func TestDirRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "etc")
	os.Mkdir(victim, 0o755)
	link := filepath.Join(dir, "runtime")
	os.Symlink(victim, link)
	d := Dir{Path: link, Mode: 0o700, Owner: hostfile.Unmanaged}
	if _, err := d.Check(); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Check(symlink) = %v, want refusal", err)
	}
	if err := d.Ensure(); err == nil {
		t.Fatal("Ensure(symlink) = nil, want refusal")
	}
	if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o755 {
		t.Fatalf("symlink target's mode changed to %v", fi.Mode())
	}
}

func TestDirEnsure(t *testing.T) {
	dir := t.TempDir()
	d := Dir{Path: filepath.Join(dir, "a", "b"), Mode: 0o750, Owner: hostfile.Unmanaged}
	if st, _ := d.Check(); st.Exists {
		t.Fatal("exists before Ensure")
	}
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	st, _ := d.Check()
	if !st.Exists || !st.Same || st.Mode != 0o750 {
		t.Fatalf("after Ensure: %+v", st)
	}
	os.Chmod(d.Path, 0o777)
	if st, _ := d.Check(); st.Same {
		t.Fatal("Check ignores a mode change")
	}
	keep := Dir{Path: d.Path, Mode: 0o755, Owner: hostfile.Unmanaged, KeepExisting: true}
	if st, _ := keep.Check(); !st.Same {
		t.Fatal("KeepExisting dir reported different")
	}
}
