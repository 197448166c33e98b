//go:build linux

package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/internal/treeview"
)

// The randomised truth test: SequencesEnv sequences (default
// defaultSequences, what CI runs) from seeds SeedEnv, SeedEnv+1, ...
// (default 1); tests/fuse/random runs many more, with a random first seed,
// on each Debian release's fuse-overlayfs.
const (
	SequencesEnv     = "LEFT4ME_FUSE_SEQUENCES"
	SeedEnv          = "LEFT4ME_FUSE_SEED"
	defaultSequences = 20
	maxShrinkRuns    = 150
)

// pattern306 is fuse-overlayfs#306: before 1.7 it leaves a 0/0 whiteout
// "b" inside the opaque "a" after this, with a/b in a lower layer.
var pattern306 = []op{
	{Op: "rmrf", P: "left4dead2/scripts"},
	{Op: "mkdirp", P: "left4dead2/scripts/vscripts"},
	{Op: "rename", P: "left4dead2/scripts/vscripts", To: "left4dead2/vscripts-moved"},
}

// longName is a name near the 255-byte limit.
var longName = "long-" + strings.Repeat("x", 240)

// shrunkSequences are failing sequences the randomised test found, shrunk
// to a minimal one, kept as regression tests.
var shrunkSequences = []struct {
	name string
	ops  []op
}{
	{"fuse-overlayfs#306", pattern306},
	// fuse-overlayfs 1.10's lookup finds the lower names of a re-created
	// (opaque) dir once a whiteout is made next to it, its readdir does
	// not; the kernel view must match the readdir.
	{"lookup in a re-created dir after a rename", []op{
		{Op: "rmrf", P: "left4dead2"},
		{Op: "mkdirp", P: "left4dead2/scripts"},
		{Op: "rename", P: "srcds_run", To: "n29"},
	}},
	// fuse-overlayfs 1.4 leaves a whiteout of the old name whenever a dir
	// is renamed out of an opaque dir, one it made itself included (it
	// makes every new dir opaque): a new dir chain, long names, and a
	// re-created lower dir renamed into a new dir.
	{"rename out of a new dir", []op{
		{Op: "mkdirp", P: "left4dead2/new/n5/n6/n7"},
		{Op: "rename", P: "left4dead2/new/n5/n6", To: "left4dead2/new/n5/n16"},
	}},
	{"rename out of a new dir, long names", []op{
		{Op: "mkdirp", P: "left4dead2/sound/deep/er/n3/" + longName + "/n5/n6/n7/" + longName},
		{Op: "rename", P: "left4dead2/sound/deep/er/n3/" + longName + "/n5/n6", To: "left4dead2/sound/deep/er/n3/" + longName + "/n5/n16"},
	}},
	{"rename of a deep new dir out of a re-created dir", []op{
		{Op: "rmrf", P: "left4dead2"},
		{Op: "mkdirp", P: "left4dead2/n13/n14/n15/n16/n17/n18/n19/n20"},
		{Op: "rename", P: "left4dead2/n13", To: "left4dead2/n22"},
	}},
	{"re-created lower dir renamed into a new dir", []op{
		{Op: "mkdir", P: "left4dead2/addons/" + longName},
		{Op: "rmrf", P: "left4dead2/sound"},
		{Op: "mkdirp", P: "left4dead2/sound/deep"},
		{Op: "rename", P: "left4dead2/sound/deep", To: "left4dead2/addons/" + longName + "/n2"},
	}},
	// Later releases (1.10, 1.13) too leave a whiteout of the name a lower
	// file had in an opaque dir once it is renamed on from there.
	{"lower file renamed into an opaque dir and on", []op{
		{Op: "rmrf", P: "left4dead2"},
		{Op: "mkdirp", P: "left4dead2/cfg"},
		{Op: "rename", P: "srcds_run", To: "left4dead2/n6"},
		{Op: "rename", P: "left4dead2/n6", To: "left4dead2/n1"},
	}},
	{"lower file renamed into a renamed opaque dir and out", []op{
		{Op: "rmrf", P: "left4dead2"},
		{Op: "mkdirp", P: "left4dead2/sound"},
		{Op: "rename", P: "left4dead2/sound", To: "left4dead2/n3"},
		{Op: "rename", P: "srcds_run", To: "left4dead2/n3/n4"},
		{Op: "rename", P: "left4dead2/n3/n4", To: "left4dead2/n5"},
	}},
	// A dir chmod'ed to a mode without the owner's x: both views of it
	// must still be readable (the chmod op keeps rwx for dirs).
	{"chmod of a dir without x", []op{
		{Op: "chmod", P: "left4dead2", N: 0o640},
	}},
}

