//go:build linux

package migrate

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/internal/treeview"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// buildFallback lays out instance name in the fuse-overlayfs format by hand,
// fallback whiteouts (.wh.NAME files) included: current kernels let
// fuse-overlayfs make 0/0 devices instead, so real runs no longer write them.
func buildFallback(t *testing.T, tr *tree, name string) {
	t.Helper()
	lo, up := tr.lower(), tr.upper(name)
	for _, f := range []string{"cfg/a.cfg", "cfg/gone.cfg", "cfg/kept.cfg", "maps/x", "maps/y",
		"opq2/old2", "deep/d1/d2/f", "deep/d1/g", "nest/inner/old", "nest/other", "owned/f1", "owned/f2", "owned/f3", "owned/f4"} {
		write(t, filepath.Join(lo, f), "lower "+f+"\n")
	}
	// A deleted lower file, as a fallback whiteout.
	write(t, filepath.Join(up, "cfg/.wh.gone.cfg"), "")
	// A stale fallback whiteout next to the re-created entry it once hid.
	write(t, filepath.Join(up, "cfg/.wh.kept.cfg"), "")
	write(t, filepath.Join(up, "cfg/kept.cfg"), "new kept\n")
	// A copied-up file: origin xattr goes, the user's own xattr stays.
	write(t, filepath.Join(up, "cfg/a.cfg"), "changed a\n")
	setx(t, filepath.Join(up, "cfg/a.cfg"), "user.fuseoverlayfs.origin", "\x00\x01origin")
	setx(t, filepath.Join(up, "cfg/a.cfg"), "user.l4m", "keep me")
	// An opaque dir marked both ways, with the char 0/0 .wh..opq beside it.
	write(t, filepath.Join(up, "maps/new"), "n\n")
	write(t, filepath.Join(up, "maps/.wh..wh..opq"), "")
	whiteout(t, filepath.Join(up, "maps/.wh..opq"))
	setx(t, filepath.Join(up, "maps"), xattrFuseOpq, "y")
	// Opaque by marker file only.
	write(t, filepath.Join(up, "opq2/n2"), "n2\n")
	write(t, filepath.Join(up, "opq2/.wh..wh..opq"), "")
	// Opaque by xattr only, nested below a plain dir.
	mkdir(t, filepath.Join(up, "deep/d1/d2"))
	setx(t, filepath.Join(up, "deep/d1/d2"), xattrFuseOpq, "y")
	write(t, filepath.Join(up, "deep/d1/.wh.g"), "")
	// Nested opaque dirs.
	write(t, filepath.Join(up, "nest/inner/newf"), "newf\n")
	setx(t, filepath.Join(up, "nest"), xattrFuseOpq, "y")
	write(t, filepath.Join(up, "nest/.wh..wh..opq"), "")
	setx(t, filepath.Join(up, "nest/inner"), xattrFuseOpq, "y")
	write(t, filepath.Join(up, "nest/inner/.wh..wh..opq"), "")
	// Whiteouts inside opaque dirs hide nothing, and the kernel lists them
	// as names it cannot look up: fuse-overlayfs before 1.7 left one after
	// "rm -rf a; mkdir -p a/b; mv a/b b" with a/b in a lower layer (its
	// issue #306); one in a dir made opaque by the marker file only; a
	// fallback one in an opaque dir; one in a dir an earlier migration
	// made opaque; one two opaque levels down; one in a dir opaque by the
	// xattr alone.
	for _, f := range []string{"pre17/a/b/f", "opq2/old3", "kopq/w", "kopq/v"} {
		write(t, filepath.Join(lo, f), "lower "+f+"\n")
	}
	mkdir(t, filepath.Join(up, "pre17/a"))
	whiteout(t, filepath.Join(up, "pre17/a/b"))
	whiteout(t, filepath.Join(up, "pre17/a/.wh..opq"))
	write(t, filepath.Join(up, "pre17/a/.wh..wh..opq"), "")
	setx(t, filepath.Join(up, "pre17/a"), xattrFuseOpq, "y")
	mkdir(t, filepath.Join(up, "pre17/b"))
	whiteout(t, filepath.Join(up, "opq2/old2"))
	write(t, filepath.Join(up, "opq2/.wh.old3"), "")
	mkdir(t, filepath.Join(up, "kopq"))
	setx(t, filepath.Join(up, "kopq"), xattrKernelOpq, "y")
	whiteout(t, filepath.Join(up, "kopq/w"))
	write(t, filepath.Join(up, "kopq/v"), "upper v\n")
	whiteout(t, filepath.Join(up, "nest/inner/old"))
	whiteout(t, filepath.Join(up, "deep/d1/d2/f")) // opaque by xattr only
	// override_stat (the instance owner is root here, as the owner of
	// runtime/NAME under --root): applied; set-id bits dropped; not applied
	// to a file the instance owner does not own; not applied when it names
	// another owner (f4, the containers one).
	for _, f := range []string{"f1", "f2", "f3", "f4"} {
		write(t, filepath.Join(up, "owned", f), "owned "+f+"\n")
	}
	setx(t, filepath.Join(up, "owned/f1"), xattrFuseStat, "0:0:0600:file")
	setx(t, filepath.Join(up, "owned/f2"), xattrFuseStat, "0:0:4755")
	setx(t, filepath.Join(up, "owned/f2"), xattrContStat, "1:1:0777")
	if err := os.Lchown(filepath.Join(up, "owned/f3"), 4321, 4321); err != nil {
		t.Fatal(err)
	}
	setx(t, filepath.Join(up, "owned/f3"), xattrFuseStat, "0:0:0666")
	setx(t, filepath.Join(up, "owned/f4"), xattrContStat, "1000:1000:0640")
	symlink(t, "cfg/a.cfg", filepath.Join(up, "link"))
	// A directory named like a whiteout is not fuse-overlayfs's: left alone,
	// and so is a whiteout of a .wh. name.
	mkdir(t, filepath.Join(up, ".wh.dirlike"))
	write(t, filepath.Join(up, "cfg/.wh..wh.odd"), "")
	// work/ holds fuse-overlayfs temp files.
	write(t, filepath.Join(tr.work(name), "tmp/x"), "tmp")
}

