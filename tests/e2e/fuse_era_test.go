//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/left4me/left4me-deploy/internal/treeview"
	"github.com/left4me/left4me-deploy/steps"
)

const fuseEraDir = "/usr/local/lib/left4me-e2e/fuse-era"

// TestFuseEraHost deploys to a host prepared like the old stack: upper dirs
// written by real fuse-overlayfs, an old web unit with MountFlags=shared,
// and two instances of which one was running. The deploy must migrate
// without loss and bring back exactly what was running.
func TestFuseEraHost(t *testing.T) {
	requireHostTools(t)
	t.Parallel()
	runFuseEraHost(t, bookwormImage, "fuse-era host")
}

// runFuseEraHost is TestFuseEraHost on a host of img, as scenario name.
func runFuseEraHost(t *testing.T, img *rootfsImage, name string) {
	s := newScenario(t, name,
		"boot", "prepare fuse-era host", "kernel misreads unconverted upper",
		"deploy migrates", "sentinel present", "no fuse mounts left", "web unit replaced",
		"alpha running again", "beta still stopped", "alpha view unchanged", "beta view unchanged",
		"redeploy converges", "l4d2ctl stop and start alpha")
	h := bootHostOn(t, img, "fuse-era", func(root string) {
		files, err := filepath.Glob("testdata/fuse-era/*")
		if err != nil || len(files) == 0 {
			t.Fatalf("fuse-era testdata missing: %v", err)
		}
		for _, f := range files {
			mode := os.FileMode(0o644)
			if strings.HasSuffix(f, ".sh") {
				mode = 0o755
			}
			install(t, f, filepath.Join(root, fuseEraDir, filepath.Base(f)), mode)
		}
	})
	s.pass("boot", fmt.Sprintf("systemd %s, sshd on 127.0.0.1:%d", h.BootState, h.Port))

	var preAlpha, preBeta string
	s.check("prepare fuse-era host", []string{"boot"}, func(c *C) {
		h.MustRun(c, fuseEraDir+"/prepare.sh")
		for _, inst := range []string{"alpha", "beta"} {
			h.MustRun(c, "runuser -u left4me -- "+fuseEraDir+"/mount.sh "+inst)
		}
		h.MustRun(c, "runuser -u left4me -- "+fuseEraDir+"/workload.sh "+mergedDir("alpha")+" full")
		h.MustRun(c, "runuser -u left4me -- "+fuseEraDir+"/workload.sh "+mergedDir("beta")+" small")

		// beta was stopped before the upgrade: its view, then unmount.
		preBeta = viewAsLeft4me(c, h, "beta", mergedDir("beta"), true)
		h.MustRun(c, "runuser -u left4me -- fusermount3 -u "+mergedDir("beta"))

		// alpha was running, from its fuse mount in the host's namespace.
		h.MustRun(c, "systemctl start "+serverUnit("alpha"))
		waitJournal(c, h, serverUnit("alpha"), "serving from "+mergedDir("alpha")+" (fstype fuse.fuse-overlayfs)", 1)
		preAlpha = viewAsLeft4me(c, h, "alpha", mergedDir("alpha"), true)

		// The uppers really are in fuse-overlayfs format.
		marks := h.MustRun(c, "getfattr -R -d -m '^user\\.fuseoverlayfs\\.' --absolute-names "+stateDir+"/runtime/alpha/upper "+stateDir+"/runtime/beta/upper 2>/dev/null | grep -c '^user.fuseoverlayfs' || true")
		if strings.TrimSpace(marks) == "0" {
			c.Fatalf("no user.fuseoverlayfs.* xattrs in the upper dirs: the workload did not produce a fuse-format upper")
		}
		if st := unitState(c, h, webUnit); st != "active" {
			c.Fatalf("old %s is %s, want active", webUnit, st)
		}
		c.Note("%d user.fuseoverlayfs xattrs; alpha running, beta stopped; %d+%d view lines",
			atoi(marks), lines(preAlpha), lines(preBeta))
	})
	prepared := []string{"prepare fuse-era host"}

	// Shows the migration has work to do: the kernel reads beta's
	// unconverted upper differently from fuse-overlayfs.
	s.check("kernel misreads unconverted upper", prepared, func(c *C) {
		view := h.MustRun(c, `set -eu
C=$(mktemp -d /var/tmp/ctl.XXXXXX)
chmod 0755 $C
cp -a `+stateDir+`/runtime/beta/upper $C/upper
mkdir $C/work $C/merged
. `+stateDir+`/runtime/beta/instance.env
mount -t overlay overlay -o "lowerdir=$LOWERDIRS,upperdir=$C/upper,workdir=$C/work" $C/merged
runuser -u left4me -- `+standinPath+` view -layers "$LOWERDIRS:$C/upper:`+stateDir+`/runtime/beta/upper" $C/merged || { umount $C/merged; rm -rf $C; exit 1; }
umount $C/merged
rm -rf $C`)
		diff := lineDiff(preBeta, view)
		if diff == "" {
			c.Fatalf("a plain kernel mount of beta's fuse-format upper shows the same view: the check could not fail")
		}
		c.Note("%d lines differ without migration", strings.Count(diff, "\n"))
	})

	var d deployResult
	s.check("deploy migrates", prepared, func(c *C) {
		d = deploy(c.T, h)
		requireDeployOK(c, d)
		c.Note("%d steps changed in %s", d.Summary.Changed, d.Elapsed.Round(100*time.Millisecond))
	})
	// The checks below judge the host after the migration. They also run
	// when the deploy failed after its migration step ran, so a failure
	// there still tells what the conversion itself did; the deploy's own
	// failure is reported above either way.
	if st := d.stepStatus("migration"); st == steps.StatusChanged || st == steps.StatusFailed {
		s.status["migration step ran"] = "PASS"
	}
	deployed := []string{"migration step ran"}

	s.check("sentinel present", deployed, func(c *C) {
		if owner := strings.TrimSpace(h.MustRun(c, "stat -c %U "+sentinel)); owner != "left4me" {
			c.Fatalf("%s owned by %q, want left4me", sentinel, owner)
		}
	})

	s.check("no fuse mounts left", deployed, func(c *C) {
		out := h.MustRun(c, "grep -c ' fuse.fuse-overlayfs ' /proc/1/mountinfo || true; pgrep -x fuse-overlayfs || true")
		if strings.TrimSpace(out) != "0" {
			c.Fatalf("fuse-overlayfs mounts or processes left (count, then PIDs):\n%s", out)
		}
	})

	s.check("web unit replaced", deployed, func(c *C) {
		checkWebUnit(c, h)
		p := unitProps(c, h, webUnit, "MountFlags")
		if flags := p["MountFlags"]; flags != "" && flags != "0" {
			c.Errorf("%s still has MountFlags=%s", webUnit, flags)
		}
		if r := h.Run(context.Background(), "grep -n '^[[:space:]]*MountFlags=' "+webUnitFile); r.Code == 0 {
			c.Errorf("deployed %s still sets MountFlags: %s", webUnitFile, r.Stdout)
		}
		if r := h.Run(context.Background(), "test ! -e /etc/systemd/system/"+webUnit); r.Code != 0 {
			c.Errorf("the old /etc/systemd/system/%s is still in place", webUnit)
		}
	})

	s.check("alpha running again", deployed, func(c *C) {
		if fs := hostFSType(c, h, mergedDir("alpha")); fs != "overlay" {
			c.Fatalf("alpha's merged shows %q on the host, want a kernel overlay", fs)
		}
		requireServing(c, h, "alpha", 1)
	})

	s.check("beta still stopped", deployed, func(c *C) {
		if st := unitState(c, h, serverUnit("beta")); st == "active" || st == "activating" {
			c.Fatalf("%s is %s; it was not running before the deploy", serverUnit("beta"), st)
		}
		if fs := hostFSType(c, h, mergedDir("beta")); fs != "" {
			c.Fatalf("beta's merged is a %s mount; it was not mounted before the deploy", fs)
		}
	})

	// alpha's view is read from its running server's mount; if the deploy
	// left it unmounted (a failure reported above), from a mount made the
	// way l4d2ctl makes it, so the conversion is still judged.
	s.check("alpha view unchanged", deployed, func(c *C) {
		if diff := lineDiff(preAlpha, viewInstance(c, h, "alpha")); diff != "" {
			c.Fatalf("alpha's merged view after migration differs from before (- before, + after):\n%s", diff)
		}
		c.Note("%d entries equal", lines(preAlpha))
	})

	s.check("beta view unchanged", deployed, func(c *C) {
		if diff := lineDiff(preBeta, viewInstance(c, h, "beta")); diff != "" {
			c.Fatalf("beta's merged view after migration differs from before (- before, + after):\n%s", diff)
		}
		c.Note("%d entries equal", lines(preBeta))
	})

	// A second deploy finishes whatever the first left, and migrates
	// nothing again (the sentinel gates it).
	s.check("redeploy converges", deployed, func(c *C) {
		d := deploy(c.T, h)
		requireDeployOK(c, d)
		if st := d.stepStatus("migration"); st != steps.StatusOK {
			c.Fatalf("migration step reported %q on the second deploy, want ok: %s", st, d)
		}
		c.Note("ok=%d changed=%d %v", d.Summary.OK, d.Summary.Changed, d.changedSteps())
	})

	// The web app runs the migrated instance with l4d2ctl like any other:
	// stop takes the server and its overlay down, start brings both back.
	s.check("l4d2ctl stop and start alpha", []string{"alpha running again", "web unit replaced"}, func(c *C) {
		if r := h.AsWeb("l4d2ctl", "stop", "alpha"); r.Code != 0 {
			c.Fatalf("l4d2ctl stop alpha: %s", r)
		}
		if st := unitState(c, h, serverUnit("alpha")); st == "active" || st == "activating" {
			c.Fatalf("after l4d2ctl stop, %s is %s", serverUnit("alpha"), st)
		}
		if fs := hostFSType(c, h, mergedDir("alpha")); fs != "" {
			c.Fatalf("after l4d2ctl stop, %s is still a %s mount", mergedDir("alpha"), fs)
		}
		if r := h.AsWeb("l4d2ctl", "start", "alpha"); r.Code != 0 {
			c.Fatalf("l4d2ctl start alpha after stop: %s", r)
		}
		if fs := hostFSType(c, h, mergedDir("alpha")); fs != "overlay" {
			c.Fatalf("after l4d2ctl start, %s shows %q, want overlay", mergedDir("alpha"), fs)
		}
		// Once brought back by the migration, once by l4d2ctl start.
		requireServing(c, h, "alpha", 2)
	})
}