// TestRandomWorkload runs random op sequences on real fuse-overlayfs over
// game-like lower layers, migrates each upper and compares the kernel's
// view with the fuse view (treeview: every name readdir lists, each
// lstat'ed, plus every name of any layer probed). A failing sequence is
// shrunk and printed as a Go literal for shrunkSequences.
func TestRandomWorkload(t *testing.T) {
	n := envInt(t, SequencesEnv, defaultSequences)
	seed0 := int64(envInt(t, SeedEnv, 1))
	e := newFuzzEnv(t, selectFuse(t))
	passed, ops, dropped, failures, live, unlisted := 0, 0, 0, 0, 0, 0
	for i := 0; i < n && failures < 3; i++ {
		seed := seed0 + int64(i)
		seq := newGen(seed).ops(10 + rand.New(rand.NewSource(seed)).Intn(31))
		ops += len(seq)
		out := e.run(seq)
		if out.live != "" {
			live++
			t.Logf("seed %d: the running fuse-overlayfs %s showed what a fresh mount of its upper does not (-fresh +live):\n%s", seed, e.fuse.version, out.live)
		}
		if len(out.unlisted) != 0 {
			unlisted++
			t.Logf("seed %d: fuse-overlayfs %s finds names by lookup that its readdir does not list: %q", seed, e.fuse.version, out.unlisted)
		}
		if out.diff == "" {
			passed++
			dropped += out.opaqueWhiteouts
			if out.opaqueWhiteouts != 0 {
				t.Logf("seed %d: %d whiteouts in opaque dirs dropped", seed, out.opaqueWhiteouts)
			}
			continue
		}
		failures++
		shrunk, tries := shrink(seq, func(c []op) bool { return e.run(c).diff != "" })
		again := e.run(shrunk)
		t.Errorf("seed %d (%d ops): the kernel view of the migrated upper differs from fuse-overlayfs %s (-fuse +kernel):\n%s\n\nshrunk in %d runs to %d ops (add to shrunkSequences):\n%s\ndiff:\n%s\nop results:\n%s",
			seed, len(seq), e.fuse.version, out.diff, tries, len(shrunk), goSequence(shrunk), again.diff, again.log)
	}
	t.Logf("fuse-overlayfs %s (%s): %d of %d sequences passed from seed %d (%d ops; %d whiteouts in opaque dirs dropped; %d live views differed from a fresh mount; %d fuse views with names found by lookup but not listed)",
		e.fuse.version, e.fuse.label, passed, n, seed0, ops, dropped, live, unlisted)
}

// TestShrunkSequences runs the regression table on the selected
// fuse-overlayfs.
func TestShrunkSequences(t *testing.T) {
	e := newFuzzEnv(t, selectFuse(t))
	for _, s := range shrunkSequences {
		out := e.run(s.ops)
		if out.diff != "" {
			t.Errorf("%s on fuse-overlayfs %s: kernel view differs (-fuse +kernel):\n%s\nop results:\n%s", s.name, e.fuse.version, out.diff, out.log)
		}
		t.Logf("%s: %d whiteouts in opaque dirs dropped", s.name, out.opaqueWhiteouts)
	}
	t.Logf("fuse-overlayfs %s: %d shrunk sequences pass", e.fuse.version, len(shrunkSequences))
}

