//go:build linux

package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/left4me/left4me-deploy/internal/deploytest"
	"github.com/left4me/left4me-deploy/overlay"
)

// readCap reads the cap file the way left4me-overlay accepts it: a regular
// file of root's that no one else may write, of a few bytes, holding a
// number ParseMaxMounts takes.
func readCap(t *testing.T, root string) int {
	t.Helper()
	p := filepath.Join(root, overlay.MaxMountsFile)
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatalf("cap file: %v", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 || fi.Size() > 64 {
		t.Fatalf("%s is %v uid %d size %d: the helper would refuse it", overlay.MaxMountsFile, fi.Mode(), st.Uid, fi.Size())
	}
	b, _ := os.ReadFile(p)
	n, err := overlay.ParseMaxMounts(string(b))
	if err != nil {
		t.Fatalf("cap file %q: %v", b, err)
	}
	return n
}

// The host-wide overlay cap is a deploy setting: the default on a first
// run, a --max-mounts given once kept by later runs, a new one changing
// exactly the step that owns the file.
func TestMaxMountsSetting(t *testing.T) {
	deploytest.RequireTools(t)
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	if r := apply(t, baseOptions(t, root, bin)); r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, r)
	}
	if n := readCap(t, root); n != overlay.DefaultMaxMounts {
		t.Fatalf("cap after a first run = %d, want the default %d", n, overlay.DefaultMaxMounts)
	}
	o := baseOptions(t, root, bin)
	o.MaxMounts = 8
	if r := apply(t, o); r.Err != nil || strings.Join(r.ChangedSteps(), ",") != "entrypoints" {
		t.Fatalf("apply --max-mounts 8: %v, changed %v, want only entrypoints\n%s", r.Err, r.ChangedSteps(), r)
	}
	again := apply(t, baseOptions(t, root, bin))
	if again.Err != nil || again.Sum.Changed != 0 {
		t.Fatalf("apply without --max-mounts after one with it: %v, want changed=0\n%s", again.Err, again)
	}
	if n := readCap(t, root); n != 8 {
		t.Fatalf("cap after a run without --max-mounts = %d, want the 8 given earlier", n)
	}
	// A file the helper would refuse (here: one it cannot parse) is
	// replaced by the default, not kept.
	if err := os.WriteFile(filepath.Join(root, overlay.MaxMountsFile), []byte("many\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := apply(t, baseOptions(t, root, bin)); r.Err != nil || strings.Join(r.ChangedSteps(), ",") != "entrypoints" {
		t.Fatalf("apply over a bad cap file: %v, changed %v\n%s", r.Err, r.ChangedSteps(), r)
	}
	if n := readCap(t, root); n != overlay.DefaultMaxMounts {
		t.Fatalf("cap after a bad file = %d, want the default", n)
	}
}
