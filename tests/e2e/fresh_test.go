//go:build linux

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Paths on the test host, as in the layout contract.
const (
	stateDir      = "/var/lib/left4me"
	sentinel      = stateDir + "/.kernel-overlay-migrated"
	overlayHelper = "/usr/local/libexec/left4me/left4me-overlay"
	webUnit       = "left4me-web.service"
	webUnitFile   = "/usr/local/lib/systemd/system/left4me-web.service"
)

func serverUnit(name string) string { return "left4me-server@" + name + ".service" }
func mergedDir(name string) string  { return stateDir + "/runtime/" + name + "/merged" }

// TestFreshHost deploys to a bare Debian host over SSH and walks the
// instance lifecycle the way the web app does, ending with an idempotent
// redeploy.
func TestFreshHost(t *testing.T) {
	requireHostTools(t)
	t.Parallel()
	runFreshHost(t, bookwormImage, "fresh host")
}

// runFreshHost is TestFreshHost on a host of img, as scenario name; it
// returns the host, still up, deployed, for checks of its own.
func runFreshHost(t *testing.T, img *rootfsImage, name string) *Host {
	s := newScenario(t, name,
		"boot", "deploy over SSH", "sentinel present", "web unit active as left4me",
		"helpers root-owned 0755", "sudoers valid",
		"old in-place mount invisible", "start from web namespace", "overlay visible on host", "server runs from merged",
		"helper refuses ../escape", "stop twice", "start again", "double start refused", "delete leaves nothing",
		"redeploy changed=0", "web unit not restarted")
	h := bootHostOn(t, img, "fresh", nil)
	s.pass("boot", fmt.Sprintf("systemd %s, sshd on 127.0.0.1:%d", h.BootState, h.Port))

	var first deployResult
	s.check("deploy over SSH", []string{"boot"}, func(c *C) {
		first = deploy(c.T, h)
		requireDeployOK(c, first)
		c.Note("%d steps changed in %s", first.Summary.Changed, first.Elapsed.Round(100*time.Millisecond))
	})
	deployed := []string{"deploy over SSH"}

	s.check("sentinel present", deployed, func(c *C) {
		owner := strings.TrimSpace(h.MustRun(c, "stat -c %U "+sentinel))
		if owner != "left4me" {
			c.Fatalf("%s owned by %q, want left4me", sentinel, owner)
		}
	})

	s.check("web unit active as left4me", deployed, func(c *C) {
		checkWebUnit(c, h)
	})

	s.check("helpers root-owned 0755", deployed, func(c *C) {
		out := h.MustRun(c, "stat -c '%U:%G %a %n' /usr/local/libexec/left4me /usr/local/libexec/left4me/left4me-overlay "+
			"/usr/local/libexec/left4me/left4me-systemctl /usr/local/libexec/left4me/left4me-journalctl /usr/local/bin/l4d2ctl")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(line, "root:root 755 ") {
				c.Errorf("want root:root 755, got %q", line)
			}
		}
	})

	s.check("sudoers valid", deployed, func(c *C) {
		out := h.MustRun(c, "stat -c '%U:%G %a' /etc/sudoers.d/left4me && visudo -cf /etc/sudoers.d/left4me && visudo -c")
		if !strings.HasPrefix(out, "root:root 440\n") {
			c.Fatalf("/etc/sudoers.d/left4me: want root:root 440, got %q", out)
		}
	})

	const inst = "test-server"
	web := []string{"web unit active as left4me"}

	// The original bug, as a control: a mount the web app makes in place,
	// as the old stack did with fuse-overlayfs, exists only in the web
	// unit's namespace. The checks below must see the helper do better.
	s.check("old in-place mount invisible", web, func(c *C) {
		const dir = stateDir + "/e2e-inplace"
		h.MustRun(c, `set -eu
[ -e /dev/fuse ] || mknod -m 0666 /dev/fuse c 10 229
runuser -u left4me -- sh -eu -c 'mkdir -p `+dir+`/l `+dir+`/u `+dir+`/w `+dir+`/m; echo x >`+dir+`/l/f'`)
		r := h.AsWeb("sh", "-c", "fuse-overlayfs -o lowerdir="+dir+"/l,upperdir="+dir+"/u,workdir="+dir+"/w "+dir+"/m </dev/null >/dev/null")
		if r.Code != 0 {
			c.Fatalf("fuse-overlayfs inside the web unit: %s", r)
		}
		inWeb := h.AsWeb("findmnt", "-n", "-o", "FSTYPE", "--mountpoint", dir+"/m")
		onHost := hostFSType(c, h, dir+"/m")
		if r := h.AsWeb("fusermount3", "-u", dir+"/m"); r.Code != 0 {
			c.Errorf("fusermount3 -u inside the web unit: %s", r)
		}
		h.MustRun(c, "rm -rf "+dir)
		if got := strings.TrimSpace(inWeb.Stdout); got != "fuse.fuse-overlayfs" {
			c.Fatalf("the web unit's own namespace shows %q at %s/m, want its fuse mount: %s", got, dir, inWeb)
		}
		if onHost != "" {
			c.Fatalf("the host shows a %s mount the web app made in place: the web unit has no private mount namespace, so this test cannot tell the fix from the bug", onHost)
		}
		c.Note("fuse mount seen inside the web unit, not in PID 1's namespace")
	})
	s.check("start from web namespace", web, func(c *C) {
		createInstance(c, h, inst)
		r := h.AsWeb("l4d2ctl", "start", inst)
		if r.Code != 0 {
			c.Fatalf("l4d2ctl start %s inside the web unit: %s", inst, r)
		}
		c.Note("%s", firstLine(r.Stdout))
	})
	started := []string{"start from web namespace"}

	s.check("overlay visible on host", started, func(c *C) {
		if fs := hostFSType(c, h, mergedDir(inst)); fs != "overlay" {
			c.Fatalf("PID 1's namespace on the host shows %q at %s, want an overlay mount", fs, mergedDir(inst))
		}
	})

	s.check("server runs from merged", started, func(c *C) {
		requireServing(c, h, inst, 1)
		if strings.Contains(h.MustRun(c, "journalctl -u "+serverUnit(inst)+" --no-pager -o cat"), "CHDIR") {
			c.Fatalf("journal of %s has a CHDIR error", serverUnit(inst))
		}
		h.MustRun(c, "test -f "+stateDir+"/runtime/"+inst+"/upper/srcds.started")
		c.Note("active, no restarts, no CHDIR; its write reached upper/")
	})

	s.check("helper refuses ../escape", web, func(c *C) {
		before := overlayCount(c, h)
		// The web app's own call: the entry point sudo grants.
		r := h.AsWeb("sudo", "-n", overlayHelper+"-mount", "../escape")
		if r.Code == 0 {
			c.Fatalf("left4me-overlay-mount ../escape succeeded: %s", r)
		}
		// The refusal must come from the helper's name check, not from sudo.
		if !strings.Contains(r.Stderr, "left4me-overlay: invalid instance name") {
			c.Fatalf("want the helper's validation error, got %s", r)
		}
		if after := overlayCount(c, h); after != before {
			c.Fatalf("overlay mounts on the host went from %d to %d", before, after)
		}
		c.Note("%s", lastLine(r.Stderr))
	})

	s.check("stop twice", started, func(c *C) {
		for i := 1; i <= 2; i++ {
			if r := h.AsWeb("l4d2ctl", "stop", inst); r.Code != 0 {
				c.Fatalf("l4d2ctl stop #%d: %s", i, r)
			}
		}
		if fs := hostFSType(c, h, mergedDir(inst)); fs != "" {
			c.Fatalf("after stop, %s is still a %s mount", mergedDir(inst), fs)
		}
		if st := unitState(c, h, serverUnit(inst)); st == "active" {
			c.Fatalf("after stop, %s is %s", serverUnit(inst), st)
		}
	})

	s.check("start again", []string{"stop twice"}, func(c *C) {
		if r := h.AsWeb("l4d2ctl", "start", inst); r.Code != 0 {
			c.Fatalf("l4d2ctl start after stop: %s", r)
		}
		if fs := hostFSType(c, h, mergedDir(inst)); fs != "overlay" {
			c.Fatalf("after the second start, %s shows %q, want overlay", mergedDir(inst), fs)
		}
		requireServing(c, h, inst, 2)
	})

	s.check("double start refused", []string{"start again"}, func(c *C) {
		pid := unitProp(c, h, serverUnit(inst), "MainPID")
		r := h.AsWeb("l4d2ctl", "start", inst)
		if r.Code == 0 {
			c.Fatalf("second l4d2ctl start while running succeeded: %s", r)
		}
		if !strings.Contains(r.Stdout+r.Stderr, "refusing to double-mount") {
			c.Fatalf("want the double-mount guard's message, got: %s", r)
		}
		if n := mountsAt(c, h, mergedDir(inst)); n != 1 {
			c.Fatalf("%d mounts stacked at %s, want 1", n, mergedDir(inst))
		}
		if now := unitProp(c, h, serverUnit(inst), "MainPID"); now != pid {
			c.Fatalf("game server's main PID changed from %s to %s", pid, now)
		}
		c.Note("%s", firstLine(r.Stderr))
	})

	s.check("delete leaves nothing", started, func(c *C) {
		if r := h.AsWeb("l4d2ctl", "delete", inst); r.Code != 0 {
			c.Fatalf("l4d2ctl delete: %s", r)
		}
		if n := mountsAt(c, h, mergedDir(inst)); n != 0 {
			c.Fatalf("%d mounts left at %s", n, mergedDir(inst))
		}
		if r := h.Run(context.Background(), "test ! -e "+stateDir+"/runtime/"+inst); r.Code != 0 {
			c.Fatalf("%s/runtime/%s still exists after delete", stateDir, inst)
		}
		if st := unitState(c, h, serverUnit(inst)); st == "active" {
			c.Fatalf("after delete, %s is %s", serverUnit(inst), st)
		}
		h.MustRun(c, "test -x "+stateDir+"/installation/srcds_run") // lower layers are not the instance's
	})

	var before map[string]string
	s.check("redeploy changed=0", deployed, func(c *C) {
		before = unitProps(c, h, webUnit, "InvocationID", "ActiveEnterTimestampMonotonic", "MainPID")
		d := deploy(c.T, h)
		requireDeployOK(c, d)
		if d.Summary.Changed != 0 {
			c.Fatalf("second deploy changed %d steps %v, want 0: %s", d.Summary.Changed, d.changedSteps(), d)
		}
		c.Note("ok=%d changed=0 in %s", d.Summary.OK, d.Elapsed.Round(100*time.Millisecond))
	})

	s.check("web unit not restarted", []string{"redeploy changed=0"}, func(c *C) {
		after := unitProps(c, h, webUnit, "InvocationID", "ActiveEnterTimestampMonotonic", "MainPID")
		for k, v := range before {
			if after[k] != v {
				c.Errorf("%s %s changed across the redeploy: %s -> %s", webUnit, k, v, after[k])
			}
		}
	})
	return h
}

