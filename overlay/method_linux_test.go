//go:build linux

package overlay

import (
	"errors"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// TestForcedMethodRefusedUpFront runs the helper's code as if on Debian 11,
// 12 and 13 kernels with a method each lacks: the refusal comes before
// anything is opened, so even print-only mode and umount get it, and nothing
// is mounted.
func TestForcedMethodRefusedUpFront(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	writeFile(t, f.real("/var/lib/left4me/installation/f"), "base\n")
	f.instance("s1", "/var/lib/left4me/installation")
	for _, tt := range []struct {
		release string
		m       Method
	}{
		{"5.10.0-30-amd64", MethodLowerdirPlus},
		{"6.1.0-27-amd64", MethodFD},
		{"6.1.0-27-amd64", MethodLowerdirPlus},
		{"6.12.48+deb13-amd64", MethodFD},
	} {
		for _, print := range []bool{false, true} {
			cfg := Config{Root: hostpath.Root(f.root), Method: tt.m, Release: tt.release, PrintOnly: print}
			_, err := cfg.Mount("s1")
			want := "mount s1: " + MethodAvailable(tt.release, tt.m).Error()
			if err == nil || err.Error() != want || !errors.Is(err, ErrMethodUnavailable) {
				t.Fatalf("Config{Method: %v, Release: %q, PrintOnly: %v}.Mount(s1) = %v, want %q", tt.m, tt.release, print, err, want)
			}
			if ms := mountsUnder(t, "self", f.root); len(ms) != 0 {
				t.Fatalf("a refused mount left %+v", ms)
			}
		}
		if _, err := (Config{Root: hostpath.Root(f.root), Method: tt.m, Release: tt.release}).Unmount("s1"); !errors.Is(err, ErrMethodUnavailable) {
			t.Fatalf("Unmount with %v on %s = %v, want ErrMethodUnavailable", tt.m, tt.release, err)
		}
	}
	// The refusals were about the method, not the tree: the running kernel
	// with its own method mounts it.
	auto := Config{Root: hostpath.Root(f.root)}
	if _, err := auto.Mount("s1"); err != nil {
		t.Fatalf("auto on this kernel: %v", err)
	}
	if _, err := auto.Unmount("s1"); err != nil {
		t.Fatal(err)
	}
}
