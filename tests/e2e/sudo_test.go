//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/remote"
	"github.com/left4me/left4me-deploy/internal/sshdtest"
	"github.com/left4me/left4me-deploy/steps"
)

// TestFreshHostSudoRS is the fresh-host checklist on Debian 13 with sudo-rs
// as /usr/bin/sudo (sudoRSImage), then what is particular to sudo-rs: which
// sudo preflight names, what sudo-rs makes of argument patterns, a deploy
// that fails at verify when sudo grants nothing or too much, and the sudo
// password path of an operator who logs in as a user.
func TestFreshHostSudoRS(t *testing.T) {
	requireHostTools(t)
	t.Parallel()
	h := runFreshHost(t, sudoRSImage, "fresh host, sudo-rs")
	if t.Failed() {
		return
	}
	s := newScenario(t, "sudo-rs host", "sudo is sudo-rs", "sudo-rs argument patterns")
	s.check("sudo is sudo-rs", nil, func(c *C) {
		out := h.MustRun(c, "readlink -f /usr/bin/sudo /usr/sbin/visudo; sudo --version 2>&1 | head -n 1")
		want := "/usr/lib/cargo/bin/sudo\n/usr/lib/cargo/bin/visudo\nsudo-rs "
		if !strings.HasPrefix(out, want) {
			c.Fatalf("/usr/bin/sudo, /usr/sbin/visudo and sudo --version: %q, want %q...", out, want)
		}
		c.Note("%s", lastLine(out))
	})
	s.check("sudo-rs argument patterns", []string{"sudo is sudo-rs"}, func(c *C) {
		checkSudoForms(c, h, false)
	})
	sudoFaults(t, h, "sudo-rs faults", "sudo-rs")
	if !t.Failed() {
		sudoPassword(t, h)
	}
}

// TestFuseEraHostSudoRS is the fuse-era migration on the sudo-rs host.
func TestFuseEraHostSudoRS(t *testing.T) {
	requireHostTools(t)
	t.Parallel()
	runFuseEraHost(t, sudoRSImage, "fuse-era host, sudo-rs")
}

// TestSudoGrantsNothing: on a bookworm host (sudo 1.9) whose sudo does not
// grant the rules, or grants more, the deploy fails at verify and says
// which call and what to do; fixed, it converges.
func TestSudoGrantsNothing(t *testing.T) {
	requireHostTools(t)
	t.Parallel()
	h := bootHost(t, "sudofault", nil)
	s := newScenario(t, "sudo fault host", "deploy")
	s.check("deploy", nil, func(c *C) { requireDeployOK(c, deploy(c.T, h)) })
	if t.Failed() {
		return
	}
	sudoFaults(t, h, "sudo fault", "sudo 1.")
}

// checkSudoForms asks the host's sudo what three rule forms grant a
// throwaway user: a bare command (any arguments, in both sudos), CMD ""
// (none), and "CMD mount *" (sudo 1.9: mount and anything; sudo-rs 0.2.5:
// a literal "*" only, which the old rules relied on).
func checkSudoForms(c *C, h *Host, starMatches bool) {
	c.Helper()
	const u = "l4m-forms"
	h.MustRun(c, `set -eu
id `+u+` >/dev/null 2>&1 || useradd --system --no-create-home `+u+`
mkdir -p /usr/local/lib/left4me-e2e/forms
for f in bare none star; do printf '#!/bin/sh\n' >/usr/local/lib/left4me-e2e/forms/$f; chmod 755 /usr/local/lib/left4me-e2e/forms/$f; done
d=/usr/local/lib/left4me-e2e/forms
printf '%s ALL=(root) NOPASSWD: %s\n%s ALL=(root) NOPASSWD: %s ""\n%s ALL=(root) NOPASSWD: %s mount *\n' `+u+` $d/bare `+u+` $d/none `+u+` $d/star >/etc/sudoers.d/e2e-forms.tmp
chmod 440 /etc/sudoers.d/e2e-forms.tmp
visudo -cf /etc/sudoers.d/e2e-forms.tmp
mv /etc/sudoers.d/e2e-forms.tmp /etc/sudoers.d/e2e-forms`)
	defer h.Run(context.Background(), "rm -f /etc/sudoers.d/e2e-forms; userdel "+u)
	const d = "/usr/local/lib/left4me-e2e/forms/"
	var got []string
	for _, tt := range []struct {
		cmd   string
		allow bool
	}{
		{d + "bare", true},
		{d + "bare a", true},
		{d + "bare a b", true},
		{d + "none", true},
		{d + "none a", false},
		{d + "star mount t1", starMatches},
		{d + "star umount t1", false},
	} {
		r := h.Run(context.Background(), "sudo -n -l -U "+u+" "+tt.cmd+" >/dev/null 2>&1")
		if allowed := r.Code == 0; allowed != tt.allow {
			c.Errorf("sudo -l -U %s %s: allowed=%v, want %v", u, tt.cmd, allowed, tt.allow)
		}
		got = append(got, fmt.Sprintf("%s=%v", strings.TrimPrefix(tt.cmd, d), r.Code == 0))
	}
	c.Note("%s", strings.Join(got, " "))
}