// checkWebUnit checks left4me-web.service runs the stand-in web app from
// the deployed unit file, as left4me, in a mount namespace of its own (the
// situation of the original bug), with setuid sudo still usable.
func checkWebUnit(c *C, h *Host) {
	c.Helper()
	p := unitProps(c, h, webUnit, "ActiveState", "SubState", "FragmentPath", "ExecStart", "MainPID", "MountFlags")
	if p["ActiveState"] != "active" || p["SubState"] != "running" {
		c.Fatalf("%s is %s/%s, want active/running:\n%s", webUnit, p["ActiveState"], p["SubState"],
			h.Run(context.Background(), "journalctl -u "+webUnit+" --no-pager -n 20").Stdout)
	}
	if p["FragmentPath"] != webUnitFile {
		c.Errorf("%s loaded from %s, want %s", webUnit, p["FragmentPath"], webUnitFile)
	}
	if !strings.Contains(p["ExecStart"], webExecStart) {
		c.Errorf("%s ExecStart is %s, want the stand-in web app %q", webUnit, p["ExecStart"], webExecStart)
	}
	pid := p["MainPID"]
	user := strings.TrimSpace(h.MustRun(c, "ps -o user= -p "+pid))
	if user != "left4me" {
		c.Errorf("web app (PID %s) runs as %q, want left4me", pid, user)
	}
	ns := strings.Fields(h.MustRun(c, "readlink /proc/1/ns/mnt /proc/"+pid+"/ns/mnt"))
	if len(ns) != 2 || ns[0] == ns[1] {
		c.Errorf("web app shares PID 1's mount namespace (%v); the deployed unit should sandbox it (PrivateTmp)", ns)
	}
	nnp := strings.TrimSpace(h.MustRun(c, "awk '/^NoNewPrivs:/ {print $2}' /proc/"+pid+"/status"))
	if nnp != "0" {
		c.Errorf("web app runs with NoNewPrivs=%s; sudo cannot work under it", nnp)
	}
	if !c.Failed() {
		c.Note("PID %s, own mount namespace, NoNewPrivs=0", pid)
	}
}

