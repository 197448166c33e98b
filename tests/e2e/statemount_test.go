//go:build linux

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

const stateMountUnit = "var-lib-left4me.mount"

// TestStateRootMount deploys to a bare host and checks the state root's
// own nosuid,nodev mount: started by the deploy, ordered before the units
// that use the tree, honouring no set-uid or device file, one mount table
// entry per instance overlay below it, and untouched by a redeploy.
func TestStateRootMount(t *testing.T) {
	requireHostTools(t)
	t.Parallel()
	s := newScenario(t, "state root mount",
		"boot", "deploy over SSH", "mounted nosuid,nodev", "units ordered after it",
		"set-uid not honoured", "device not honoured", "one entry per overlay", "redeploy changed=0")
	h := bootHost(t, "statemnt", nil)
	s.pass("boot", fmt.Sprintf("systemd %s, sshd on 127.0.0.1:%d", h.BootState, h.Port))

	s.check("deploy over SSH", []string{"boot"}, func(c *C) {
		requireDeployOK(c, deploy(c.T, h))
	})
	deployed := []string{"deploy over SSH"}

	s.check("mounted nosuid,nodev", deployed, func(c *C) {
		p := unitProps(c, h, stateMountUnit, "ActiveState", "UnitFileState", "FragmentPath")
		if p["ActiveState"] != "active" || p["UnitFileState"] != "enabled" {
			c.Fatalf("%s: %v, want active and enabled", stateMountUnit, p)
		}
		out := strings.TrimSpace(h.MustRun(c, "nsenter --mount=/proc/1/ns/mnt -- findmnt -n -o OPTIONS,PROPAGATION --mountpoint "+stateDir+" | tail -n1"))
		opts := strings.Split(strings.Fields(out + " x")[0], ",")
		if !contains(opts, "nosuid") || !contains(opts, "nodev") {
			c.Fatalf("findmnt %s: %q, want nosuid and nodev", stateDir, out)
		}
		c.Note("%s (%s)", out, p["FragmentPath"])
	})
	mounted := []string{"mounted nosuid,nodev"}

	s.check("units ordered after it", deployed, func(c *C) {
		for _, u := range []string{webUnit, serverUnit("any")} {
			if after := unitProp(c, h, u, "After"); !strings.Contains(after, stateMountUnit) {
				c.Errorf("%s After=%s, want %s", u, after, stateMountUnit)
			}
		}
	})

	// What a copy-up made with root's credentials would leave in the tree:
	// a root-owned set-uid program. The same file outside the state root is
	// the control: it does give euid 0, so the check can fail.
	s.check("set-uid not honoured", mounted, func(c *C) {
		out := h.MustRun(c, `set -eu
for f in `+stateDir+`/e2e-suid-id /usr/local/bin/e2e-suid-id; do
	cp /usr/bin/id $f; chown root:root $f; chmod 4755 $f
done
echo "control: $(runuser -u left4me -- /usr/local/bin/e2e-suid-id)"
echo "state root: $(runuser -u left4me -- `+stateDir+`/e2e-suid-id)"
rm -f `+stateDir+`/e2e-suid-id /usr/local/bin/e2e-suid-id`)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], "euid=0(root)") {
			c.Fatalf("control set-uid program outside the state root did not run with euid 0:\n%s", out)
		}
		if strings.Contains(lines[1], "euid=0") {
			c.Fatalf("a set-uid root program in %s gave euid 0:\n%s", stateDir, out)
		}
		c.Note("%s", lines[1])
	})

	s.check("device not honoured", mounted, func(c *C) {
		r := h.Run(context.Background(), `mknod -m 0666 `+stateDir+`/e2e-null c 1 3 && echo x >`+stateDir+`/e2e-null; rc=$?; rm -f `+stateDir+`/e2e-null; exit $rc`)
		if r.Code == 0 {
			c.Fatalf("writing to a character device in %s worked: %s", stateDir, r)
		}
		c.Note("%s", lastLine(r.Stderr))
	})

	const inst = "mnt-check"
	s.check("one entry per overlay", mounted, func(c *C) {
		createInstance(c, h, inst)
		if r := h.AsWeb("l4d2ctl", "start", inst); r.Code != 0 {
			c.Fatalf("l4d2ctl start %s inside the web unit: %s", inst, r)
		}
		requireServing(c, h, inst, 1)
		if n := mountsAt(c, h, mergedDir(inst)); n != 1 {
			c.Fatalf("%d entries for %s in PID 1's mount table, want 1", n, mergedDir(inst))
		}
		inWeb := h.AsWeb("findmnt", "-n", "-o", "FSTYPE", "--mountpoint", mergedDir(inst))
		if got := strings.TrimSpace(inWeb.Stdout); got != "overlay" {
			c.Errorf("the web unit's namespace shows %q at %s, want the overlay: %s", got, mergedDir(inst), inWeb)
		}
		if r := h.AsWeb("l4d2ctl", "stop", inst); r.Code != 0 {
			c.Fatalf("l4d2ctl stop: %s", r)
		}
		if n := mountsAt(c, h, mergedDir(inst)); n != 0 {
			c.Fatalf("%d mounts left at %s after stop", n, mergedDir(inst))
		}
	})

	s.check("redeploy changed=0", deployed, func(c *C) {
		d := deploy(c.T, h)
		requireDeployOK(c, d)
		if d.Summary.Changed != 0 {
			c.Fatalf("redeploy changed %d steps (%v), want 0\n%s", d.Summary.Changed, d.changedSteps(), d)
		}
		if st := unitState(c, h, stateMountUnit); st != "active" {
			c.Fatalf("%s is %s after the redeploy", stateMountUnit, st)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