// viewInstance records the merged view of inst. If inst is not mounted it
// mounts it as l4d2ctl does, as left4me through sudo and the helper, and
// unmounts it again afterwards.
func viewInstance(c *C, h *Host, inst string) string {
	c.Helper()
	if hostFSType(c, h, mergedDir(inst)) == "overlay" {
		return viewAsLeft4me(c, h, inst, mergedDir(inst), false)
	}
	h.MustRun(c, "runuser -u left4me -- sudo -n "+overlayHelper+"-mount "+inst)
	view := h.Run(context.Background(), "runuser -u left4me -- "+standinPath+" view -layers "+instanceLayers(inst)+" "+mergedDir(inst))
	h.MustRun(c, "runuser -u left4me -- sudo -n "+overlayHelper+"-umount "+inst)
	if view.Code != 0 {
		c.Fatalf("view %s: %s", inst, view)
	}
	return checkView(c, mergedDir(inst), view.Stdout, false)
}

// viewAsLeft4me records the view of inst's merged dir as left4me (the
// fuse mounts of the old stack are the mounting user's alone): the
// treeview, every listed name lstat'ed and every name of its layers
// probed, so an entry listed but not stat-able, or found but not listed,
// is in it. A view holding such an entry fails the check.
func viewAsLeft4me(c *C, h *Host, inst, dir string, fuse bool) string {
	c.Helper()
	return checkView(c, dir, h.MustRun(c, "runuser -u left4me -- "+standinPath+" view -layers "+instanceLayers(inst)+" "+dir), fuse)
}

