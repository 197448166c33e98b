//go:build linux

package fsat

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzOpen opens arbitrary relative names below a directory full of
// symlinks pointing out of it: whatever opens must lie beneath it.
func FuzzOpen(f *testing.F) {
	for _, s := range []string{"a", "a/b/c", "..", "link/x", "a/up/outside", "/etc", "a/./b/../b", "dotdot/base", "a//b", "\x00", ""} {
		f.Add(s)
	}
	base, _ := tree(f)
	bfd, err := unix.Open(base, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { unix.Close(bfd) })
	f.Fuzz(func(t *testing.T, name string) {
		for _, opt := range []Opt{0, NoXdev} {
			fd, err := OpenRaw(bfd, name, unix.O_PATH, 0, opt)
			if err != nil {
				continue
			}
			got, rerr := os.Readlink(ProcFD(fd))
			unix.Close(fd)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if got != base && !strings.HasPrefix(got, base+"/") {
				t.Fatalf("OpenRaw(%q) opened %s, outside %s", name, got, base)
			}
		}
	})
}

// FuzzRemoveAll builds a tree from the input (directories, files, symlinks
// aimed out of it, hard links to a file outside) and removes it: the tree
// goes, and nothing outside it is touched.
func FuzzRemoveAll(f *testing.F) {
	for _, s := range []string{"d", "dddf", "dsds", "dhdhf", "ddddddddddddddddddddddddl..f", "fsh"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 400 {
			ops = ops[:400]
		}
		dir := t.TempDir()
		outside := filepath.Join(dir, "outside")
		keep := filepath.Join(outside, "keep")
		write(t, keep, "k")
		victim := filepath.Join(dir, "base", "victim")
		mkdirAll(t, victim)
		cur := victim
		for i, op := range ops {
			n := filepath.Join(cur, string(rune('a'+i%26))+string(rune('a'+i/26%26)))
			switch op % 6 {
			case 0: // descend into a new directory
				if os.Mkdir(n, 0o755) == nil {
					cur = n
				}
			case 1:
				os.WriteFile(n, []byte{op}, 0o644)
			case 2:
				os.Symlink(outside, n)
			case 3:
				os.Link(keep, n)
			case 4: // back up one level
				if cur != victim {
					cur = filepath.Dir(cur)
				}
			case 5:
				os.Symlink("../../../../../../../../..", n)
			}
		}
		bfd, err := unix.Open(filepath.Dir(victim), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(bfd)
		if err := RemoveAll(bfd, "victim", victim); err != nil {
			t.Fatalf("RemoveAll(%q) = %v", ops, err)
		}
		if _, err := os.Lstat(victim); !os.IsNotExist(err) {
			t.Fatalf("RemoveAll(%q) left the tree: %v", ops, err)
		}
		if b, err := os.ReadFile(keep); err != nil || string(b) != "k" {
			t.Fatalf("RemoveAll(%q) touched %s: %q, %v", ops, keep, b, err)
		}
	})
}
