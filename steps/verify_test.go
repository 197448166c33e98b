//go:build linux

package steps

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/sudoers"
)

// sudoFake answers "sudo -n -l -U left4me CMD..." as a sudo would that
// allows exactly the calls allow says yes to, and the live call with out.
func sudoFake(allow func(argv []string) bool, liveOut string) *runner.Fake {
	f := &runner.Fake{Responses: map[string]runner.FakeResponse{}}
	p := sudoers.Params{User: hostpath.User, OverlayHelper: hostpath.OverlayHelper,
		SystemctlHelper: hostpath.SystemctlHelper, JournalHelper: hostpath.JournalHelper}
	for _, pr := range sudoers.Probes(p) {
		argv := append([]string{hostpath.Sudo, "-n", "-l", "-U", hostpath.User}, pr.Argv...)
		if !allow(pr.Argv) {
			f.Responses[strings.Join(argv, " ")] = runner.FakeResponse{Code: 1}
		}
	}
	live := append([]string{"/usr/bin/setpriv", "--reuid=left4me", "--regid=left4me", "--init-groups", "--reset-env", "--", hostpath.Sudo, "-n"}, sudoers.LiveProbe(p)...)
	f.Responses[strings.Join(live, " ")] = runner.FakeResponse{Stdout: liveOut, Code: 3}
	return f
}

func TestSudoGrants(t *testing.T) {
	contract := map[string]bool{}
	p := sudoers.Params{User: hostpath.User, OverlayHelper: hostpath.OverlayHelper,
		SystemctlHelper: hostpath.SystemctlHelper, JournalHelper: hostpath.JournalHelper}
	for _, pr := range sudoers.Probes(p) {
		contract[strings.Join(pr.Argv, " ")] = pr.Allow
	}
	exact := func(argv []string) bool { return contract[strings.Join(argv, " ")] }
	for _, tt := range []struct {
		name  string
		allow func([]string) bool
		live  string
		want  []string // fragments of the problems, in order; none: no problem
		calls int      // commands run
	}{
		// The live call stands for the probe of its own entry point.
		{"exactly the contract", exact, "inactive\n", nil, len(contract)},
		{"grants nothing", func([]string) bool { return false }, "", []string{
			`does not let left4me run "/usr/local/libexec/left4me/left4me-overlay-mount verify-probe"`, "@includedir /etc/sudoers.d"}, len(contract)},
		{"grants everything", func([]string) bool { return true }, "", []string{
			`lets left4me run "/usr/local/libexec/left4me/left4me-overlay mount verify-probe" as root, which is more than the helpers' contract`,
			`"/bin/sh -c id"`}, len(contract)},
		{"wants a password", exact, "", []string{"sudo -n /usr/local/libexec/left4me/left4me-systemctl-is-active verify-probe failed", "NOPASSWD"}, len(contract) + 1},
		// The live call fails because its own entry point is refused: the
		// probe of that entry point, asked then, says so.
		{"refuses the live call's entry point", func(argv []string) bool {
			return exact(argv) && !strings.HasSuffix(argv[0], "-is-active")
		}, "", []string{`does not let left4me run "/usr/local/libexec/left4me/left4me-systemctl-is-active verify-probe"`, "@includedir"}, len(contract) + 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := sudoFake(tt.allow, tt.live)
			d := &Host{o: Config{Runner: f, User: hostpath.User, Probe: &Probe{LookPath: func(string) (string, error) { return "/usr/bin/setpriv", nil }}}}
			found, _ := d.sudoGrants(context.Background())
			problems := strings.Join(found, "\n")
			if len(tt.want) == 0 && problems != "" {
				t.Fatalf("sudoGrants = %q, want no problem", problems)
			}
			for _, w := range tt.want {
				if !strings.Contains(problems, w) {
					t.Errorf("sudoGrants = %q, want it to say %q", problems, w)
				}
			}
			if n := len(f.Calls); n != tt.calls {
				t.Errorf("sudoGrants ran %d commands, want %d: %q", n, tt.calls, f.Commands())
			}
		})
	}
}

// slowRunner answers each command after a delay that is longest for the
// first, so the commands finish in reverse order, and records how many ran
// at once.
type slowRunner struct {
	mu            sync.Mutex
	order         map[string]int
	running, most int
}

func (r *slowRunner) Run(_ context.Context, c runner.Cmd) error {
	key := strings.Join(c.Argv, " ")
	r.mu.Lock()
	i := r.order[key]
	r.running++
	r.most = max(r.most, r.running)
	r.mu.Unlock()
	time.Sleep(time.Duration(len(r.order)-i) * 2 * time.Millisecond)
	r.mu.Lock()
	r.running--
	r.mu.Unlock()
	return &runner.ExitError{Argv: c.Argv, Code: 1, Stderr: fmt.Sprintf("refusal %d", i), Err: fmt.Errorf("exit status 1")}
}

// TestSudoGrantsOrder: the probes run concurrently, at most probeParallel
// at a time, and the problems still come out in the probes' order, each
// with its own probe's answer, however the answers arrive.
func TestSudoGrantsOrder(t *testing.T) {
	p := sudoers.Params{User: hostpath.User, OverlayHelper: hostpath.OverlayHelper,
		SystemctlHelper: hostpath.SystemctlHelper, JournalHelper: hostpath.JournalHelper}
	r := &slowRunner{order: map[string]int{}}
	var want []string
	for i, pr := range sudoers.Probes(p) {
		r.order[strings.Join(append([]string{hostpath.Sudo, "-n", "-l", "-U", hostpath.User}, pr.Argv...), " ")] = i
		if pr.Allow {
			want = append(want, fmt.Sprintf("run %q (sudo -l -U %s %s: refusal %d)", strings.Join(pr.Argv, " "), hostpath.User, strings.Join(pr.Argv, " "), i))
		}
	}
	d := &Host{o: Config{Runner: r, User: hostpath.User, Probe: &Probe{LookPath: func(string) (string, error) { return "/usr/bin/setpriv", nil }}}}
	problems, _ := d.sudoGrants(context.Background())
	if len(problems) != len(want) {
		t.Fatalf("sudoGrants = %d problems, want %d:\n%s", len(problems), len(want), strings.Join(problems, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(problems[i], w) {
			t.Errorf("problem %d = %q, want it to say %q", i, problems[i], w)
		}
	}
	if r.most > probeParallel || r.most < 2 {
		t.Errorf("%d probes ran at once, want 2 to %d", r.most, probeParallel)
	}
}
