//go:build linux

package migrate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
)

// synth is the shape of a synthetic upper (buildSynthetic).
type synth int

const (
	synthFuse110 synth = iota
	synthPre17
	synthFallback
)

// buildSynthetic fills dir with a fuse-overlayfs-format upper of about n
// entries: 100 per directory, of which 70 plain files, 10 copied-up files
// with an origin xattr, 15 0/0 whiteouts and 5 symlinks; every tenth
// directory is opaque (xattr, .wh..wh..opq, .wh..opq) and holds plain
// files in place of the whiteouts. That is what fuse-overlayfs 1.10 writes
// here (synthFuse110). With synthPre17, the opaque dirs hold their 15
// whiteouts too, as fuse-overlayfs before 1.7 left them (its issue #306):
// the migration removes each. With synthFallback, 5 of the 15 whiteouts
// per directory are fallback .wh.NAME files instead, the format older
// kernels made it write: each costs a new inode and an unlink.
func buildSynthetic(b *testing.B, dir string, n int, shape synth) int {
	fallback := shape == synthFallback
	b.Helper()
	entries := 0
	for d := 0; entries < n; d++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", d/100), fmt.Sprintf("d%05d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		entries++
		opaque := d%10 == 0
		if opaque {
			if err := unix.Setxattr(sub, xattrFuseOpq, []byte("y"), 0); err != nil {
				b.Fatal(err)
			}
			mkfile(b, filepath.Join(sub, markerOpaque), nil)
			if err := unix.Mknod(filepath.Join(sub, markerOpq), unix.S_IFCHR, 0); err != nil {
				b.Fatal(err)
			}
			entries += 2
		}
		for i := 0; i < 100 && entries < n; i, entries = i+1, entries+1 {
			p := filepath.Join(sub, fmt.Sprintf("f%03d", i))
			switch {
			case i < 70:
				mkfile(b, p, []byte("content"))
			case i < 80 || opaque && i < 95 && shape == synthFuse110:
				mkfile(b, p, []byte("copied up"))
				if err := unix.Setxattr(p, "user.fuseoverlayfs.origin", []byte("some/lower/path"), 0); err != nil {
					b.Fatal(err)
				}
			case i < 90 || i < 95 && !fallback:
				if err := unix.Mknod(p, unix.S_IFCHR, 0); err != nil {
					b.Fatal(err)
				}
			case i < 95:
				mkfile(b, filepath.Join(sub, whPrefix+fmt.Sprintf("w%03d", i)), nil)
			default:
				if err := os.Symlink("f000", p); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	return entries
}

func mkfile(b *testing.B, p string, data []byte) {
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkMigrate100k times the migration of a 100,000-entry upper dir
// against a plain `getfattr -R -d -m -` walk of the same tree, in the same
// round: each iteration builds a fresh tree (untimed), walks it once
// untimed so both start with warm caches, then times getfattr and the
// migration. It reports the medians and their ratio; run it with
// -benchtime=5x, as docs/benchmarks.md says.
func BenchmarkMigrate100k(b *testing.B) {
	b.Run("fuse-1.10", func(b *testing.B) { benchMigrate(b, 100_000, synthFuse110) })
	b.Run("fuse-1.4", func(b *testing.B) { benchMigrate(b, 100_000, synthPre17) })
	b.Run("fallback", func(b *testing.B) { benchMigrate(b, 100_000, synthFallback) })
}

// BenchmarkMigrate10k is the same at a tenth of the size, for quick runs.
func BenchmarkMigrate10k(b *testing.B) {
	b.Run("fuse-1.10", func(b *testing.B) { benchMigrate(b, 10_000, synthFuse110) })
	b.Run("fuse-1.4", func(b *testing.B) { benchMigrate(b, 10_000, synthPre17) })
	b.Run("fallback", func(b *testing.B) { benchMigrate(b, 10_000, synthFallback) })
}

func benchMigrate(b *testing.B, size int, shape synth) {
	if os.Geteuid() != 0 {
		b.Skipf("needs root for trusted.overlay.* xattrs: running as uid %d", os.Geteuid())
	}
	getfattr, err := exec.LookPath("getfattr")
	if err != nil {
		b.Skipf("needs getfattr (Debian package attr): %v", err)
	}
	var tMig, tGet, tDry []time.Duration
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		root := b.TempDir()
		up := filepath.Join(root, hostpath.Upper("bench"))
		n := buildSynthetic(b, up, size, shape)
		mkdir(b, root+hostpath.Work("bench"))
		walk := func() time.Duration {
			start := time.Now()
			cmd := exec.Command(getfattr, "-R", "-d", "-m", "-", up)
			if out, err := cmd.Output(); err != nil || len(out) == 0 {
				b.Fatalf("getfattr: %v", err)
			}
			return time.Since(start)
		}
		walk()
		start := time.Now()
		if _, err := Run(context.Background(), Options{Root: hostpath.Root(root), DryRun: true}); err != nil {
			b.Fatal(err)
		}
		tDry = append(tDry, time.Since(start))
		b.StartTimer()
		tGet = append(tGet, walk())
		start = time.Now()
		rep, err := Run(context.Background(), Options{Root: hostpath.Root(root)})
		tMig = append(tMig, time.Since(start))
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			b.Logf("%d entries: %s", n, rep.Summary())
		}
		os.RemoveAll(root)
	}
	mm, mg := median(tMig), median(tGet)
	b.ReportMetric(float64(mm.Milliseconds()), "migrate-ms")
	b.ReportMetric(float64(mg.Milliseconds()), "getfattr-ms")
	b.ReportMetric(float64(mm)/float64(mg), "migrate/getfattr")
	// The dry run reads and plans everything but writes nothing: the walk
	// alone against getfattr's walk.
	b.ReportMetric(float64(median(tDry).Milliseconds()), "dryrun-ms")
}