// TestPre17Pattern runs fuse-overlayfs#306, then the regression table, on
// Debian 11's own fuse-overlayfs 1.4 (its root file system from
// tests/fuse/rootfs, built once and cached): the upper it writes has a
// whiteout inside an opaque dir, and the migrated upper shows the fuse
// view all the same.
func TestPre17Pattern(t *testing.T) {
	testenv.RequireNamespace(t)
	f := releaseFuse(t, "bullseye")
	e := newFuzzEnv(t, f)
	out := e.run(pattern306)
	if out.diff != "" {
		t.Errorf("fuse-overlayfs %s: kernel view of the migrated upper differs (-fuse +kernel):\n%s\nop results:\n%s", f.version, out.diff, out.log)
	}
	if out.opaqueWhiteouts != 1 {
		t.Errorf("fuse-overlayfs %s left %d whiteouts in opaque dirs, want the 1 of its issue #306 (or this is not the release that has it): op results:\n%s", f.version, out.opaqueWhiteouts, out.log)
	}
	t.Logf("fuse-overlayfs %s (%s): #306 pattern left %d whiteout in an opaque dir; migrated view equal (%d entries)", f.version, f.label, out.opaqueWhiteouts, out.entries)
	// The regression table on this release too: most of it comes from it.
	for _, s := range shrunkSequences {
		if out := e.run(s.ops); out.diff != "" {
			t.Errorf("%s on fuse-overlayfs %s: kernel view differs (-fuse +kernel):\n%s\nop results:\n%s", s.name, f.version, out.diff, out.log)
		}
	}
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a number", name, v)
	}
	return n
}

// shrink removes ops from a failing sequence while it still fails
// (delta debugging), at most maxShrinkRuns runs.
func shrink(ops []op, fails func([]op) bool) ([]op, int) {
	runs := 0
	for chunk := len(ops) / 2; chunk >= 1 && runs < maxShrinkRuns; {
		removed := false
		for i := 0; i+chunk <= len(ops) && runs < maxShrinkRuns; {
			cand := append(append([]op{}, ops[:i]...), ops[i+chunk:]...)
			runs++
			if fails(cand) {
				ops, removed = cand, true
				continue
			}
			i += chunk
		}
		if !removed {
			chunk /= 2
		}
	}
	return ops, runs
}

// fuzzEnv runs sequences as the fuse user.
type fuzzEnv struct {
	t        *testing.T
	fuse     fuseOverlayfs
	uid, gid int
	self     string
	base     string
}

