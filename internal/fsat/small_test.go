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

// TestReadSmall: what the owner of a tree can plant where root reads a
// small file: a FIFO (the open and the read must not wait for a writer
// that never comes), a sparse file of a terabyte (free to make; reading it
// whole would run root out of memory), a symlink to a root-only file (root
// must not read it), a mount (no FUSE daemon may be asked). Only the plain
// file is read.
func TestReadSmall(t *testing.T) {
	base, _ := tree(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("root-only secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(base, "small"), "hello")
	if err := unix.Mkfifo(filepath.Join(base, "fifo"), 0o666); err != nil {
		t.Fatal(err)
	}
	// A writer that keeps the FIFO open and never writes: a blocking read
	// of it would never return.
	w, err := os.OpenFile(filepath.Join(base, "fifo"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	sparse := filepath.Join(base, "sparse")
	if err := os.WriteFile(sparse, nil, 0o644); err != nil || os.Truncate(sparse, 1<<40) != nil {
		t.Fatalf("make a 1 TiB sparse file: %v", err)
	}
	if err := os.Symlink(secret, filepath.Join(base, "tosecret")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(base, "grown"), strings.Repeat("x", 101))
	bfd := openPath(t, base)
	for _, tc := range []struct {
		name string
		want error
	}{
		{"small", nil},
		{"fifo", ErrNotRegular},
		{"sparse", ErrTooBig},
		{"grown", ErrTooBig},
		{"tosecret", unix.ELOOP},
		{"a", ErrNotRegular},
		{"missing", unix.ENOENT},
	} {
		b, err := ReadSmall(bfd, tc.name, "/host/"+tc.name, 100)
		if tc.want == nil && (err != nil || string(b) != "hello") || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("ReadSmall(%q) = %q, %v; want %v", tc.name, b, err, tc.want)
		}
		if strings.Contains(string(b), "secret") {
			t.Errorf("ReadSmall(%q) read the root-only file the link points at", tc.name)
		}
		var pe *os.PathError
		if err != nil && (!errors.As(err, &pe) || pe.Path != "/host/"+tc.name) {
			t.Errorf("ReadSmall(%q) error %v does not carry the path", tc.name, err)
		}
	}
	mnt := filepath.Join(base, "mnt")
	mountTmpfs(t, mnt)
	write(t, filepath.Join(mnt, "f"), "x")
	if _, err := ReadSmall(bfd, "mnt/f", "/host/mnt/f", 100); !errors.Is(err, unix.EXDEV) {
		t.Errorf("ReadSmall across a mount = %v, want EXDEV", err)
	}
}