// createInstance lays out an instance as the web app does, as left4me:
// the game installation (with the stand-in srcds_run) and a config layer
// as lower layers, empty upper/work/merged, and instance.env.
func createInstance(c *C, h *Host, name string) {
	c.Helper()
	script := fmt.Sprintf(`set -eu
L=%[1]s
runuser -u left4me -- sh -eu -c '
L=%[1]s
mkdir -p $L/installation/left4dead2 $L/overlays/e2e-cfg/left4dead2/cfg
cp %[2]s $L/installation/srcds_run
echo "\"GameInfo\" { game \"Left 4 Dead 2\" }" >$L/installation/left4dead2/gameinfo.txt
echo "hostname \"left4me e2e\"" >$L/overlays/e2e-cfg/left4dead2/cfg/server.cfg
mkdir -p $L/runtime/%[3]s/upper $L/runtime/%[3]s/work $L/runtime/%[3]s/merged
printf "LOWERDIRS=%%s\n" "$L/overlays/e2e-cfg:$L/installation" >$L/runtime/%[3]s/instance.env
'`, stateDir, srcdsPath, name)
	h.MustRun(c, script)
}

// requireServing waits until the game server of inst is active and its
// stand-in has said, for the n-th time, that it serves from merged on an
// overlay mount; then checks the unit is not restarting.
func requireServing(c *C, h *Host, inst string, n int) {
	c.Helper()
	want := "srcds_run stand-in: serving from " + mergedDir(inst) + " (fstype overlay) as left4me"
	deadline := time.Now().Add(30 * time.Second)
	for {
		log := h.MustRun(c, "journalctl -u "+serverUnit(inst)+" --no-pager -o cat")
		if strings.Count(log, want) >= n {
			break
		}
		if time.Now().After(deadline) {
			c.Fatalf("%s never logged %q (%d times):\n%s\nstatus:\n%s", serverUnit(inst), want, n, tail(log, 20),
				h.Run(context.Background(), "systemctl status --no-pager "+serverUnit(inst)).Stdout)
		}
		time.Sleep(300 * time.Millisecond)
	}
	p := unitProps(c, h, serverUnit(inst), "ActiveState", "SubState", "NRestarts")
	if p["ActiveState"] != "active" || p["SubState"] != "running" || p["NRestarts"] != "0" {
		c.Fatalf("%s: ActiveState=%s SubState=%s NRestarts=%s, want active/running/0", serverUnit(inst), p["ActiveState"], p["SubState"], p["NRestarts"])
	}
}

