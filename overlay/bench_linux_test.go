//go:build linux

package overlay

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// benchFixture makes n layers named overlays/layer-NNN (short enough that
// 50 of them fit mount(8)'s one-page option string) under instance "b".
func benchFixture(b *testing.B, n int) *fixture {
	// A short root (not b.TempDir's long name) so the baseline's 50 absolute
	// layer paths fit in one page.
	root, err := os.MkdirTemp("", "l4m-b")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(root) })
	f := &fixture{t: b, root: root, state: filepath.Join(root, "var/lib/left4me")}
	for _, d := range []string{"installation", "overlays", "runtime"} {
		mkdir(b, filepath.Join(f.state, d))
	}
	writeSentinel(b, f.state)
	b.Cleanup(func() { detachUnder(b, root) })
	var layers []string
	for i := range n {
		layers = append(layers, f.layer(fmt.Sprintf("layer-%03d", i), map[string]string{"who": fmt.Sprint(i)}))
	}
	f.instance("b", layers...)
	return f
}

// runOrFail runs argv and returns the CPU time (user+system) it used.
func runOrFail(b *testing.B, env []string, argv ...string) time.Duration {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// BenchmarkMountUmount times one mount plus one umount of an instance.
//
//   - helper/*: the real left4me-overlay binary, exec'd twice per op, as
//     l4d2ctl runs it (minus sudo), by method and layer count.
//   - nsenter-mount/layers=50: the baseline, `nsenter --mount=/proc/1/ns/mnt
//     -- mount -t overlay ...` and `... umount` on the same 50 layers; that
//     path cannot take 500 (the option string exceeds one page).
//   - library/*: the overlay package in-process, without the two execs.
func BenchmarkMountUmount(b *testing.B) {
	testenv.RequireNamespace(b)
	nsenter := testenv.RequireBinary(b, "nsenter", "util-linux")
	bin := helperBin(b)
	for _, n := range []int{1, 50, 500} {
		for _, m := range []Method{MethodFD, MethodLowerdirPlus, MethodLegacy} {
			if m != MethodFD && n != 50 {
				continue
			}
			b.Run(fmt.Sprintf("helper/%s/layers=%d", m, n), func(b *testing.B) {
				rel, err := KernelRelease()
				if err != nil {
					b.Fatal(err)
				}
				if err := MethodAvailable(rel, m); err != nil {
					b.Skip(err)
				}
				f := benchFixture(b, n)
				env := f.helperEnv("LEFT4ME_OVERLAY_METHOD=" + m.String())
				b.ResetTimer()
				for range b.N {
					runOrFail(b, env, bin, "mount", "b")
					runOrFail(b, env, bin, "umount", "b")
				}
			})
		}
	}
	b.Run("nsenter-mount/layers=50", func(b *testing.B) {
		f := benchFixture(b, 50)
		var lower []string
		for i := range 50 {
			lower = append(lower, f.real(fmt.Sprintf("/var/lib/left4me/overlays/layer-%03d", i)))
		}
		inst := filepath.Join(f.state, "runtime/b")
		opts := fmt.Sprintf("nosuid,nodev,lowerdir=%s,upperdir=%s/upper,workdir=%s/work,redirect_dir=nofollow,index=off,metacopy=off,xino=off",
			strings.Join(lower, ":"), inst, inst)
		if len(opts) >= 4096 {
			b.Fatalf("baseline options are %d bytes, over one page", len(opts))
		}
		env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		b.ResetTimer()
		for range b.N {
			runOrFail(b, env, nsenter, "--mount=/proc/1/ns/mnt", "--", "mount", "-t", "overlay", "-o", opts, "left4me-b", f.merged("b"))
			runOrFail(b, env, nsenter, "--mount=/proc/1/ns/mnt", "--", "umount", f.merged("b"))
		}
	})
	for _, n := range []int{1, 50, 500} {
		b.Run(fmt.Sprintf("library/fd/layers=%d", n), func(b *testing.B) {
			f := benchFixture(b, n)
			benchLibraryPairs(b, f)
		})
	}
}

// BenchmarkHelperVsNsenter50 alternates, inside one loop, a mount+umount
// pair through the helper and one through the nsenter baseline on the same
// 50 layers, so both see the same machine load; it reports each one's wall
// and CPU time per pair and the wall-time ratio helper/baseline.
func BenchmarkHelperVsNsenter50(b *testing.B) {
	testenv.RequireNamespace(b)
	nsenter := testenv.RequireBinary(b, "nsenter", "util-linux")
	bin := helperBin(b)
	f := benchFixture(b, 50)
	var lower []string
	for i := range 50 {
		lower = append(lower, f.real(fmt.Sprintf("/var/lib/left4me/overlays/layer-%03d", i)))
	}
	inst := filepath.Join(f.state, "runtime/b")
	opts := fmt.Sprintf("nosuid,nodev,lowerdir=%s,upperdir=%s/upper,workdir=%s/work,redirect_dir=nofollow,index=off,metacopy=off,xino=off",
		strings.Join(lower, ":"), inst, inst)
	henv := f.helperEnv()
	nenv := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	helper := func() (time.Duration, time.Duration) {
		t0 := time.Now()
		cpu := runOrFail(b, henv, bin, "mount", "b") + runOrFail(b, henv, bin, "umount", "b")
		return time.Since(t0), cpu
	}
	baseline := func() (time.Duration, time.Duration) {
		t0 := time.Now()
		cpu := runOrFail(b, nenv, nsenter, "--mount=/proc/1/ns/mnt", "--", "mount", "-t", "overlay", "-o", opts, "left4me-b", f.merged("b")) +
			runOrFail(b, nenv, nsenter, "--mount=/proc/1/ns/mnt", "--", "umount", f.merged("b"))
		return time.Since(t0), cpu
	}
	var hw, hc, nw, nc time.Duration
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			w, c := helper()
			hw, hc = hw+w, hc+c
			w, c = baseline()
			nw, nc = nw+w, nc+c
		} else {
			w, c := baseline()
			nw, nc = nw+w, nc+c
			w, c = helper()
			hw, hc = hw+w, hc+c
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(hw.Microseconds())/n, "helper-wall-us/op")
	b.ReportMetric(float64(nw.Microseconds())/n, "nsenter-wall-us/op")
	b.ReportMetric(float64(hc.Microseconds())/n, "helper-cpu-us/op")
	b.ReportMetric(float64(nc.Microseconds())/n, "nsenter-cpu-us/op")
	b.ReportMetric(float64(hw)/float64(nw), "wall-ratio")
	b.ReportMetric(float64(hc)/float64(nc), "cpu-ratio")
}

