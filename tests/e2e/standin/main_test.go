//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

// TestView checks that a view records what a user of a merged dir sees,
// and that each of those properties changes the view.
func TestView(t *testing.T) {
	base := t.TempDir()
	build := func(t *testing.T, mutate func(t *testing.T, dir string)) string {
		dir, err := os.MkdirTemp(base, "tree")
		if err != nil {
			t.Fatal(err)
		}
		must(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "sub", "f"), []byte("content"), 0o644))
		must(t, os.Symlink("sub/f", filepath.Join(dir, "link")))
		if mutate != nil {
			mutate(t, dir)
		}
		var out bytes.Buffer
		if err := view([]string{dir}, &out); err != nil {
			t.Fatalf("view(%s): %v", dir, err)
		}
		return out.String()
	}
	ref := build(t, nil)
	for _, want := range []string{"sub dir 0755", "sub/f file 0644", "link symlink 0777", "-> sub/f"} {
		if !strings.Contains(ref, want) {
			t.Errorf("view lacks %q:\n%s", want, ref)
		}
	}
	if again := build(t, nil); again != ref {
		t.Errorf("two equal trees give different views:\n%s\n%s", ref, again)
	}

	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
	}{
		{"content", func(t *testing.T, d string) { os.WriteFile(filepath.Join(d, "sub", "f"), []byte("other"), 0o644) }},
		{"mode", func(t *testing.T, d string) { os.Chmod(filepath.Join(d, "sub", "f"), 0o600) }},
		{"link target", func(t *testing.T, d string) {
			os.Remove(filepath.Join(d, "link"))
			os.Symlink("sub", filepath.Join(d, "link"))
		}},
		{"extra entry", func(t *testing.T, d string) { os.WriteFile(filepath.Join(d, ".wh..wh..opq"), nil, 0o644) }},
		{"user xattr", func(t *testing.T, d string) {
			if err := unix.Setxattr(filepath.Join(d, "sub", "f"), "user.e2e", []byte("v"), 0); err != nil {
				testenv.Skip(t, "needs user xattrs on %s: %v", d, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := build(t, tt.mutate); got == ref {
				t.Errorf("view did not change with %s:\n%s", tt.name, got)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
