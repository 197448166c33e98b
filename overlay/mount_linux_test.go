//go:build linux

package overlay

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instanceenv"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

var allMethods = []Method{MethodFD, MethodLowerdirPlus, MethodLegacy}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMountUmount mounts a two-layer instance with each mount method through
// the real helper and checks the kernel's view: the top layer shadows the
// lower one, new files land in upper, deletes become kernel whiteouts, the
// mount has the documented options, and mount/umount are idempotent.
func TestMountUmount(t *testing.T) {
	testenv.RequireNamespace(t)
	for _, m := range allMethods {
		t.Run(m.String(), func(t *testing.T) {
			f := newFixture(t)
			writeFile(t, f.real("/var/lib/left4me/installation/f"), "base\n")
			writeFile(t, f.real("/var/lib/left4me/installation/g"), "only-base\n")
			writeFile(t, f.real("/var/lib/left4me/installation/cfg/server.cfg"), "hostname base\n")
			top := f.layer("addon-1", map[string]string{"f": "top\n"})
			f.instance("s1", top, "/var/lib/left4me/installation")
			env := f.helperEnv("LEFT4ME_OVERLAY_METHOD=" + m.String())
			if refusedHere(t, f, env, m, "s1") {
				return
			}

			out, errs, code := f.helper(env, "mount", "s1")
			if code != 0 || !strings.Contains(out, "mounted s1") {
				t.Fatalf("mount s1 = exit %d, stdout %q, stderr %q", code, out, errs)
			}
			ms := mountsUnder(t, "self", f.root)
			if len(ms) != 1 || ms[0].MountPoint != f.merged("s1") || ms[0].FSType != "overlay" || ms[0].Source != "left4me-s1" {
				t.Fatalf("mounts under root = %+v, want one overlay left4me-s1 at %s", ms, f.merged("s1"))
			}
			for _, o := range []string{"nosuid", "nodev"} {
				if !strings.Contains(","+ms[0].MountOpts+",", ","+o+",") {
					t.Errorf("mount options %q lack %s", ms[0].MountOpts, o)
				}
			}
			if !strings.Contains(ms[0].SuperOpts, "redirect_dir=nofollow") {
				t.Errorf("super options %q lack redirect_dir=nofollow", ms[0].SuperOpts)
			}
			for _, o := range []string{"metacopy=on", "index=on", "xino=on"} {
				if strings.Contains(ms[0].SuperOpts, o) {
					t.Errorf("super options %q contain %s", ms[0].SuperOpts, o)
				}
			}
			merged := f.merged("s1")
			if got := readFile(t, filepath.Join(merged, "f")); got != "top\n" {
				t.Errorf("merged/f = %q, want the top layer's %q", got, "top\n")
			}
			if got := readFile(t, filepath.Join(merged, "g")); got != "only-base\n" {
				t.Errorf("merged/g = %q, want the lower layer's", got)
			}
			writeFile(t, filepath.Join(merged, "new"), "n\n")
			if got := readFile(t, filepath.Join(f.upper("s1"), "new")); got != "n\n" {
				t.Errorf("upper/new = %q, want the file written through merged", got)
			}
			if err := os.Remove(filepath.Join(merged, "g")); err != nil {
				t.Fatal(err)
			}
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(f.upper("s1"), "g"), &st); err != nil {
				t.Fatalf("deleting merged/g left no whiteout in upper: %v", err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
				t.Errorf("upper/g mode %#o rdev %d, want a 0/0 character device (kernel whiteout)", st.Mode, st.Rdev)
			}
			if _, err := os.Stat(filepath.Join(merged, "g")); !os.IsNotExist(err) {
				t.Errorf("merged/g after delete: %v, want not exist", err)
			}
			if _, err := os.Stat(filepath.Join(f.state, "installation/g")); err != nil {
				t.Errorf("the lower layer's g was touched: %v", err)
			}
			// setuid must not work through the mount.
			writeFile(t, filepath.Join(merged, "suid"), "x")

			out, errs, code = f.helper(env, "mount", "s1")
			if code != 0 || !strings.Contains(out, "already mounted") {
				t.Fatalf("second mount s1 = exit %d, stdout %q, stderr %q; want 0 and already mounted", code, out, errs)
			}
			if n := len(mountsUnder(t, "self", f.root)); n != 1 {
				t.Fatalf("after a second mount there are %d mounts, want 1", n)
			}
			out, errs, code = f.helper(env, "umount", "s1")
			if code != 0 || !strings.Contains(out, "unmounted s1") {
				t.Fatalf("umount s1 = exit %d, stdout %q, stderr %q", code, out, errs)
			}
			if ms := mountsUnder(t, "self", f.root); len(ms) != 0 {
				t.Fatalf("after umount: mounts %+v", ms)
			}
			out, errs, code = f.helper(env, "umount", "s1")
			if code != 0 || !strings.Contains(out, "not mounted") {
				t.Fatalf("second umount s1 = exit %d, stdout %q, stderr %q; want 0 and not mounted", code, out, errs)
			}
			// Remount: the upper's whiteout and new file persist.
			f.mustHelper("mount", "s1")
			if _, err := os.Stat(filepath.Join(merged, "g")); !os.IsNotExist(err) {
				t.Errorf("after remount merged/g: %v, want still deleted", err)
			}
			if got := readFile(t, filepath.Join(merged, "new")); got != "n\n" {
				t.Errorf("after remount merged/new = %q", got)
			}
			f.mustHelper("umount", "s1")
		})
	}
}