// sudoFaults breaks the deployed host's sudo two ways and shows the deploy
// fail at verify, naming the call and the remedy, each time; then, fixed,
// a deploy that converges. version is what preflight must have named.
func sudoFaults(t *testing.T, h *Host, name, version string) {
	s := newScenario(t, name, "preflight names the sudo", "verify fails when sudo grants nothing",
		"verify fails when sudo grants more", "deploy converges after the fix")
	s.check("preflight names the sudo", nil, func(c *C) {
		d := deploy(c.T, h)
		requireDeployOK(c, d)
		if !strings.Contains(d.Output, "sudo is "+version) {
			c.Fatalf("deploy output does not say the host's sudo is %s...:\n%s", version, d)
		}
		for _, l := range strings.Split(d.Output, "\n") {
			if i := strings.Index(l, "sudo is "); i >= 0 {
				note, _, _ := strings.Cut(l[i:], `"`)
				c.Note("%s", note)
				break
			}
		}
	})
	// An /etc/sudoers that does not read /etc/sudoers.d: the drop-in is
	// valid (visudo -cf passes) and grants nothing.
	s.check("verify fails when sudo grants nothing", nil, func(c *C) {
		h.MustRun(c, "cp -p /etc/sudoers /etc/sudoers.e2e-saved && grep -v '^[@#]includedir' /etc/sudoers.e2e-saved >/etc/sudoers.e2e && chmod 440 /etc/sudoers.e2e && mv /etc/sudoers.e2e /etc/sudoers")
		defer h.MustRun(c, "mv /etc/sudoers.e2e-saved /etc/sudoers")
		d := deploy(c.T, h)
		requireVerifyFailed(c, d, "does not let left4me run", "left4me-overlay-mount verify-probe", "@includedir")
		// And so it is: the web app's call is refused.
		if r := h.AsWeb("sudo", "-n", overlayHelper+"-umount", "test-server"); r.Code == 0 || strings.Contains(r.Stderr, "left4me-overlay:") {
			c.Errorf("the web app's call went through a sudo that should grant nothing: %s", r)
		}
	})
	s.check("verify fails when sudo grants more", nil, func(c *C) {
		h.MustRun(c, "printf 'left4me ALL=(ALL) NOPASSWD: ALL\\n' >/etc/sudoers.d/zz-e2e-broad && chmod 440 /etc/sudoers.d/zz-e2e-broad")
		defer h.MustRun(c, "rm -f /etc/sudoers.d/zz-e2e-broad")
		d := deploy(c.T, h)
		requireVerifyFailed(c, d, "more than the helpers' contract", "/bin/sh -c id", "remove the rule")
	})
	s.check("deploy converges after the fix", []string{"verify fails when sudo grants nothing", "verify fails when sudo grants more"}, func(c *C) {
		d := deploy(c.T, h)
		requireDeployOK(c, d)
		if d.Summary.Changed != 0 {
			c.Fatalf("deploy after the fix changed %v, want nothing", d.changedSteps())
		}
		c.Note("ok=%d changed=0", d.Summary.OK)
	})
}

// requireVerifyFailed fails c unless d failed, at the verify step, with a
// reason that holds every one of want.
func requireVerifyFailed(c *C, d deployResult, want ...string) {
	c.Helper()
	if d.Code == 0 || d.stepStatus("verify") != steps.StatusFailed {
		c.Fatalf("deploy exit %d, verify %q; want a failed verify:\n%s", d.Code, d.stepStatus("verify"), d)
	}
	reason := d.reason()
	for _, w := range want {
		if !strings.Contains(reason, w) {
			c.Fatalf("verify's reason lacks %q: %s", w, reason)
		}
	}
	c.Note("%.300s", reason)
}

