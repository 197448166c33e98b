//go:build linux

package overlay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

// countOurOverlays counts the overlays of this helper below dir.
func countOurOverlays(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, e := range mountsUnder(t, "self", dir) {
		if e.FSType == "overlay" && strings.HasPrefix(e.Source, "left4me-") {
			n++
		}
	}
	return n
}

// TestMountCap: with a cap of 3, three instances mount, the fourth is
// refused with the reason and nothing is mounted for it; after one
// umount, one more mounts. The count is the namespace's mount table, not
// a counter of the owner's.
func TestMountCap(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	if n := countOurOverlays(t, "/tmp"); n != 0 {
		t.Fatalf("%d overlays of the helper are mounted before the test", n)
	}
	base := f.layer("base", map[string]string{"f": "x"})
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		f.instance(n, base)
	}
	env := f.helperEnv(EnvMaxMounts + "=3")
	run := func(verb, name string) (string, int) {
		_, errs, code := f.helper(env, verb, name)
		return errs, code
	}
	for _, n := range []string{"a", "b", "c"} {
		if errs, code := run("mount", n); code != 0 {
			t.Fatalf("mount %s = exit %d, %q", n, code, errs)
		}
	}
	want := "too many instance overlays mounted: 3 instance overlays are mounted on this host, the most left4me-overlay mounts (" + MaxMountsFile
	if errs, code := run("mount", "d"); code != 1 || !strings.Contains(errs, want) {
		t.Fatalf("4th mount = exit %d, %q; want exit 1 and %q", code, errs, want)
	}
	if ms := mountsUnder(t, "self", f.merged("d")); len(ms) != 0 {
		t.Fatalf("refused mount left %+v at d's merged", ms)
	}
	// Already mounted is no new mount: still fine at the cap.
	if errs, code := run("mount", "a"); code != 0 {
		t.Fatalf("mount a again at the cap = exit %d, %q", code, errs)
	}
	if errs, code := run("umount", "c"); code != 0 {
		t.Fatalf("umount c = exit %d, %q", code, errs)
	}
	if errs, code := run("mount", "d"); code != 0 {
		t.Fatalf("mount d after an umount = exit %d, %q", code, errs)
	}
	if errs, code := run("mount", "e"); code != 1 || !strings.Contains(errs, want) {
		t.Fatalf("mount e = exit %d, %q; want the cap again", code, errs)
	}
	if got := countOurOverlays(t, f.state); got != 3 {
		t.Fatalf("%d overlays of the helper mounted, want 3", got)
	}
}

// TestMaxMountsFile: the host's cap file is honoured only as a root-owned
// file no one else may write.
func TestMaxMountsFile(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	base := f.layer("base", map[string]string{"f": "x"})
	f.instance("a", base)
	p := f.real(MaxMountsFile)
	writeFile(t, p, "1\n")
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := f.helper(f.helperEnv(), "mount", "a"); code != 1 || !strings.Contains(errs, "writable by root only") {
		t.Fatalf("mount with a world-writable %s = exit %d, %q", MaxMountsFile, code, errs)
	}
	os.Chmod(p, 0o644)
	writeFile(t, p, "lots\n")
	if _, errs, code := f.helper(f.helperEnv(), "mount", "a"); code != 1 || !strings.Contains(errs, "want a number from 1 to") {
		t.Fatalf("mount with a bad %s = exit %d, %q", MaxMountsFile, code, errs)
	}
	writeFile(t, p, "1\n")
	f.mustHelper("mount", "a")
	f.mustHelper("umount", "a")
}

// TestCountInstanceOverlays: the kernel's count (listmount and statmount)
// and the mount table's agree, on instance overlays mounted by the helper,
// one mounted deep below other mounts, and mounts that only look like
// them (an overlay of an invalid or foreign tag, a tmpfs tagged like an
// instance overlay); where the kernel cannot answer the table's count is
// used.
func TestCountInstanceOverlays(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	before, err := countInstanceOverlaysTable()
	if err != nil {
		t.Fatal(err)
	}
	base := f.layer("base", map[string]string{"f": "x"})
	for _, n := range []string{"a", "b"} {
		f.instance(n, base)
		f.mustHelper("mount", n)
	}
	lower1, lower2 := f.real(base), f.real(f.layer("two", map[string]string{"g": "y"}))
	mnt := func(source, fsType, data string, parts ...string) string {
		t.Helper()
		dir := filepath.Join(append([]string{f.root, "other"}, parts...)...)
		mkdir(t, dir)
		if err := unix.Mount(source, dir, fsType, 0, data); err != nil {
			t.Fatalf("mount %s %s at %s: %v", fsType, source, dir, err)
		}
		return dir
	}
	ro := "lowerdir=" + lower1 + ":" + lower2
	mnt("left4me-Bad!", "overlay", ro, "bad")
	mnt("other-a", "overlay", ro, "foreign")
	mnt("left4me-t", "tmpfs", "", "tagged-tmpfs")
	mnt("outer", "tmpfs", "", "deep")
	mnt("inner", "tmpfs", "", "deep", "x")
	mnt("left4me-deep", "overlay", ro, "deep", "x", "y")
	want := before + 3

	table, err := countInstanceOverlaysTable()
	if err != nil {
		t.Fatal(err)
	}
	if table != want {
		t.Fatalf("mount table count = %d, want %d", table, want)
	}
	got, err := countInstanceOverlays()
	if err != nil || got != want {
		t.Fatalf("countInstanceOverlays = %d, %v; want %d", got, err, want)
	}
	kernel, ok := countInstanceOverlaysKernel()
	if !ok {
		if kernelCounts(t) {
			t.Fatal("the kernel could not count with listmount and statmount")
		}
		// Before 6.18 statmount gives no source: the count is the mount
		// table's, which is what was checked above.
		t.Logf("this kernel cannot count mounts with listmount and statmount (the source came with Linux 6.18): countInstanceOverlays used the mount table")
		return
	}
	if kernel != want {
		t.Fatalf("kernel count = %d, want %d (the mount table's)", kernel, want)
	}
}

// kernelCounts: whether the running kernel is one the kernel count must
// work on (statmount with the mount source, Linux 6.18 and later).
func kernelCounts(t *testing.T) bool {
	t.Helper()
	rel, err := KernelRelease()
	if err != nil {
		t.Fatal(err)
	}
	v, err := parseRelease(rel)
	if err != nil {
		t.Fatal(err)
	}
	return !v.less(kver{6, 18})
}