func golden(t *testing.T, name string, got []string) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	text := strings.Join(got, "\n") + "\n"
	if *update {
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if d := diffLines(strings.Split(strings.TrimSuffix(string(want), "\n"), "\n"), got); d != "" {
		t.Errorf("%s differs from %s (-want +got):\n%s", name, p, d)
	}
}

// TestFallbackFormat converts a hand-built fallback-format upper and checks
// the converted upper and the kernel's merged view against golden files,
// and that a plain kernel mount of the unconverted upper differs.
func TestFallbackFormat(t *testing.T) {
	testenv.RequireNamespace(t)
	tr := newTree(t, "fb", "plain")
	buildFallback(t, tr, "fb")
	buildFallback(t, tr, "plain")

	// Without migration, the kernel misreads the fuse-overlayfs upper.
	mountOverlay(t, tr.lower(), tr.upper("plain"), tr.work("plain"), tr.merged("plain"))
	plain := mustView(t, tr.merged("plain"), false)
	probes, err := treeview.Probes(tr.lower(), tr.upper("plain"))
	if err != nil {
		t.Fatal(err)
	}
	plainAnomalies := anomalies(t, tr.merged("plain"), probes)
	unmount(t, tr.merged("plain"))
	if err := os.RemoveAll(tr.root.Join(hostpath.Instance("plain"))); err != nil {
		t.Fatal(err)
	}

	rep := runMigrate(t, tr, Options{})
	golden(t, "fallback-upper", mustView(t, tr.upper("fb"), true))
	if !rep.Changed() || len(rep.Instances) != 1 {
		t.Fatalf("report: changed=%v instances=%d", rep.Changed(), len(rep.Instances))
	}
	ir := rep.Instances[0]
	wantCounts := map[Kind]int{KindWhiteout: 2, KindOpaque: 6, KindMarker: 11, KindOpaqueWhiteout: 5, KindXattr: 11, KindOwner: 2, KindWork: 1}
	if !reflect.DeepEqual(ir.Counts, wantCounts) {
		t.Errorf("counts = %v, want %v", ir.Counts, wantCounts)
	}
	if len(ir.Warnings) != 5 {
		t.Errorf("warnings = %q, want 5 (set-id, foreign owner, override naming another owner, .wh. dir, .wh..wh. file)", ir.Warnings)
	}
	if names, _ := os.ReadDir(tr.work("fb")); len(names) != 0 {
		t.Errorf("work/ not empty after migration: %v", names)
	}

	mountOverlay(t, tr.lower(), tr.upper("fb"), tr.work("fb"), tr.merged("fb"))
	merged := mustView(t, tr.merged("fb"), false)
	if a := anomalies(t, tr.merged("fb"), probes); len(a) != 0 {
		t.Errorf("the kernel's view of the migrated upper has entries a consistent tree does not:\n%s", strings.Join(a, "\n"))
	}
	if len(plainAnomalies) == 0 {
		t.Error("the plain kernel mount shows no unstatable entry: the anomaly check cannot fail")
	}
	unmount(t, tr.merged("fb"))
	golden(t, "fallback-merged", merged)
	if d := diffLines(plain, merged); d == "" {
		t.Error("a plain kernel mount of the unconverted upper shows the same view: the test cannot fail")
	} else {
		t.Logf("plain kernel mount vs migrated (-plain +migrated):\n%s", d)
	}
}