// checkView fails on entries of view v that a consistent tree does not
// have. Of a fuse-overlayfs view (fuse), names its lookup finds but its
// readdir does not list are its own inconsistency (treeview.SplitUnlisted:
// a fresh mount of the same upper does not show them): noted, and left out
// of the view the migration must keep.
func checkView(c *C, dir, v string, fuse bool) string {
	c.Helper()
	lines := strings.Split(strings.TrimRight(v, "\n"), "\n")
	if fuse {
		kept, unlisted := treeview.SplitUnlisted(lines)
		if len(unlisted) != 0 {
			c.Logf("%s: fuse-overlayfs finds %d names by lookup that its readdir does not list: %q", dir, len(unlisted), unlisted)
		}
		lines = kept
	}
	if a := treeview.Anomalies(lines); len(a) != 0 {
		c.Fatalf("the view of %s has entries a consistent tree does not:\n%s", dir, strings.Join(a, "\n"))
	}
	return strings.Join(lines, "\n") + "\n"
}

// instanceLayers are the layers of inst (layout.sh): its lower dirs, then
// its upper.
func instanceLayers(inst string) string {
	return stateDir + "/overlays/cfg:" + stateDir + "/installation:" + stateDir + "/runtime/" + inst + "/upper"
}

// waitJournal waits until unit's journal holds want n times.
func waitJournal(c *C, h *Host, unit, want string, n int) {
	c.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		log := h.MustRun(c, "journalctl -u "+unit+" --no-pager -o cat")
		if strings.Count(log, want) >= n {
			return
		}
		if time.Now().After(deadline) {
			c.Fatalf("%s never logged %q:\n%s", unit, want, tail(log, 20))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// lineDiff lists the lines only in a (prefixed "-") and only in b ("+");
// both are sorted views. It returns "" when they are equal.
func lineDiff(a, b string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
			m[l]++
		}
		return m
	}
	ca, cb := count(a), count(b)
	var out strings.Builder
	for _, l := range strings.Split(strings.TrimRight(a, "\n"), "\n") {
		if cb[l] < ca[l] {
			fmt.Fprintf(&out, "- %s\n", l)
			ca[l]--
		}
	}
	ca = count(a)
	for _, l := range strings.Split(strings.TrimRight(b, "\n"), "\n") {
		if ca[l] < cb[l] {
			fmt.Fprintf(&out, "+ %s\n", l)
			cb[l]--
		}
	}
	return out.String()
}

func lines(s string) int { return strings.Count(s, "\n") }

func atoi(s string) int {
	var n int
	fmt.Sscan(strings.TrimSpace(s), &n)
	return n
}
