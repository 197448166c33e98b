//go:build linux

package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/left4me/left4me-deploy/internal/hostfile"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/sudoers"
)

// verify checks the result: helpers, entry points, l4d2ctl and left4me-deploy root-owned
// 0755, sudoers 0440 and accepted by visudo together with the rest of the
// system's rules, the host's own sudo granting the web app's user exactly
// the helpers' contract (sudoGrants), and the web unit active if this
// run restarted or started it.
type verify struct{ d *Host }

// Verify is the verify step of h's run.
func Verify(h *Host) Step { return verify{h} }

func (verify) Name() string { return "verify" }

func (s verify) ShouldRun(context.Context) (bool, string) {
	if s.d.o.DryRun {
		return false, "dry run: nothing installed to verify"
	}
	return true, ""
}

func (s verify) Run(ctx context.Context, g *Gate) error {
	d := s.d
	var problems []string
	check := func(host string, mode fs.FileMode) {
		fi, err := os.Lstat(d.path(host))
		if err != nil {
			problems = append(problems, err.Error())
			return
		}
		f := hostfile.File{Path: d.path(host), Mode: mode, Owner: d.rootOwner()}
		if !fi.Mode().IsRegular() || !hostfile.MetaEqual(fi, f.Mode, f.Owner) {
			problems = append(problems, fmt.Sprintf("%s is %v, want a regular file %#o %s", host, fi.Mode(), mode, ownerString(f.Owner)))
		}
	}
	for _, b := range Programs {
		check(b.Dest, 0o755)
	}
	check(hostpath.DeployTool, 0o755)
	for _, e := range sudoers.EntryPoints(d.helperParams()) {
		check(e.Path, 0o755)
	}
	check(hostpath.SudoersFile, 0o440)
	if d.sudoCheckDue() {
		found, note := d.sudoAnswer(ctx)
		problems = append(problems, found...)
		if note != "" {
			g.Note("%s", note)
		}
	}
	if d.o.Live.Services {
		if d.restarted {
			active, err := d.o.Services.IsActive(ctx, hostpath.WebUnit)
			if err != nil || !active {
				problems = append(problems, fmt.Sprintf("%s is not active after its restart (see journalctl -u %s)", hostpath.WebUnit, hostpath.WebUnit))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// sudoCheck is verify's question to the host's sudo: visudo -c on the
// system's rules as a whole, then sudoGrants. Nothing a step after the
// sudoers step changes its answer (the accounts, the helpers, their entry
// points and the rules are all installed by then), so it is asked as soon
// as that step is done and runs while the steps after it wait on systemd;
// verify takes the answer, or asks then if nothing did before.
type sudoCheck struct {
	done     chan struct{}
	problems []string
	note     string
}

// sudoCheckDue reports whether this run asks the host's sudo at all: a
// real run on this machine's own root, with the services live.
func (d *Host) sudoCheckDue() bool {
	return !d.o.DryRun && d.root.IsHost() && d.o.Live.Services
}

// startSudoCheck asks the host's sudo in the background, once per run.
func (d *Host) startSudoCheck(ctx context.Context) {
	if d.sudo != nil || !d.sudoCheckDue() {
		return
	}
	c := &sudoCheck{done: make(chan struct{})}
	d.sudo = c
	go func() {
		defer close(c.done)
		c.problems, c.note = d.checkSudo(ctx)
	}()
}

// sudoAnswer waits for the sudo check's problems and note, starting it
// now if nothing did.
func (d *Host) sudoAnswer(ctx context.Context) ([]string, string) {
	d.startSudoCheck(ctx)
	<-d.sudo.done
	return d.sudo.problems, d.sudo.note
}

// Wait waits for what the run started in the background (the sudo
// check), so that none of it outlives the run.
func (d *Host) Wait() {
	if d.sudo != nil {
		<-d.sudo.done
	}
}

func (d *Host) checkSudo(ctx context.Context) (problems []string, note string) {
	if visudo, err := d.o.Probe.LookPath(sudoers.Visudo); err == nil {
		if err := d.o.Runner.Run(ctx, runner.Cmd{Argv: []string{visudo, "-c"}}); err != nil {
			problems = append(problems, "the system's sudoers as a whole: "+err.Error())
		}
	}
	found, note := d.sudoGrants(ctx)
	return append(problems, found...), note
}

// sudoGrants asks the host's own sudo (hostpath.Sudo, the program l4d2ctl
// runs: sudo 1.9 or sudo-rs) what the installed rules grant the web app's
// user, and returns a problem for every call whose answer breaks the
// helpers' contract: a call the web app makes that sudo refuses (no
// instance could start), or one outside the contract that sudo allows.
// "sudo -l -U USER CMD..." answers for any command without running it;
// the probes run a few at a time (runProbes), and their problems come out
// in the probes' order. Then it makes one harmless call as that user through sudo -n, so a rule
// that wants a password, or an account sudo will not serve, fails here and
// not in the web app. note says what it could not check.
func (d *Host) sudoGrants(ctx context.Context) (problems []string, note string) {
	user := d.o.User
	p := d.helperParams()
	probes := sudoers.Probes(p)
	live := sudoers.LiveProbe(p)
	// The live call below runs the probe of its own entry point for real:
	// when it works, that probe's answer is known. So that probe is asked
	// only when the answer is still needed: the others found a problem
	// (the list is then whole), there is no live call, or it failed (its
	// refusal then says more than the live call's failure).
	deferred := slices.IndexFunc(probes, func(pr sudoers.Probe) bool { return pr.Allow && slices.Equal(pr.Argv, live) })
	probe := func(i int) runner.Cmd {
		return runner.Cmd{Argv: append([]string{hostpath.Sudo, "-n", "-l", "-U", user}, probes[i].Argv...), Env: sudoEnv}
	}
	asked := make([]int, 0, len(probes))
	for i := range probes {
		if i != deferred {
			asked = append(asked, i)
		}
	}
	errs := make([]error, len(probes))
	for j, err := range runProbes(ctx, d.o.Runner, len(asked), func(j int) runner.Cmd { return probe(asked[j]) }) {
		errs[asked[j]] = err
	}
	judge := func() []string {
		var problems []string
		for i, pr := range probes {
			err := errs[i]
			call := strings.Join(pr.Argv, " ")
			switch allowed := err == nil; {
			case pr.Allow && !allowed:
				problems = append(problems, fmt.Sprintf("%s does not let %s run %q (sudo -l -U %s %s: %s), so the web app cannot start or stop an instance: "+
					"make /etc/sudoers read %s (the line @includedir %s) and remove any later rule for %s that overrides it",
					hostpath.Sudo, user, call, user, call, refusal(err), hostpath.SudoersFile, "/etc/sudoers.d", user))
			case !pr.Allow && allowed:
				problems = append(problems, fmt.Sprintf("%s lets %s run %q as root, which is more than the helpers' contract: "+
					"remove the rule that grants it (sudo -l -U %s lists them; %s must be the only one for %s)",
					hostpath.Sudo, user, call, user, hostpath.SudoersFile, user))
			}
		}
		return problems
	}
	askDeferred := func() {
		if deferred >= 0 {
			errs[deferred] = d.o.Runner.Run(ctx, probe(deferred))
		}
	}
	if problems := judge(); len(problems) > 0 {
		askDeferred()
		return judge(), ""
	}
	setpriv, err := d.o.Probe.LookPath("setpriv")
	if err != nil {
		askDeferred()
		return judge(), fmt.Sprintf("setpriv (util-linux) is missing: the rules were checked with sudo -l only, not run as %s", user)
	}
	argv := append([]string{setpriv, "--reuid=" + user, "--regid=" + user, "--init-groups", "--reset-env", "--",
		hostpath.Sudo, "-n"}, live...)
	var out bytes.Buffer
	err = d.o.Runner.Run(ctx, runner.Cmd{Argv: argv, Env: sudoEnv, Dir: "/", Stdout: &out})
	// systemctl is-active prints the unit's state and exits 3 when it is
	// not active; sudo's own refusal prints nothing on stdout.
	if strings.TrimSpace(out.String()) == "" {
		if err == nil {
			err = fmt.Errorf("no output")
		}
		askDeferred()
		if problems := judge(); len(problems) > 0 {
			return problems, ""
		}
		return []string{fmt.Sprintf("as %s, sudo -n %s failed (%s): the web app's calls through sudo do not work; "+
			"the rules in %s must be NOPASSWD and the account %s usable by sudo (not expired)",
			user, strings.Join(live, " "), refusal(err), hostpath.SudoersFile, user)}, ""
	}
	return nil, ""
}

// probeParallel bounds how many sudo -l probes run at once: each is a
// short sudo run of its own (sudoers parsed, the user looked up), and one
// after the other they were most of a no-op redeploy's time on the host.
const probeParallel = 4

// runProbes runs the n commands cmd(i) with at most probeParallel at a
// time and returns their errors by index, so the caller reads the answers
// in the probes' own order whatever order they finished in.
func runProbes(ctx context.Context, r runner.Runner, n int, cmd func(i int) runner.Cmd) []error {
	errs := make([]error, n)
	sem := make(chan struct{}, probeParallel)
	var wg sync.WaitGroup
	for i := range n {
		c := cmd(i)
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = r.Run(ctx, c)
		}()
	}
	wg.Wait()
	return errs
}

// sudoEnv is the environment of the probes: sudo's messages in English.
var sudoEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}

// refusal is sudo's own word on a refused call, one line.
func refusal(err error) string {
	if err == nil {
		return "allowed"
	}
	if ee, ok := err.(*runner.ExitError); ok {
		if s := strings.TrimSpace(ee.Stderr); s != "" {
			return strings.Join(strings.Fields(s), " ")
		}
		return fmt.Sprintf("exit %d", ee.Code)
	}
	return err.Error()
}