// anomalies are the entries of the view of dir that a consistent tree
// does not have (see treeview.Anomalies).
func anomalies(t *testing.T, dir string, probes []string) []string {
	t.Helper()
	v, err := treeview.Record(dir, treeview.Options{Probe: probes})
	if err != nil {
		t.Fatal(err)
	}
	return treeview.Anomalies(v)
}

// TestRootNotOpaque: marks of opacity on the upper's root do not make its
// whiteouts go (the kernel never treats the root as opaque, so they still
// hide lower names there).
func TestRootNotOpaque(t *testing.T) {
	testenv.RequireRoot(t)
	tr := newTree(t, "r")
	write(t, filepath.Join(tr.lower(), "gone"), "lower\n")
	whiteout(t, filepath.Join(tr.upper("r"), "gone"))
	write(t, filepath.Join(tr.upper("r"), markerOpaque), "")
	setx(t, tr.upper("r"), xattrFuseOpq, "y")
	rep := runMigrate(t, tr, Options{})
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(tr.upper("r"), "gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Fatalf("the root's whiteout: %v (mode %o), want it kept; report %v", err, st.Mode, rep.Instances[0].Counts)
	}
	if n := rep.Instances[0].Counts[KindOpaqueWhiteout]; n != 0 {
		t.Errorf("%d whiteouts dropped at the root", n)
	}
}

// stateView is the whole state tree except the report, which a resumed run
// writes with only its own changes.
func stateView(t *testing.T, tr *tree) []string {
	t.Helper()
	var out []string
	for _, l := range mustView(t, tr.root.Join(hostpath.StateDir), true) {
		if !strings.HasPrefix(l, "migration-report.json ") {
			out = append(out, l)
		}
	}
	return out
}

// TestCrashResume aborts the run after its k-th change, for every k, and
// checks that the next run ends in the tree an uninterrupted run makes.
func TestCrashResume(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tc := range []struct {
		name    string
		reset   bool
		workers int
	}{
		{"convert", false, 1},
		{"convert concurrently", false, 8},
		{"reset-upper", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			build := func() *tree {
				tr := newTree(t, "a", "b")
				buildFallback(t, tr, "a")
				write(t, filepath.Join(tr.upper("b"), ".wh.x"), "")
				write(t, filepath.Join(tr.upper("b"), "d/.wh..wh..opq"), "")
				return tr
			}
			migrator := func(tr *tree) *migrator {
				m := newMigrator(Options{Root: tr.root, ResetUpper: tc.reset})
				m.workers = tc.workers
				return m
			}
			ref := build()
			m := migrator(ref)
			if _, err := m.run(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := stateView(t, ref)
			total := int(m.ops.Load())
			if total < 8 {
				t.Fatalf("only %d operations: the fixture is too small to test", total)
			}
			for k := 1; k <= total; k++ {
				tr := build()
				m := migrator(tr)
				m.afterOp = func(n int) error {
					if n >= k {
						return errAborted
					}
					return nil
				}
				if _, err := m.run(context.Background()); !errors.Is(err, errAborted) {
					t.Fatalf("k=%d: run = %v, want the abort", k, err)
				}
				if _, err := migrator(tr).run(context.Background()); err != nil {
					t.Fatalf("k=%d: resumed run: %v", k, err)
				}
				if d := diffLines(want, stateView(t, tr)); d != "" {
					t.Fatalf("k=%d of %d: resumed tree differs from an uninterrupted run (-want +got):\n%s", k, total, d)
				}
			}
			t.Logf("%d crash points, each resumed to the same tree", total)
		})
	}
}