// hostFSType returns the type of the filesystem mounted exactly at path in
// PID 1's mount namespace, or "" if nothing is mounted there.
func hostFSType(c *C, h *Host, path string) string {
	c.Helper()
	r := h.Run(context.Background(), "nsenter --mount=/proc/1/ns/mnt -- findmnt -n -o FSTYPE --mountpoint "+path+" | tail -n1")
	if r.Code != 0 {
		c.Fatalf("findmnt in PID 1's namespace: %s", r)
	}
	return strings.TrimSpace(r.Stdout)
}

// mountsAt counts the mounts stacked exactly at path in PID 1's namespace.
func mountsAt(c *C, h *Host, path string) int {
	c.Helper()
	out := h.MustRun(c, fmt.Sprintf("awk '$5 == %q' /proc/1/mountinfo | wc -l", path))
	n, _ := strconv.Atoi(strings.TrimSpace(out))
	return n
}

// overlayCount counts the overlay mounts in PID 1's namespace.
func overlayCount(c *C, h *Host) int {
	c.Helper()
	out := h.MustRun(c, "awk '{for (i = 7; i < NF; i++) if ($i == \"-\") {print $(i+1); break}}' /proc/1/mountinfo | grep -c '^overlay$' || true")
	n, _ := strconv.Atoi(strings.TrimSpace(out))
	return n
}

func unitState(c *C, h *Host, unit string) string {
	c.Helper()
	return strings.TrimSpace(h.Run(context.Background(), "systemctl is-active "+unit).Stdout)
}

func unitProp(c *C, h *Host, unit, prop string) string {
	c.Helper()
	return unitProps(c, h, unit, prop)[prop]
}

// unitProps reads properties of unit with systemctl show.
func unitProps(c *C, h *Host, unit string, props ...string) map[string]string {
	c.Helper()
	out := h.MustRun(c, "systemctl show "+unit+" -p "+strings.Join(props, ","))
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