// sudoPassword logs in as an operator whose sudo rule wants a password and
// runs a stand-in plan as root through the host's sudo (the escalation is
// real, the plan only records that it ran): with the password it works,
// with a wrong one, and with no terminal to ask on, it fails saying so.
func sudoPassword(t *testing.T, h *Host) {
	const user, password = "l4m-op", "correct horse battery"
	s := newScenario(t, "sudo password", "password works", "wrong password refused", "no terminal names NOPASSWD")
	pub, err := os.ReadFile(h.Key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	h.MustRun(t, fmt.Sprintf(`set -eu
id %[1]s >/dev/null 2>&1 || useradd -m -s /bin/sh %[1]s
echo '%[1]s:%[2]s' | chpasswd
install -d -m 0700 -o %[1]s -g %[1]s /home/%[1]s/.ssh
printf '%%s\n' '%[3]s' >/home/%[1]s/.ssh/authorized_keys
chown %[1]s: /home/%[1]s/.ssh/authorized_keys
printf '%%s ALL=(root) ALL\n' %[1]s >/etc/sudoers.d/e2e-op
chmod 440 /etc/sudoers.d/e2e-op`, user, password, strings.TrimSpace(string(pub))))
	t.Cleanup(func() { h.Run(context.Background(), "rm -f /etc/sudoers.d/e2e-op; userdel -r "+user+" 2>/dev/null") })
	bundle, err := remote.OpenBundle(sshdtest.FakePlanBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	ssh := remote.SSH{Config: "/dev/null", Port: strconv.Itoa(h.Port), Identity: []string{h.Key},
		Options: []string{"UserKnownHostsFile=" + h.KnownHosts, "StrictHostKeyChecking=yes", "IdentitiesOnly=yes", "BatchMode=yes"}}
	run := func(c *C, root string, prompt func(context.Context, string) ([]byte, error)) (remote.Result, string) {
		var out strings.Builder
		d := &remote.Deployer{SSH: ssh, Source: bundle, Args: protocol.HostArgs{Root: root}, Out: &remote.Printer{W: &out}, Prompt: prompt}
		tg, err := remote.ParseTarget(user + "@127.0.0.1")
		if err != nil {
			c.Fatal(err)
		}
		res := d.Deploy(context.Background(), []remote.Target{tg})[0]
		if strings.Contains(out.String(), password) {
			c.Errorf("the password shows in the output:\n%s", out.String())
		}
		return res, out.String()
	}
	answer := func(pw string) func(context.Context, string) ([]byte, error) {
		return func(context.Context, string) ([]byte, error) { return []byte(pw), nil }
	}
	s.check("password works", nil, func(c *C) {
		res, out := run(c, "/var/tmp/e2e-fake-plan", answer(password))
		if res.Err != nil || res.Summary == nil || res.Summary.Changed != 1 {
			c.Fatalf("deploy as %s with the password = %+v, %v\n%s", user, res.Summary, res.Err, out)
		}
		h.MustRun(c, "test -s /var/tmp/e2e-fake-plan/etc/fake-plan && rm -rf /var/tmp/e2e-fake-plan")
		c.Note("the plan ran as root through sudo -S")
	})
	s.check("wrong password refused", nil, func(c *C) {
		res, out := run(c, "/var/tmp/e2e-fake-plan-2", answer("wrong"))
		if !errors.Is(res.Err, remote.ErrSudoRefused) || !strings.Contains(res.Err.Error(), "incorrect password") {
			c.Fatalf("deploy with a wrong password = %v, want ErrSudoRefused saying incorrect password\n%s", res.Err, out)
		}
		c.Note("%s", res.Err)
	})
	s.check("no terminal names NOPASSWD", nil, func(c *C) {
		res, out := run(c, "/var/tmp/e2e-fake-plan-3", func(context.Context, string) ([]byte, error) { return nil, remote.ErrSudoNoTerminal })
		if !errors.Is(res.Err, remote.ErrSudoNoTerminal) || !strings.Contains(res.Err.Error(), "NOPASSWD") {
			c.Fatalf("deploy with no terminal = %v, want ErrSudoNoTerminal naming NOPASSWD\n%s", res.Err, out)
		}
		c.Note("%s", res.Err)
	})
}