// TestIdempotent: the sentinel makes a second run touch nothing, and even
// without it a converted tree needs no change.
func TestIdempotent(t *testing.T) {
	testenv.RequireRoot(t)
	tr := newTree(t, "a")
	buildFallback(t, tr, "a")
	runMigrate(t, tr, Options{})
	before := mustView(t, tr.root.Join(hostpath.StateDir), true)
	rep := runMigrate(t, tr, Options{})
	if !rep.Skipped || rep.Changed() {
		t.Fatalf("second run: skipped=%v changed=%v, want skipped and unchanged", rep.Skipped, rep.Changed())
	}
	if d := diffLines(before, mustView(t, tr.root.Join(hostpath.StateDir), true)); d != "" {
		t.Fatalf("second run changed the tree:\n%s", d)
	}
	if err := os.Remove(tr.root.Join(hostpath.Sentinel)); err != nil {
		t.Fatal(err)
	}
	rep = runMigrate(t, tr, Options{})
	for _, ir := range rep.Instances {
		if ir.Total() != 0 {
			t.Errorf("rerun without sentinel changed %s: %v", ir.Name, ir.Changes)
		}
	}
	if d := diffLines(stateView(t, tr), stateView(t, tr)); d != "" {
		t.Fatal(d)
	}
}

// TestDryRun: nothing changes, and the report lists what a real run does.
func TestDryRun(t *testing.T) {
	testenv.RequireRoot(t)
	tr := newTree(t, "a")
	buildFallback(t, tr, "a")
	before := mustView(t, tr.root.Join("/"), true)
	dry := runMigrate(t, tr, Options{DryRun: true})
	if d := diffLines(before, mustView(t, tr.root.Join("/"), true)); d != "" {
		t.Fatalf("dry run changed the tree:\n%s", d)
	}
	if !dry.Changed() || !dry.DryRun {
		t.Fatalf("dry run report: changed=%v dry=%v", dry.Changed(), dry.DryRun)
	}
	real := runMigrate(t, tr, Options{})
	if !reflect.DeepEqual(dry.Instances[0].Changes, real.Instances[0].Changes) {
		t.Errorf("dry run listed\n%v\na real run made\n%v", dry.Instances[0].Changes, real.Instances[0].Changes)
	}
}

// TestNeverFollowsSymlinks: symlinks in upper/, a symlinked instance and a
// symlinked work/ all point at a directory outside that must stay as is.
func TestNeverFollowsSymlinks(t *testing.T) {
	testenv.RequireRoot(t)
	tr := newTree(t, "a")
	outside := t.TempDir()
	write(t, filepath.Join(outside, ".wh.victim"), "")
	write(t, filepath.Join(outside, ".wh..wh..opq"), "")
	write(t, filepath.Join(outside, "file"), "data")
	setx(t, filepath.Join(outside, "file"), "user.fuseoverlayfs.origin", "x")
	setx(t, outside, xattrFuseOpq, "y")
	symlink(t, outside, filepath.Join(tr.upper("a"), "link"))
	symlink(t, outside, filepath.Join(tr.upper("a"), ".wh.link2"))
	symlink(t, outside, tr.root.Join(hostpath.Instance("evil")))
	if err := os.Remove(tr.work("a")); err != nil {
		t.Fatal(err)
	}
	symlink(t, outside, tr.work("a"))
	before := mustView(t, outside, true)

	runMigrate(t, tr, Options{})
	if d := diffLines(before, mustView(t, outside, true)); d != "" {
		t.Fatalf("the migration changed a directory outside the tree:\n%s", d)
	}
	fi, err := os.Lstat(tr.work("a"))
	if err != nil || !fi.IsDir() {
		t.Fatalf("work/ should now be a real directory: %v %v", fi, err)
	}
	if fi, err := os.Lstat(filepath.Join(tr.upper("a"), ".wh.link2")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf(".wh.link2 symlink should be left alone: %v %v", fi, err)
	}
}