// refusedHere reports whether the running kernel lacks method m. If it does,
// it checks that the helper, forced to m, refuses to mount instance name
// with exactly MethodAvailable's message and mounts nothing.
func refusedHere(t *testing.T, f *fixture, env []string, m Method, name string) bool {
	t.Helper()
	rel, err := KernelRelease()
	if err != nil {
		t.Fatal(err)
	}
	lacks := MethodAvailable(rel, m)
	if lacks == nil {
		return false
	}
	want := fmt.Sprintf("left4me-overlay: mount %s: %v\n", name, lacks)
	out, errs, code := f.helper(env, "mount", name)
	if code != 1 || out != "" || errs != want {
		t.Fatalf("forced %s on kernel %s: mount %s = exit %d, stdout %q, stderr %q; want exit 1 and %q", m, rel, name, code, out, errs, want)
	}
	if ms := mountsUnder(t, "self", f.root); len(ms) != 0 {
		t.Fatalf("a refused mount left mounts %+v", ms)
	}
	t.Logf("kernel %s lacks %s; refused: %s", rel, m, strings.TrimSpace(errs))
	return true
}

// manyLayers creates n layers with long names (so the classic option string
// is far over one page) and an instance "big" on them.
func manyLayers(f *fixture, n int) {
	var layers []string
	pad := strings.Repeat("x", 120)
	for i := range n {
		id := fmt.Sprintf("layer-%03d-%s", i, pad)
		layers = append(layers, f.layer(id, map[string]string{
			"who":                     fmt.Sprintf("%d\n", i),
			fmt.Sprintf("only-%d", i): "x",
		}))
	}
	f.instance("big", layers...)
}

// Test500Layers mounts the kernel's maximum stack, with an option string of
// over 70,000 bytes if written out, with each mount method.
func Test500Layers(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	manyLayers(f, instanceenv.MaxLayers)
	env := readFile(t, filepath.Join(f.state, "runtime/big/instance.env"))
	if len(env) < 16*4096 {
		t.Fatalf("instance.env is only %d bytes; the test wants paths far over one page", len(env))
	}
	for _, m := range allMethods {
		t.Run(m.String(), func(t *testing.T) {
			env := f.helperEnv("LEFT4ME_OVERLAY_METHOD=" + m.String())
			if refusedHere(t, f, env, m, "big") {
				return
			}
			out, errs, code := f.helper(env, "mount", "big")
			if code != 0 {
				t.Fatalf("mount big (500 layers) = exit %d, stdout %q, stderr %q", code, out, errs)
			}
			merged := f.merged("big")
			if got := readFile(t, filepath.Join(merged, "who")); got != "0\n" {
				t.Errorf("merged/who = %q, want the topmost layer's 0", got)
			}
			for _, i := range []int{0, 1, 250, 498, 499} {
				if _, err := os.Stat(filepath.Join(merged, fmt.Sprintf("only-%d", i))); err != nil {
					t.Errorf("layer %d's file is not visible: %v", i, err)
				}
			}
			f.mustHelper("umount", "big")
			if ms := mountsUnder(t, "self", f.root); len(ms) != 0 {
				t.Fatalf("after umount: mounts %+v", ms)
			}
		})
	}
}