func newFuzzEnv(t *testing.T, f fuseOverlayfs) *fuzzEnv {
	t.Helper()
	testenv.RequireNamespace(t)
	testenv.RequireBinary(t, "fusermount3", "fuse3")
	uid, gid := addFuseUser(t)
	openDevFuse(t)
	base, err := os.MkdirTemp("", "l4m-tmg-rand-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	return &fuzzEnv{t: t, fuse: f, uid: uid, gid: gid, self: copySelf(t, base), base: base}
}

// outcome is what one sequence did.
type outcome struct {
	diff            string // "" when the kernel view equals the fuse view and is consistent
	log             string // each op and its result
	entries         int
	opaqueWhiteouts int // whiteouts in opaque dirs the migration dropped
	// live is how the view of the running fuse-overlayfs differed from the
	// view of a fresh mount of what it wrote (-fresh +live).
	live string
	// unlisted are the names the fuse view found by lookup, not readdir.
	unlisted []string
}

// run runs ops on a fresh tree: fuse-overlayfs, the ops, the fuse view,
// unmount, migrate, kernel overlayfs, the kernel view.
func (e *fuzzEnv) run(ops []op) outcome {
	t := e.t
	t.Helper()
	dir, err := os.MkdirTemp(e.base, "seq-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root := hostpath.Root(dir)
	const name = "rand"
	var layers []string
	for _, l := range gameLayers {
		ld := root.Join(hostpath.StateDir + "/" + l.dir)
		layers = append(layers, ld)
		for _, f := range l.files {
			write(t, filepath.Join(ld, f), "lower "+l.dir+" "+f+"\n")
		}
	}
	upper, work, merged := root.Join(hostpath.Upper(name)), root.Join(hostpath.Work(name)), root.Join(hostpath.Merged(name))
	for _, d := range []string{upper, work, merged, root.Join(hostpath.RuntimeDir)} {
		mkdir(t, d)
	}
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", e.uid, e.gid), root.Join("/var")).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	lower := strings.Join(layers, ":")

	fm := e.fuse.mount(t, e.uid, e.gid, lower, upper, work, merged)
	opsFile := filepath.Join(dir, "ops.json")
	b, _ := json.Marshal(ops)
	if err := os.WriteFile(opsFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := userCmd(e.uid, e.gid, merged, e.self)
	cmd.Env = append(cmd.Env, "L4M_TMG_OPS="+opsFile)
	// A hang guard, not a timed assertion: an op that blocks (a FIFO
	// opened without a partner, say) fails the test instead of stalling it.
	timer := time.AfterFunc(5*time.Minute, func() { cmd.Process.Signal(syscall.SIGQUIT) })
	logb, err := cmd.CombinedOutput()
	timer.Stop()
	if err != nil {
		t.Fatalf("run ops as %s: %v\n%s", fuseUser, err, logb)
	}
	out := outcome{log: string(logb)}
	probes, err := treeview.Probes(append(layers, upper)...)
	if err != nil {
		t.Fatal(err)
	}
	liveView := e.view(dir, merged, probes)
	fm.unmount(t)
	// The fuse view the migration must keep is the one fuse-overlayfs
	// shows from the upper it wrote, read by a fresh mount: a running
	// daemon can show what it never wrote down (its lookups find lower
	// names its readdir hides after a failed rmdir of an opaque dir, for
	// one), and that never outlived a restart of the old stack either.
	fm = e.fuse.mount(t, e.uid, e.gid, lower, upper, work, merged)
	fuseView := e.view(dir, merged, probes)
	fm.unmount(t)
	if d := treeview.Diff(fuseView, liveView); d != "" {
		out.live = d
	}

	rep, err := Run(context.Background(), Options{Root: root})
	if err != nil {
		out.diff = "migrate: " + err.Error()
		return out
	}
	for _, ir := range rep.Instances {
		out.opaqueWhiteouts += ir.Counts[KindOpaqueWhiteout]
	}
	after, err := treeview.Probes(append(layers, upper)...)
	if err != nil {
		t.Fatal(err)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatalf("mount overlay %s: %v", opts, err)
	}
	kernelView := e.view(dir, merged, append(probes, after...))
	if err := unix.Unmount(merged, 0); err != nil {
		t.Fatalf("umount %s: %v", merged, err)
	}

	// Names the fuse view finds by lookup but does not list are
	// fuse-overlayfs's own inconsistency (see treeview.SplitUnlisted):
	// recorded, and compared without.
	fuseView, out.unlisted = treeview.SplitUnlisted(fuseView)
	out.entries = len(fuseView)
	var diffs []string
	if d := treeview.Diff(fuseView, kernelView); d != "" {
		diffs = append(diffs, d)
	}
	for _, a := range treeview.Anomalies(kernelView) {
		diffs = append(diffs, "kernel view: "+a)
	}
	for _, a := range treeview.Anomalies(fuseView) {
		diffs = append(diffs, "fuse view: "+a)
	}
	out.diff = strings.Join(diffs, "\n")
	return out
}

// view records the treeview of dir as the fuse user (a fuse mount without
// allow_other is closed even to root), probing the given names.
func (e *fuzzEnv) view(tmp, dir string, probes []string) []string {
	e.t.Helper()
	sort.Strings(probes)
	pf := filepath.Join(tmp, "probes")
	if err := os.WriteFile(pf, []byte(strings.Join(probes, "\n")), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return treeviewAsUser(e.t, e.self, e.uid, e.gid, dir, pf)
}

// treeviewAsUser records the treeview of dir in a helper process as the
// fuse user, probing the names in probeFile ("" for none).
func treeviewAsUser(t *testing.T, self string, uid, gid int, dir, probeFile string) []string {
	t.Helper()
	cmd := userCmd(uid, gid, "/", self)
	cmd.Env = append(cmd.Env, "L4M_TMG_TREEVIEW="+dir, "L4M_TMG_PROBES="+probeFile)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("treeview %s as %s: %v\n%s", dir, fuseUser, err, stderr.String())
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// printTreeview is the helper-process mode of treeviewAsUser.
func printTreeview(dir, probeFile string) int {
	var probes []string
	if probeFile != "" {
		b, err := os.ReadFile(probeFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		probes = strings.Split(string(b), "\n")
	}
	lines, err := treeview.Record(dir, treeview.Options{Probe: probes})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(strings.Join(lines, "\n"))
	return 0
}