// BenchmarkMountUpperRoot times one in-process mount plus umount of a
// one-layer instance whose upper root holds n entries (half directories,
// half files, each with a user xattr, as a played instance might), to
// price the helper's look at the upper's first level for fuse-overlayfs
// metadata. Past fuseScanMax entries the look costs no more.
func BenchmarkMountUpperRoot(b *testing.B) {
	testenv.RequireNamespace(b)
	for _, n := range []int{0, 8, 64, 1000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			f := benchFixture(b, 1)
			upper := filepath.Join(f.state, "runtime/b/upper")
			for i := range n {
				p := filepath.Join(upper, fmt.Sprintf("e%04d", i))
				if i%2 == 0 {
					mkdir(b, p)
				} else {
					writeFile(b, p, "x")
				}
				if err := unix.Setxattr(p, "user.l4m", []byte("v"), 0); err != nil {
					b.Fatal(err)
				}
			}
			benchLibraryPairs(b, f)
		})
	}
}

// BenchmarkFuseChecks prices the format checks alone, which a whole
// mount's kernel work hides in its noise: "root-xattrs" is the xattr list of
// the upper root only (all the check did before), "first-level" the whole
// checkNotFuse on an upper root of n entries made as in
// BenchmarkMountUpperRoot, and "sentinel" checkMigrated.
func BenchmarkFuseChecks(b *testing.B) {
	testenv.RequireNamespace(b)
	for _, n := range []int{0, 8, 64, 1000} {
		f := benchFixture(b, 1)
		upper := filepath.Join(f.state, "runtime/b/upper")
		for i := range n {
			p := filepath.Join(upper, fmt.Sprintf("e%04d", i))
			if i%2 == 0 {
				mkdir(b, p)
			} else {
				writeFile(b, p, "x")
			}
			if err := unix.Setxattr(p, "user.l4m", []byte("v"), 0); err != nil {
				b.Fatal(err)
			}
		}
		onThread(b, func() {
			s := &session{cfg: Config{Root: hostpath.Root(f.root), MountNS: CurrentMountNS}, root: -1, tree: -1, state: -1}
			defer s.closeAll()
			if err := s.enter(); err != nil {
				b.Fatal(err)
			}
			in, err := s.openInstance("b")
			if err != nil {
				b.Fatal(err)
			}
			if err := s.openOverlayDirs(in); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("root-xattrs/entries=%d", n), func(b *testing.B) {
				for range b.N {
					fd, err := unix.Openat(in.upper, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := fsat.ListXattr(fd); err != nil {
						b.Fatal(err)
					}
					unix.Close(fd)
				}
			})
			b.Run(fmt.Sprintf("first-level/entries=%d", n), func(b *testing.B) {
				for range b.N {
					if err := s.checkNotFuse(in); err != nil {
						b.Fatal(err)
					}
				}
			})
			if n == 0 {
				b.Run("sentinel", func(b *testing.B) {
					for range b.N {
						if err := s.checkMigrated(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// onThread runs fn on a locked OS thread with its own fs attributes (cwd),
// as the helper's session does, and lets that thread die afterwards.
func onThread(b *testing.B, fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			b.Error(err)
			return
		}
		fn()
	}()
	<-done
}

// benchLibraryPairs times in-process mount+umount pairs of instance b of f
// with the fd method.
func benchLibraryPairs(b *testing.B, f *fixture) {
	cfg := Config{Root: hostpath.Root(f.root), Method: MethodFD}
	b.ResetTimer()
	for range b.N {
		if _, err := cfg.Mount("b"); err != nil {
			b.Fatal(err)
		}
		if _, err := cfg.Unmount("b"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCountInstanceOverlays prices the mount cap's count on a host
// with n instance overlays of 50 layers mounted: "kernel" asks listmount
// and statmount, "table" reads and parses the mount table (where every
// overlay's line holds its 50 layer paths).
func BenchmarkCountInstanceOverlays(b *testing.B) {
	testenv.RequireNamespace(b)
	for _, n := range []int{0, 60} {
		f := benchFixture(b, 50)
		var lower []string
		for i := range 50 {
			lower = append(lower, f.real(fmt.Sprintf("/var/lib/left4me/overlays/layer-%03d", i)))
		}
		for i := range n {
			dir := filepath.Join(f.root, "m", fmt.Sprint(i))
			mkdir(b, dir)
			if err := unix.Mount(fmt.Sprintf("left4me-i%d", i), dir, "overlay", 0, "lowerdir="+strings.Join(lower, ":")); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("kernel/overlays=%d", n), func(b *testing.B) {
			for range b.N {
				if got, ok := countInstanceOverlaysKernel(); !ok || got < n {
					b.Fatalf("kernel count = %d, %v; want at least %d", got, ok, n)
				}
			}
		})
		b.Run(fmt.Sprintf("table/overlays=%d", n), func(b *testing.B) {
			for range b.N {
				if got, err := countInstanceOverlaysTable(); err != nil || got < n {
					b.Fatalf("table count = %d, %v; want at least %d", got, err, n)
				}
			}
		})
	}
}