// TestRefusedOnDisk covers every refusal that needs the file system: each
// case prepares a hostile tree, the helper must exit 1 with one line on
// stderr naming the problem, and nothing may be mounted.
func TestRefusedOnDisk(t *testing.T) {
	testenv.RequireNamespace(t)
	const I = "/var/lib/left4me/installation"
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture, outside string)
		want  string
	}{
		{"missing instance", func(t *testing.T, f *fixture, _ string) {
			os.RemoveAll(filepath.Join(f.state, "runtime/s1"))
		}, "runtime/s1 does not exist"},
		{"missing instance.env", func(t *testing.T, f *fixture, _ string) {
			os.Remove(filepath.Join(f.state, "runtime/s1/instance.env"))
		}, "instance.env does not exist"},
		{"instance.env symlink", func(t *testing.T, f *fixture, outside string) {
			p := filepath.Join(f.state, "runtime/s1/instance.env")
			writeFile(t, filepath.Join(outside, "env"), "LOWERDIRS="+I+"\n")
			os.Remove(p)
			symlink(t, filepath.Join(outside, "env"), p)
		}, "symlink"},
		{"instance.env fifo", func(t *testing.T, f *fixture, _ string) {
			p := filepath.Join(f.state, "runtime/s1/instance.env")
			os.Remove(p)
			if err := unix.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"instance.env directory", func(t *testing.T, f *fixture, _ string) {
			p := filepath.Join(f.state, "runtime/s1/instance.env")
			os.Remove(p)
			mkdir(t, p)
		}, "not a regular file"},
		{"no LOWERDIRS", func(t *testing.T, f *fixture, _ string) { f.env(t, "GAME=l4d2\n") }, "no LOWERDIRS= line"},
		{"empty LOWERDIRS", func(t *testing.T, f *fixture, _ string) { f.env(t, "LOWERDIRS=\n") }, "LOWERDIRS is empty"},
		{"501 layers", func(t *testing.T, f *fixture, _ string) {
			f.env(t, "LOWERDIRS="+strings.TrimSuffix(strings.Repeat(I+":", 501), ":")+"\n")
		}, "501 layers, the kernel stacks at most 500"},
		{"layer outside", func(t *testing.T, f *fixture, _ string) { f.env(t, "LOWERDIRS=/etc\n") }, `"/etc": outside /var/lib/left4me`},
		{"layer under runtime", func(t *testing.T, f *fixture, _ string) {
			f.env(t, "LOWERDIRS=/var/lib/left4me/runtime/s1/upper\n")
		}, "under runtime/"},
		{"traversal", func(t *testing.T, f *fixture, _ string) {
			f.env(t, "LOWERDIRS="+I+"/../../../../etc\n")
		}, "contains '..'"},
		{"comma", func(t *testing.T, f *fixture, _ string) {
			f.env(t, "LOWERDIRS="+I+",upperdir=/etc\n")
		}, "contains ','"},
		{"colon", func(t *testing.T, f *fixture, _ string) {
			f.env(t, "LOWERDIRS="+I+":etc\n")
		}, `"etc": not an absolute path`},
		{"backslash", func(t *testing.T, f *fixture, _ string) {
			f.env(t, "LOWERDIRS="+I+`/a\072b`+"\n")
		}, `contains '\\'`},
		{"space", func(t *testing.T, f *fixture, _ string) { f.env(t, "LOWERDIRS="+I+"/a b\n") }, "whitespace"},
		{"tab", func(t *testing.T, f *fixture, _ string) { f.env(t, "LOWERDIRS="+I+"/a\tb\n") }, "whitespace"},
		{"control", func(t *testing.T, f *fixture, _ string) { f.env(t, "LOWERDIRS="+I+"/a\x01b\n") }, "control character"},
		{"layer missing", func(t *testing.T, f *fixture, _ string) {
			f.env(t, "LOWERDIRS=/var/lib/left4me/overlays/nope\n")
		}, "overlays/nope does not exist"},
		{"layer on FUSE", func(t *testing.T, f *fixture, outside string) {
			// A user-mountable file system could show root-owned set-uid
			// files that copy-up would make real in the upper dir.
			fuse := testenv.RequireBinary(t, "fuse-overlayfs", "fuse-overlayfs")
			for _, d := range []string{"lo", "up", "wk"} {
				mkdir(t, filepath.Join(outside, d))
			}
			evil := filepath.Join(f.state, "overlays/evil")
			mkdir(t, evil)
			opts := fmt.Sprintf("lowerdir=%s/lo,upperdir=%s/up,workdir=%s/wk", outside, outside, outside)
			if out, err := exec.Command(fuse, "-o", opts, evil).CombinedOutput(); err != nil {
				t.Fatalf("fuse-overlayfs: %v: %s", err, out)
			}
			t.Cleanup(func() { unix.Unmount(evil, unix.MNT_DETACH) })
			f.env(t, "LOWERDIRS=/var/lib/left4me/overlays/evil\n")
		}, "FUSE file system"},
		{"layer is a file", func(t *testing.T, f *fixture, _ string) {
			writeFile(t, filepath.Join(f.state, "overlays/file"), "x")
			f.env(t, "LOWERDIRS=/var/lib/left4me/overlays/file\n")
		}, "not a directory"},
		{"layer symlink", func(t *testing.T, f *fixture, outside string) {
			symlink(t, outside, filepath.Join(f.state, "overlays/evil"))
			f.env(t, "LOWERDIRS=/var/lib/left4me/overlays/evil\n")
		}, "symlink"},
		{"symlink inside layer path", func(t *testing.T, f *fixture, outside string) {
			mkdir(t, filepath.Join(outside, "sub"))
			symlink(t, outside, filepath.Join(f.state, "overlays/mid"))
			f.env(t, "LOWERDIRS=/var/lib/left4me/overlays/mid/sub\n")
		}, "symlink"},
		{"relative symlink to runtime", func(t *testing.T, f *fixture, _ string) {
			symlink(t, "../runtime/s1/upper", filepath.Join(f.state, "overlays/up"))
			f.env(t, "LOWERDIRS=/var/lib/left4me/overlays/up\n")
		}, "symlink"},
		{"installation symlink", func(t *testing.T, f *fixture, outside string) {
			os.RemoveAll(filepath.Join(f.state, "installation"))
			symlink(t, outside, filepath.Join(f.state, "installation"))
		}, "symlink"},
		{"upper symlink", func(t *testing.T, f *fixture, outside string) {
			swapForSymlink(t, filepath.Join(f.state, "runtime/s1/upper"), outside)
		}, "runtime/s1/upper: it or a directory on its path is a symlink"},
		{"work symlink", func(t *testing.T, f *fixture, outside string) {
			swapForSymlink(t, filepath.Join(f.state, "runtime/s1/work"), outside)
		}, "runtime/s1/work: it or a directory"},
		{"merged symlink", func(t *testing.T, f *fixture, outside string) {
			swapForSymlink(t, filepath.Join(f.state, "runtime/s1/merged"), outside)
		}, "runtime/s1/merged: it or a directory"},
		{"instance dir symlink", func(t *testing.T, f *fixture, outside string) {
			inst := filepath.Join(f.state, "runtime/s1")
			if err := os.Rename(inst, filepath.Join(outside, "s1")); err != nil {
				t.Fatal(err)
			}
			symlink(t, filepath.Join(outside, "s1"), inst)
		}, "runtime/s1: it or a directory"},
		{"runtime symlink", func(t *testing.T, f *fixture, outside string) {
			rt := filepath.Join(f.state, "runtime")
			if err := os.Rename(rt, filepath.Join(outside, "runtime")); err != nil {
				t.Fatal(err)
			}
			symlink(t, filepath.Join(outside, "runtime"), rt)
		}, "runtime: it or a directory"},
		{"upper is a file", func(t *testing.T, f *fixture, _ string) {
			p := filepath.Join(f.state, "runtime/s1/upper")
			os.Remove(p)
			writeFile(t, p, "x")
		}, "upper: not a directory"},
		{"upper owned by someone else", func(t *testing.T, f *fixture, _ string) {
			if err := os.Chown(filepath.Join(f.state, "runtime/s1/upper"), 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}, "owned by uid 4242"},
		{"instance.env owned by someone else", func(t *testing.T, f *fixture, _ string) {
			if err := os.Chown(filepath.Join(f.state, "runtime/s1/instance.env"), 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}, "instance.env: owned by uid 4242"},
		{"fuse-overlayfs upper", func(t *testing.T, f *fixture, _ string) {
			if err := unix.Setxattr(filepath.Join(f.state, "runtime/s1/upper"), "user.fuseoverlayfs.opaque", []byte("y"), 0); err != nil {
				t.Fatal(err)
			}
		}, "fuse-overlayfs format: /var/lib/left4me/runtime/s1/upper has xattr user.fuseoverlayfs.opaque; run `left4me-deploy migrate` first"},
		{"no migration sentinel", func(t *testing.T, f *fixture, _ string) {
			if err := os.Remove(f.real(hostpath.Sentinel)); err != nil {
				t.Fatal(err)
			}
		}, "not migrated to kernel overlayfs yet: /var/lib/left4me/.kernel-overlay-migrated does not exist, so upper dirs may still be in fuse-overlayfs format: run `left4me-deploy migrate` on this host (or redeploy with left4me-deploy)"},
		{"sentinel a symlink", func(t *testing.T, f *fixture, outside string) {
			swapForSymlink(t, f.real(hostpath.Sentinel), filepath.Join(outside, "evil"))
		}, "refused /var/lib/left4me/.kernel-overlay-migrated: it is a symlink, not a regular file: remove it and run `left4me-deploy migrate`"},
		{"sentinel a dangling symlink", func(t *testing.T, f *fixture, outside string) {
			swapForSymlink(t, f.real(hostpath.Sentinel), filepath.Join(outside, "nothing"))
		}, "it is a symlink, not a regular file"},
		{"sentinel a directory", func(t *testing.T, f *fixture, _ string) {
			p := f.real(hostpath.Sentinel)
			os.Remove(p)
			mkdir(t, p)
		}, "refused /var/lib/left4me/.kernel-overlay-migrated: it is a directory, not a regular file"},
		{"sentinel a fifo", func(t *testing.T, f *fixture, _ string) {
			p := f.real(hostpath.Sentinel)
			os.Remove(p)
			if err := unix.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "it is a fifo, not a regular file"},
		{"fuse-overlayfs xattr below the upper root", func(t *testing.T, f *fixture, _ string) {
			d := filepath.Join(f.state, "runtime/s1/upper/newdir")
			mkdir(t, d)
			if err := unix.Setxattr(d, "user.fuseoverlayfs.opaque", []byte("y"), 0); err != nil {
				t.Fatal(err)
			}
		}, "fuse-overlayfs format: /var/lib/left4me/runtime/s1/upper/newdir has xattr user.fuseoverlayfs.opaque; run `left4me-deploy migrate` first"},
		{"override_stat below the upper root", func(t *testing.T, f *fixture, _ string) {
			p := filepath.Join(f.state, "runtime/s1/upper/f")
			writeFile(t, p, "x")
			if err := unix.Setxattr(p, "user.containers.override_stat", []byte("0:0:0644"), 0); err != nil {
				t.Fatal(err)
			}
		}, "upper/f has xattr user.containers.override_stat"},
		{"fuse-overlayfs opaque marker in the upper root", func(t *testing.T, f *fixture, _ string) {
			writeFile(t, filepath.Join(f.state, "runtime/s1/upper/.wh..wh..opq"), "")
		}, "upper contains .wh..wh..opq, a fuse-overlayfs whiteout file"},
		{"fuse-overlayfs whiteout file in the upper root", func(t *testing.T, f *fixture, _ string) {
			writeFile(t, filepath.Join(f.state, "runtime/s1/upper/.wh.f"), "")
		}, "upper contains .wh.f, a fuse-overlayfs whiteout file; run `left4me-deploy migrate` first (if it ran before, remove /var/lib/left4me/.kernel-overlay-migrated so that it runs again"},
		{"foreign mount at merged", func(t *testing.T, f *fixture, _ string) {
			if err := unix.Mount("tmpfs", filepath.Join(f.state, "runtime/s1/merged"), "tmpfs", 0, ""); err != nil {
				t.Fatal(err)
			}
		}, "something is mounted there and it is a tmpfs mount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			outside := t.TempDir()
			writeFile(t, filepath.Join(outside, "evil"), "outside\n")
			writeFile(t, f.real("/var/lib/left4me/installation/f"), "base\n")
			f.instance("s1", "/var/lib/left4me/installation")
			tt.setup(t, f, outside)
			before := mountsUnder(t, "self", f.root)
			out, errs, code := f.helper(f.helperEnv(), "mount", "s1")
			if code != 1 {
				t.Fatalf("mount s1 = exit %d, stdout %q, stderr %q; want exit 1", code, out, errs)
			}
			if strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "left4me-overlay: mount s1: ") {
				t.Errorf("stderr = %q, want one line starting left4me-overlay: mount s1:", errs)
			}
			if !strings.Contains(errs, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", errs, tt.want)
			}
			if after := mountsUnder(t, "self", f.root); len(after) != len(before) {
				t.Errorf("mounts changed: before %+v, after %+v", before, after)
			}
			if ms := mountsUnder(t, "self", outside); len(ms) != 0 {
				t.Errorf("a mount landed outside the root: %+v", ms)
			}
		})
	}
}

// TestSentinelGatesNewMounts: the migration sentinel is needed to make a
// mount, not to report one that exists or to unmount; and an upper root
// in the kernel's format, with a kernel whiteout and the owner's own
// xattrs, passes the fuse-overlayfs check.
func TestSentinelGatesNewMounts(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	writeFile(t, f.real("/var/lib/left4me/installation/gone"), "base\n")
	writeFile(t, f.real("/var/lib/left4me/installation/kept"), "base\n")
	f.instance("s1", "/var/lib/left4me/installation")
	upper := f.upper("s1")
	if err := unix.Mknod(filepath.Join(upper, "gone"), unix.S_IFCHR|0o600, 0); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(upper, "cfg/server.cfg"), "hostname s1\n")
	if err := unix.Setxattr(filepath.Join(upper, "cfg"), "user.l4m", []byte("mine"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(upper, "cfg"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	if out := f.mustHelper("mount", "s1"); !strings.Contains(out, "mounted s1") {
		t.Fatalf("mount s1: %q", out)
	}
	if _, err := os.Stat(filepath.Join(f.merged("s1"), "gone")); !os.IsNotExist(err) {
		t.Errorf("merged/gone: %v, want the kernel whiteout to hide it", err)
	}
	if err := os.Remove(f.real(hostpath.Sentinel)); err != nil {
		t.Fatal(err)
	}
	if out := f.mustHelper("mount", "s1"); !strings.Contains(out, "already mounted") {
		t.Errorf("mount s1 again without the sentinel: %q, want already mounted", out)
	}
	if out := f.mustHelper("umount", "s1"); !strings.Contains(out, "unmounted s1") {
		t.Errorf("umount s1 without the sentinel: %q", out)
	}
	if _, errs, code := f.helper(f.helperEnv(), "mount", "s1"); code != 1 || !strings.Contains(errs, "left4me-deploy migrate") {
		t.Errorf("mount s1 without the sentinel = exit %d, %q; want the migration message", code, errs)
	}
	if ms := mountsUnder(t, "self", f.root); len(ms) != 0 {
		t.Fatalf("mounts left: %+v", ms)
	}
}

func (f *fixture) env(t testing.TB, content string) {
	writeFile(t, filepath.Join(f.state, "runtime/s1/instance.env"), content)
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func swapForSymlink(t testing.TB, p, target string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	symlink(t, target, p)
}

// TestUmountRefusals: umount never touches what it did not mount.
func TestUmountRefusals(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	f.instance("s1", "/var/lib/left4me/installation")
	f.instance("s2", "/var/lib/left4me/installation")
	f.instance("s3", "/var/lib/left4me/installation")
	mkdir(t, filepath.Join(f.state, "runtime/s4")) // no merged dir at all
	outside := t.TempDir()

	// A tmpfs at merged.
	if err := unix.Mount("tmpfs", f.merged("s1"), "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	// A kernel overlay at merged that someone else made.
	lower := filepath.Join(f.state, "installation")
	data := "lowerdir=" + lower + ",upperdir=" + f.upper("s2") + ",workdir=" + filepath.Join(f.state, "runtime/s2/work")
	if err := unix.Mount("overlay", f.merged("s2"), "overlay", 0, data); err != nil {
		t.Fatal(err)
	}
	// merged a symlink to a mount point outside.
	if err := unix.Mount("tmpfs", outside, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	swapForSymlink(t, f.merged("s3"), outside)

	for _, c := range []struct{ name, want string }{
		{"s1", "it is a tmpfs mount"},
		{"s2", `its source is "overlay", not "left4me-s2"`},
		{"s3", "merged: not a directory"},
	} {
		out, errs, code := f.helper(f.helperEnv(), "umount", c.name)
		if code != 1 || !strings.Contains(errs, c.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("umount %s = exit %d, stdout %q, stderr %q; want exit 1 and %q", c.name, code, out, errs, c.want)
		}
	}
	for _, name := range []string{"nosuch", "s4"} {
		out, errs, code := f.helper(f.helperEnv(), "umount", name)
		if code != 0 || !strings.Contains(out, name+" is not mounted") {
			t.Errorf("umount %s = exit %d, stdout %q, stderr %q; want 0 and not mounted", name, code, out, errs)
		}
	}
	// An instance renamed while mounted: its overlay now sits at
	// runtime/s6/merged; mount s6 refuses it, umount s6 removes it.
	f.instance("s5", "/var/lib/left4me/installation")
	f.mustHelper("mount", "s5")
	if err := os.Rename(filepath.Join(f.state, "runtime/s5"), filepath.Join(f.state, "runtime/s6")); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := f.helper(f.helperEnv(), "mount", "s6"); code != 1 || !strings.Contains(errs, "it is the overlay of instance s5") {
		t.Errorf("mount s6 over s5's overlay = exit %d, %q", code, errs)
	}
	if out := f.mustHelper("umount", "s5"); !strings.Contains(out, "not mounted") {
		t.Errorf("umount s5 after the rename = %q, want not mounted", out)
	}
	if out := f.mustHelper("umount", "s6"); !strings.Contains(out, "unmounted s6") {
		t.Errorf("umount s6 = %q, want unmounted", out)
	}
	if n := len(mountsUnder(t, "self", f.root)); n != 2 {
		t.Errorf("%d mounts remain under the root, want the 2 foreign ones", n)
	}
	if n := len(mountsUnder(t, "self", outside)); n != 1 {
		t.Errorf("the mount outside was touched: %d mounts there", n)
	}
	detachUnder(t, outside)
}

// TestPrintOnly: print-only resolves and checks everything, prints the
// mount(8) equivalent and changes nothing.
func TestPrintOnly(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	top := f.layer("a", nil)
	f.instance("s1", top, "/var/lib/left4me/installation")
	out, errs, code := f.helper(f.helperEnv("LEFT4ME_OVERLAY_PRINT=1", "LEFT4ME_OVERLAY_METHOD=legacy"), "mount", "s1")
	want := "mount -t overlay -o nosuid,nodev,redirect_dir=nofollow,index=off,metacopy=off,xino=off," +
		"lowerdir=/var/lib/left4me/overlays/a:/var/lib/left4me/installation," +
		"upperdir=/var/lib/left4me/runtime/s1/upper,workdir=/var/lib/left4me/runtime/s1/work left4me-s1 /var/lib/left4me/runtime/s1/merged\n" +
		"# method legacy, 2 layers\nprint only: nothing mounted\n"
	if code != 0 || out != want {
		t.Fatalf("print-only mount = exit %d, stdout\n%s\nstderr %q; want\n%s", code, out, errs, want)
	}
	if ms := mountsUnder(t, "self", f.root); len(ms) != 0 {
		t.Fatalf("print-only mounted: %+v", ms)
	}
	if _, err := os.Stat(filepath.Join(f.root, "run")); !os.IsNotExist(err) {
		t.Errorf("print-only created a directory: %v", err)
	}
	// Print-only still refuses what a real run refuses.
	swapForSymlink(t, f.upper("s1"), t.TempDir())
	if _, errs, code := f.helper(f.helperEnv("LEFT4ME_OVERLAY_PRINT=1"), "mount", "s1"); code != 1 || !strings.Contains(errs, "symlink") {
		t.Fatalf("print-only with a symlinked upper = exit %d, %q", code, errs)
	}
}

// TestSudoIgnoresTestSettings: with a SUDO_* variable present the helper
// ignores LEFT4ME_ROOT and the print-only switch, so it works on the real
// /var/lib/left4me (absent: /var/lib is an empty tmpfs in the test's
// namespace) and refuses; the
// fixture, which a hostile sudo caller would have pointed at, is untouched.
func TestSudoIgnoresTestSettings(t *testing.T) {
	testenv.RequireNamespace(t)
	privateHostDirs(t)
	f := newFixture(t)
	f.instance("s1", "/var/lib/left4me/installation")
	for _, sudoVar := range []string{"SUDO_UID=1000", "SUDO_USER=left4me", "SUDO_COMMAND=/bin/sh"} {
		out, errs, code := f.helper(f.helperEnv(sudoVar, "LEFT4ME_OVERLAY_PRINT=1", "LEFT4ME_OVERLAY_MOUNTNS=current"), "mount", "s1")
		if code != 1 || !strings.Contains(errs, "/var/lib/left4me does not exist") || strings.Contains(out, "print only") {
			t.Errorf("with %s: exit %d, stdout %q, stderr %q; want the real state root looked up and refused", sudoVar, code, out, errs)
		}
	}
	if ms := mountsUnder(t, "self", f.root); len(ms) != 0 {
		t.Fatalf("mounted in the fixture: %+v", ms)
	}
}

// TestConcurrentCallsSerialise: many helpers mounting, then unmounting, one
// instance at once make exactly one mount and remove it exactly once.
func TestConcurrentCallsSerialise(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	f.instance("s1", "/var/lib/left4me/installation")
	for _, verb := range []string{"mount", "umount"} {
		const n = 12
		var wg sync.WaitGroup
		outs := make([]string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, errs, code := f.helper(f.helperEnv(), verb, "s1")
				outs[i] = fmt.Sprintf("%d %s%s", code, out, errs)
			}()
		}
		wg.Wait()
		changed := 0
		for _, o := range outs {
			switch {
			case strings.HasPrefix(o, "0 mounted s1"), strings.HasPrefix(o, "0 unmounted s1"):
				changed++
			case strings.HasPrefix(o, "0 s1 is already mounted"), strings.HasPrefix(o, "0 s1 is not mounted"):
			default:
				t.Errorf("%s: unexpected result %q", verb, o)
			}
		}
		want := map[string]int{"mount": 1, "umount": 0}[verb]
		if changed != 1 || len(mountsUnder(t, "self", f.root)) != want {
			t.Fatalf("%d concurrent %s: %d changed, %d mounts; want 1 changed, %d mounts", n, verb, changed, len(mountsUnder(t, "self", f.root)), want)
		}
	}
	// The one fixed, root-only directory of the host-wide mount lock is
	// all the helpers leave; nothing named after a caller's input.
	if names, err := os.ReadDir(filepath.Join(f.root, "run")); err == nil && (len(names) != 1 || names[0].Name() != "left4me-overlay") {
		t.Fatalf("the helpers left lock state behind: %v", names)
	}
	if names, err := os.ReadDir(filepath.Join(f.root, mountsLockDir)); err == nil && len(names) != 0 {
		t.Fatalf("the helpers left lock state behind in %s: %v", mountsLockDir, names)
	}
}

// The lock is the instance directory itself: a helper for another name
// that reaches the same directory (runtime/A renamed to runtime/B between
// two calls) waits for the holder instead of stacking a second overlay on
// one upper and work dir.
func TestInstanceDirLockFollowsRename(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	inst := f.instance("s1", "/var/lib/left4me/installation")
	helperBin(t) // built now, not inside the window below
	lf, err := os.Open(inst)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	// Renamed: no lock of the name s2 exists, the directory's is held.
	if err := os.Rename(inst, filepath.Join(filepath.Dir(inst), "s2")); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		out, errs, code := f.helper(f.helperEnv(), "mount", "s2")
		done <- fmt.Sprintf("%d %s%s", code, out, errs)
	}()
	select {
	case o := <-done:
		t.Fatalf("mount s2 returned %q while its directory's lock was held", o)
	case <-time.After(300 * time.Millisecond):
	}
	syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	if o := <-done; !strings.HasPrefix(o, "0 mounted s2") {
		t.Fatalf("mount s2 after the lock was released = %q", o)
	}
	if _, _, code := f.helper(f.helperEnv(), "umount", "s2"); code != 0 {
		t.Fatalf("umount s2 = %d", code)
	}
}

// TestFallbackWithoutFsopen: where a seccomp filter hides fsopen from a
// kernel that has it, the automatic choice falls back to mount(2); a forced
// new-API method fails saying why.
func TestFallbackWithoutFsopen(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	writeFile(t, f.real("/var/lib/left4me/installation/f"), "base\n")
	f.instance("s1", "/var/lib/left4me/installation")
	run := func(extra ...string) (string, string, int) {
		cmd := exec.Command(os.Args[0], "mount", "s1")
		cmd.Env = append(f.helperEnv(extra...), seccompExecEnv+"="+helperBin(t))
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	if rel, err := KernelRelease(); err != nil {
		t.Fatal(err)
	} else if newest, _ := MethodFor(rel); newest != MethodLegacy {
		out, errs, code := run("LEFT4ME_OVERLAY_METHOD=" + newest.String())
		if code != 1 || !strings.Contains(errs, "fsopen overlay: function not implemented") {
			t.Fatalf("forced %s method without fsopen = exit %d, stdout %q, stderr %q; want exit 1 naming fsopen", newest, code, out, errs)
		}
	}
	out, errs, code := run()
	if code != 0 || !strings.Contains(out, "method legacy") {
		t.Fatalf("auto method without fsopen = exit %d, stdout %q, stderr %q; want a legacy mount", code, out, errs)
	}
	if got := readFile(t, filepath.Join(f.merged("s1"), "f")); got != "base\n" {
		t.Errorf("merged/f = %q", got)
	}
	f.mustHelper("umount", "s1")
}

// privateHostDirs mounts empty tmpfs over /var/lib and /run in the test's
// own namespace (never the machine's), for tests of the helper's production
// paths, /var/lib/left4me and /run/left4me/locks, whatever this machine has.
func privateHostDirs(t *testing.T) {
	t.Helper()
	for _, d := range []string{"/var/lib", "/run"} {
		if err := unix.Mount("tmpfs", d, "tmpfs", 0, "mode=0755"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := unix.Unmount(d, unix.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", d, err)
			}
		})
	}
}

// TestFDMethodReopensWhereOPathRefused: kernels 6.13 and 6.14 take only
// opened files in fsconfig(FSCONFIG_SET_FD) and refuse the pinned O_PATH
// handles with EBADF; 6.15 and later take them as they are. Standing in
// the older kernel's answer, the fd method reopens the pinned handles once
// and mounts; with the newer one it reopens none.
func TestFDMethodReopensWhereOPathRefused(t *testing.T) {
	testenv.RequireNamespace(t)
	rel, err := KernelRelease()
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := MethodFor(rel); m != MethodFD {
		// Before 6.13 there is nothing to reopen: the fd method is refused.
		if err := MethodAvailable(rel, MethodFD); err == nil {
			t.Fatalf("kernel %s picks method %v, yet the fd method is available", rel, m)
		}
		return
	}
	for _, older := range []bool{true, false} {
		t.Run(map[bool]string{true: "6.13 and 6.14", false: "6.15 and later"}[older], func(t *testing.T) {
			f := newFixture(t)
			writeFile(t, f.real("/var/lib/left4me/installation/f"), "base\n")
			f.instance("s1", "/var/lib/left4me/installation")
			var opath, opened int
			fsconfigSetFd = func(fd int, key string, value int) error {
				fl, err := unix.FcntlInt(uintptr(value), unix.F_GETFL, 0)
				if err != nil {
					return err
				}
				if fl&unix.O_PATH != 0 {
					opath++
					if older {
						return unix.EBADF
					}
				} else {
					opened++
				}
				return unix.FsconfigSetFd(fd, key, value)
			}
			t.Cleanup(func() { fsconfigSetFd = unix.FsconfigSetFd })
			cfg := Config{Root: hostpath.Root(f.root), Method: MethodFD}
			if _, err := cfg.Mount("s1"); err != nil {
				t.Fatalf("Mount = %v", err)
			}
			defer cfg.Unmount("s1")
			if got := readFile(t, filepath.Join(f.merged("s1"), "f")); got != "base\n" {
				t.Errorf("merged/f = %q", got)
			}
			// One layer, upper and work: three handles.
			if older && (opath != 1 || opened != 3) || !older && (opath != 3 || opened != 0) {
				t.Errorf("fsconfig saw %d O_PATH and %d opened handles", opath, opened)
			}
		})
	}
}
