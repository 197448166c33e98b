//go:build linux

package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// hostTool is left4me-deploy as the deploy installs it on the host.
const hostTool = "/usr/local/sbin/left4me-deploy"

// TestHostSide checks what an operator logged in on a deployed host
// relies on: left4me-deploy on root's PATH (status --local, apply --local),
// a deploy and status that agree about a stopped web app, and l4d2ctl
// start that tells a crash-looping server from one that runs.
func TestHostSide(t *testing.T) {
	requireHostTools(t)
	t.Parallel()
	s := newScenario(t, "host side",
		"boot", "deploy over SSH", "left4me-deploy on PATH", "status --local in sync", "apply --local changed=0", "redeploy changed=0",
		"web stopped: status says why", "web stopped: deploy starts it", "web started: next deploy changed=0",
		"start without srcds_run fails", "start with srcds_run", "instance by hand")
	h := bootHost(t, "hostside", nil)
	s.pass("boot", fmt.Sprintf("systemd %s, sshd on 127.0.0.1:%d", h.BootState, h.Port))

	s.check("deploy over SSH", []string{"boot"}, func(c *C) {
		requireDeployOK(c, deploy(c.T, h))
	})
	deployed := []string{"deploy over SSH"}

	s.check("left4me-deploy on PATH", deployed, func(c *C) {
		out := h.MustRun(c, "command -v left4me-deploy && stat -c '%U:%G %a' "+hostTool+" && left4me-deploy --version")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) < 3 || lines[0] != hostTool || lines[1] != "root:root 755" || !strings.HasPrefix(lines[2], "left4me-deploy ") {
			c.Fatalf("command -v, stat and --version on the host said:\n%s\nwant %s, root:root 755, a version line", out, hostTool)
		}
		c.Note("%s", lines[2])
	})
	onPath := []string{"left4me-deploy on PATH"}

	s.check("status --local in sync", onPath, func(c *C) {
		checkTranscript(c, "docs/operations.md", "ops-host-tool", runDocBlock(c, h, "docs/operations.md", "ops-host-tool"))
		r := h.Run(c.Context(), "left4me-deploy status --local")
		if r.Code != 0 || !strings.Contains(r.Stdout, "in-sync") {
			c.Fatalf("left4me-deploy status --local on the host: %s", r)
		}
	})
	s.check("apply --local changed=0", onPath, func(c *C) {
		r := h.Run(c.Context(), "left4me-deploy apply --local")
		if r.Code != 0 || !strings.Contains(r.Stdout, " changed=0 ") {
			c.Fatalf("left4me-deploy apply --local on the host: %s", r)
		}
	})
	s.check("redeploy changed=0", deployed, func(c *C) {
		d := deploy(c.T, h)
		requireDeployOK(c, d)
		if d.Summary.Changed != 0 {
			c.Fatalf("redeploy changed %d steps (%v), want 0\n%s", d.Summary.Changed, d.changedSteps(), d)
		}
	})

	// The web app: stopped by hand, it is drift that status names with
	// its reason (exit 4) and that the next deploy repairs.
	s.check("web stopped: status says why", deployed, func(c *C) {
		h.MustRun(c, "systemctl stop "+webUnit)
		r := h.Run(c.Context(), "left4me-deploy status --local")
		want := "web: " + webUnit + " is inactive (dead), result success: a deploy starts it"
		if r.Code != 4 || !strings.Contains(r.Stdout, want) || !strings.Contains(r.Stdout, "drift: restart: would start "+webUnit) {
			c.Fatalf("status --local with the web unit stopped: exit %d\n%s%s\nwant exit 4, %q and the restart as drift", r.Code, r.Stdout, r.Stderr, want)
		}
		remote := runDeployCLI(c.T, append(append([]string{"status"}, h.SSHOptions()...), "root@127.0.0.1")...)
		if remote.code != 4 || !strings.Contains(remote.stdout, want) {
			c.Fatalf("status over SSH with the web unit stopped: %s\nwant exit 4 and %q", remote, want)
		}
	})
	s.check("web stopped: deploy starts it", []string{"web stopped: status says why"}, func(c *C) {
		d := deploy(c.T, h)
		requireDeployOK(c, d)
		if got := strings.Join(d.changedSteps(), ","); got != "restart" {
			c.Fatalf("deploy with the web unit stopped changed %q, want the restart step\n%s", got, d)
		}
		checkWebUnit(c, h)
	})
	s.check("web started: next deploy changed=0", []string{"web stopped: deploy starts it"}, func(c *C) {
		d := deploy(c.T, h)
		requireDeployOK(c, d)
		if d.Summary.Changed != 0 {
			c.Fatalf("deploy after the web unit was started changed %v\n%s", d.changedSteps(), d)
		}
		if r := h.Run(c.Context(), "left4me-deploy status --local"); r.Code != 0 {
			c.Fatalf("status --local after the repair: %s", r)
		}
		// The same on the host, as docs/operations.md shows it.
		out := runDocBlock(c, h, "docs/operations.md", "ops-web-down")
		checkTranscript(c, "docs/operations.md", "ops-web-down", out)
		checkWebUnit(c, h)
	})

	// l4d2ctl start waits for the server to settle: without srcds_run it
	// crash-loops, which is a failed start with the journal's last lines.
	const inst = "crash"
	s.check("start without srcds_run fails", []string{"web started: next deploy changed=0"}, func(c *C) {
		createInstance(c, h, inst)
		h.MustRun(c, "rm "+stateDir+"/installation/srcds_run")
		out := runDocBlock(c, h, "docs/l4d2ctl.md", "l4d2ctl-crash-loop")
		if !strings.Contains(out, "(exit 1)") {
			c.Fatalf("l4d2ctl start without srcds_run:\n%s\nwant exit 1", out)
		}
		for _, w := range []string{"the server exits after it starts: activating (auto-restart)", "journal lines of the unit:", "srcds_run"} {
			if !strings.Contains(out, w) {
				c.Errorf("l4d2ctl start without srcds_run lacks %q:\n%s", w, out)
			}
		}
		// Which journal lines made it before the start gave up depends on
		// timing: the transcript is compared without them.
		checkTranscript(c, "docs/l4d2ctl.md", "l4d2ctl-crash-loop", out, withoutJournal)
		if got := unitState(c, h, serverUnit(inst)); got == "active" || got == "activating" {
			c.Errorf("%s is %s after the failed start, want it stopped", serverUnit(inst), got)
		}
		if n := mountsAt(c, h, mergedDir(inst)); n != 0 {
			c.Errorf("%d mounts at %s after the failed start, want none", n, mergedDir(inst))
		}
	})
	s.check("start with srcds_run", []string{"start without srcds_run fails"}, func(c *C) {
		h.MustRun(c, "install -o left4me -g left4me -m 0755 "+srcdsPath+" "+stateDir+"/installation/srcds_run")
		r := h.AsWeb("l4d2ctl", "start", inst)
		if r.Code != 0 || !strings.Contains(r.Stdout, "Started "+serverUnit(inst)+".") {
			c.Fatalf("l4d2ctl start with srcds_run: %s\nwant exit 0 and Started", r)
		}
		requireServing(c, h, inst, 1)
		if r := h.AsWeb("l4d2ctl", "stop", inst); r.Code != 0 {
			c.Errorf("l4d2ctl stop: %s", r)
		}
	})
	// docs/l4d2ctl.md's instance made by hand, its lines run literally.
	s.check("instance by hand", []string{"start with srcds_run"}, func(c *C) {
		out := runDocBlock(c, h, "docs/l4d2ctl.md", "l4d2ctl-by-hand")
		for _, w := range []string{"Started " + serverUnit("demo") + ".", "mounted: yes", "hostname \"left4me demo\"", "Stopped demo.", "Deleted demo."} {
			if !strings.Contains(out, w) {
				c.Errorf("the instance made by hand: output lacks %q:\n%s", w, out)
			}
		}
		checkTranscript(c, "docs/l4d2ctl.md", "l4d2ctl-by-hand", out)
	})
	s.finish()
}

// journalLine is a journal entry as l4d2ctl and systemctl status quote it,
// once masked: "TIME host prog[N]: ...".
var journalLine = regexp.MustCompile(`(?m)^.*TIME \S+ \S+\[N\]: .*\n`)

// accountingLine is a resource line of systemctl status, there or not
// depending on what the unit used.
var accountingLine = regexp.MustCompile(`(?m)^.*(CPU|Memory|Tasks|IP): .*\n`)

// withoutJournal drops journal entries and their count, and the resource
// accounting of systemctl status, from a masked transcript.
func withoutJournal(s string) string {
	s = journalLine.ReplaceAllString(s, "")
	s = accountingLine.ReplaceAllString(s, "")
	s = regexp.MustCompile(`(?m)^ *l4d2ctl: *\n`).ReplaceAllString(s, "")
	return regexp.MustCompile(`last \d+ journal lines`).ReplaceAllString(s, "last N journal lines")
}