// TestNeverCrossesMounts bind-mounts a directory into an upper dir: the
// walk leaves it alone and says so.
func TestNeverCrossesMounts(t *testing.T) {
	testenv.RequireNamespace(t)
	tr := newTree(t, "a")
	outside := t.TempDir()
	write(t, filepath.Join(outside, ".wh.victim"), "")
	setx(t, outside, xattrFuseOpq, "y")
	mkdir(t, filepath.Join(tr.upper("a"), "mnt"))
	if err := unix.Mount(outside, filepath.Join(tr.upper("a"), "mnt"), "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(filepath.Join(tr.upper("a"), "mnt"), unix.MNT_DETACH) })
	before := mustView(t, outside, true)
	rep := runMigrate(t, tr, Options{})
	if d := diffLines(before, mustView(t, outside, true)); d != "" {
		t.Fatalf("the migration crossed into a mount:\n%s", d)
	}
	if w := rep.Instances[0].Warnings; len(w) != 1 || !strings.Contains(w[0], "mount point") {
		t.Errorf("warnings = %q, want one about the mount point", w)
	}
}

// TestUnmountsStaleMounts: a stale kernel overlay mount at merged/ is taken
// down, for real also with --root, and reported.
func TestUnmountsStaleMounts(t *testing.T) {
	testenv.RequireNamespace(t)
	tr := newTree(t, "a")
	write(t, filepath.Join(tr.lower(), "f"), "f")
	mountOverlay(t, tr.lower(), tr.upper("a"), tr.work("a"), tr.merged("a"))

	dry := runMigrate(t, tr, Options{DryRun: true})
	if len(dry.Unmounts) != 1 || !isMounted(t, tr.merged("a")) {
		t.Fatalf("dry run: unmounts=%v mounted=%v, want it listed and left mounted", dry.Unmounts, isMounted(t, tr.merged("a")))
	}
	rep := runMigrate(t, tr, Options{})
	want := []Unmount{{Path: hostpath.Merged("a"), FSType: "overlay"}}
	if !reflect.DeepEqual(rep.Unmounts, want) {
		t.Errorf("unmounts = %v, want %v", rep.Unmounts, want)
	}
	if isMounted(t, tr.merged("a")) {
		t.Error("merged/ is still mounted")
	}
}

// TestServices: on the host the active servers and the web unit are
// stopped first and started again after the sentinel, each server right
// after its overlay is mounted; in a dry run they are only listed; with
// --root neither systemd nor the mounter is asked.
func TestServices(t *testing.T) {
	testenv.RequireRoot(t)
	servers := []string{"left4me-server@a.service", "left4me-server@b.service"}
	for _, tc := range []struct {
		name string
		dry  bool
		host bool
		web  bool
		want []string
	}{
		{"host", false, true, true, []string{
			"list-active left4me-server@*.service", "is-active left4me-web.service",
			"stop left4me-server@a.service left4me-server@b.service left4me-web.service",
			"restart left4me-web.service",
			"mount a", "start left4me-server@a.service", "mount b", "start left4me-server@b.service"}},
		{"host web inactive", false, true, false, []string{
			"list-active left4me-server@*.service", "is-active left4me-web.service",
			"stop left4me-server@a.service left4me-server@b.service left4me-web.service",
			"mount a", "start left4me-server@a.service", "mount b", "start left4me-server@b.service"}},
		{"host dry run", true, true, true, []string{
			"list-active left4me-server@*.service", "is-active left4me-web.service"}},
		{"root", false, false, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "a")
			write(t, filepath.Join(tr.upper("a"), ".wh.x"), "")
			f := &fakeServices{active: servers, web: tc.web}
			m := newMigrator(Options{Root: tr.root, DryRun: tc.dry, Services: f, Mounter: &fakeMounter{log: f}})
			m.host = tc.host
			m.hostOwner = func() (ownerID, error) { return ownerID{1234, 1235}, nil }
			rep, err := m.run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.calls, tc.want) {
				t.Errorf("calls = %q\nwant %q", f.calls, tc.want)
			}
			if want := tc.host && !tc.dry; rep.Services.Made != want {
				t.Errorf("services made = %v", rep.Services.Made)
			}
			if want := []string{"a", "b"}; tc.host && !reflect.DeepEqual(rep.Services.Mount, want) {
				t.Errorf("report lists mounts %q, want %q", rep.Services.Mount, want)
			}
			if len(rep.Services.Failed) > 0 {
				t.Errorf("report lists failures: %q", rep.Services.Failed)
			}
			if tc.host && !tc.dry {
				var st unix.Stat_t
				for _, p := range []string{tr.work("a"), tr.root.Join(hostpath.Sentinel)} {
					if err := unix.Lstat(p, &st); err != nil || st.Uid != 1234 || st.Gid != 1235 {
						t.Errorf("%s owner %d:%d (%v), want the left4me user 1234:1235", p, st.Uid, st.Gid, err)
					}
				}
			}
		})
	}
}

