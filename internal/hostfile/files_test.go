package hostfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFileCheckAndWrite(t *testing.T) {
	dir := t.TempDir()
	f := File{Path: filepath.Join(dir, "a"), Data: []byte("x\n"), Mode: 0o640, Owner: Unmanaged}
	st, err := f.Check()
	if err != nil || st.Exists || st.Same {
		t.Fatalf("Check(missing) = %+v, %v", st, err)
	}
	if err := f.Write(nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Check(); !st.Same {
		t.Fatal("Check after Write: not the same")
	}
	if fi, _ := os.Stat(f.Path); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", fi.Mode())
	}
	os.Chmod(f.Path, 0o644)
	if st, _ := f.Check(); st.Same {
		t.Fatal("Check ignores a mode change")
	}
	os.Chmod(f.Path, 0o640)
	os.WriteFile(f.Path, []byte("y\n"), 0o640)
	if st, _ := f.Check(); st.Same || string(st.Data) != "y\n" {
		t.Fatalf("Check after edit = %+v", st)
	}
}

// A failed validation leaves the old file and no temporary file behind.
func TestFileWriteValidateFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a")
	os.WriteFile(path, []byte("old\n"), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(path, old, old)
	before, _ := os.Stat(path)
	f := File{Path: path, Data: []byte("new\n"), Mode: 0o644, Owner: Unmanaged}
	var seen string
	err := f.Write(func(tmp string) error {
		b, _ := os.ReadFile(tmp)
		seen = string(b)
		return errors.New("rejected")
	})
	if err == nil || seen != "new\n" {
		t.Fatalf("Write = %v, validate saw %q", err, seen)
	}
	b, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(b) != "old\n" || !fi.ModTime().Equal(before.ModTime()) {
		t.Fatalf("old file changed: %q %v", b, fi.ModTime())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("%d entries, want 1", len(entries))
	}
}

// Write replaces a symlink at the path instead of writing through it.
func TestFileWriteReplacesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("keep\n"), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	f := File{Path: link, Data: []byte("new\n"), Mode: 0o644, Owner: Unmanaged}
	if st, _ := f.Check(); st.Exists || st.Same {
		t.Fatalf("Check(symlink) = %+v, want not existing", st)
	}
	if err := f.Write(nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep\n" {
		t.Fatalf("write went through the symlink: target now %q", b)
	}
	if fi, _ := os.Lstat(link); !fi.Mode().IsRegular() {
		t.Fatal("symlink not replaced by a regular file")
	}
}

func TestCopyFileChecksum(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.WriteFile(src, []byte("\x7fELF binary"), 0o755)
	c := CopyFile{Source: src, Path: filepath.Join(dir, "dst"), Mode: 0o755, Owner: Unmanaged}
	if st, err := c.Check(); err != nil || st.Same || st.Exists {
		t.Fatalf("Check(missing) = %+v, %v", st, err)
	}
	if err := c.Write(); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Check(); !st.Same {
		t.Fatal("Check after Write: not the same")
	}
	os.WriteFile(src, []byte("\x7fELF binary v2"), 0o755)
	if st, _ := c.Check(); st.Same || st.SourceSum == st.InstalledSum {
		t.Fatal("Check missed a changed source")
	}
}