// TestResetUpper moves the old upper aside under a new name each time and
// leaves empty upper/ and work/.
func TestResetUpper(t *testing.T) {
	testenv.RequireRoot(t)
	tr := newTree(t, "a")
	buildFallback(t, tr, "a")
	old := mustView(t, tr.upper("a"), true)
	mkdir(t, tr.root.Join(hostpath.Instance("a")+"/"+AsidePrefix+"1"))
	rep := runMigrate(t, tr, Options{ResetUpper: true})
	aside := tr.root.Join(hostpath.Instance("a") + "/" + AsidePrefix + "2")
	if got := rep.Instances[0].MovedAside; got != hostpath.Instance("a")+"/"+AsidePrefix+"2" {
		t.Errorf("moved aside to %q", got)
	}
	if d := diffLines(old, mustView(t, aside, true)); d != "" {
		t.Errorf("old upper not kept intact:\n%s", d)
	}
	for _, d := range []string{tr.upper("a"), tr.work("a")} {
		if names, err := os.ReadDir(d); err != nil || len(names) != 0 {
			t.Errorf("%s: %v %v, want an empty dir", d, names, err)
		}
	}
	if _, err := os.Stat(tr.root.Join(JournalFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal left behind: %v", err)
	}
}

// TestReportKept: the report lands under the state dir, every path in it.
func TestReportKept(t *testing.T) {
	testenv.RequireRoot(t)
	tr := newTree(t, "a")
	write(t, filepath.Join(tr.upper("a"), ".wh.x"), "")
	runMigrate(t, tr, Options{})
	b, err := os.ReadFile(tr.root.Join(ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"/var/lib/left4me/runtime/a/upper/x"`, `"whiteout": 1`, `"sentinel": true`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("report lacks %s:\n%s", s, b)
		}
	}
}

// The owner of the tree may swap a name for a hardlink to another user's
// file between the walk's stat and the change: chownChmod checks the pinned
// inode's owner again and changes nothing of a file that is not the
// instance owner's.
func TestChownChmodRechecksPinnedOwner(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	write(t, victim, "secret\n")
	if err := os.Chmod(victim, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(victim, 4321, 4321); err != nil {
		t.Fatal(err)
	}
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	err = xattrTarget{fd: -1, dirfd: dfd, name: "victim"}.chownChmod(1000, 1000, 1000, 0o666)
	if !errors.Is(err, unix.EPERM) {
		t.Fatalf("chownChmod(file of uid 4321, owner 1000) = %v, want EPERM", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(victim, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 4321 || st.Gid != 4321 || st.Mode&0o7777 != 0o600 {
		t.Fatalf("victim is %d:%d %04o after the refused change, want 4321:4321 0600", st.Uid, st.Gid, st.Mode&0o7777)
	}
	// The owner's own file is changed, through the pinned inode.
	own := filepath.Join(dir, "own")
	write(t, own, "mine\n")
	os.Chown(own, 1000, 1000)
	if err := (xattrTarget{fd: -1, dirfd: dfd, name: "own"}).chownChmod(1000, 1000, 1000, 0o640); err != nil {
		t.Fatalf("chownChmod(owner's file) = %v", err)
	}
	if err := unix.Stat(own, &st); err != nil || st.Mode&0o7777 != 0o640 {
		t.Fatalf("own file mode %04o, %v; want 0640", st.Mode&0o7777, err)
	}
}

// The journal lies in the instance owner's directory: a symlink (to a
// root-only file), a FIFO (which would block the deploy) or garbage is
// refused, never followed or waited on.
func TestJournalLoadRefusesHostileFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	write(t, secret, `{"reset":{"a":"upper.pre-kernel-overlay.1"}}`)
	link := filepath.Join(dir, "link")
	symlink(t, secret, link)
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	write(t, bad, `{"reset":{"../x":"upper.pre-kernel-overlay.1"}}`)
	for _, p := range []string{link, fifo, bad} {
		var j journal
		if err := j.load(p); err == nil {
			t.Errorf("journal.load(%s) = nil, want a refusal", filepath.Base(p))
		}
	}
	var j journal
	if err := j.load(secret); err != nil || j.Reset["a"] != "upper.pre-kernel-overlay.1" {
		t.Fatalf("journal.load(regular) = %v, %v", j.Reset, err)
	}
	if err := j.load(filepath.Join(dir, "missing")); err != nil || len(j.Reset) != 0 {
		t.Fatalf("journal.load(missing) = %v, %v; want empty, nil", j.Reset, err)
	}
}
