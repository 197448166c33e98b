package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/remote"
	"github.com/left4me/left4me-deploy/internal/sshdtest"
	"github.com/left4me/left4me-deploy/steps"
)

func TestSplitSSHFlags(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"-p2222 root@h", "-p 2222 root@h"},
		{"-p 2222 root@h", "-p 2222 root@h"},
		{"-oUser=x -o Port=1 h", "-o User=x -o Port=1 h"},
		{"-ikey -JJump h", "-i key -J Jump h"},
		{"-parallel 2 -p 22 h", "-parallel 2 -p 22 h"},
		{"--parallel 2 h", "--parallel 2 h"},
		{"-o=User=x h", "-o=User=x h"},
		{"-F/dev/null h -p2", "-F /dev/null h -p2"},
		{"-root /r -pi h", "-root /r -p i h"},
		{"apply --local -p2", "apply --local -p2"},
		{"-o ProxyJump=a,b h", "-o ProxyJump=a,b h"},
	} {
		got := strings.Join(splitSSHFlags(append([]string{"x"}, strings.Fields(tc.in)...))[1:], " ")
		if got != tc.want {
			t.Errorf("splitSSHFlags(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The flags as an operator types them reach ssh intact: the remote command
// is never run because the host does not exist, but ssh's verbose output
// (-o LogLevel) shows it read them.
func TestSSHFlagSpellings(t *testing.T) {
	for _, args := range [][]string{
		{"-p", "1", "-o", "ConnectTimeout=1", "-oKexAlgorithms=curve25519-sha256,diffie-hellman-group14-sha256", "-F", "/dev/null", "--bundle", sshdtest.FakePlanBundle(t), "root@127.0.0.1"},
		{"-p1", "-oConnectTimeout=1", "-F/dev/null", "-bundle", sshdtest.FakePlanBundle(t), "-parallel", "2", "root@127.0.0.1"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"left4me-deploy"}, args...), strings.NewReader(""), &out, &errb)
		// Port 1 on loopback refuses: the error proves -p reached ssh.
		if code != 1 || !strings.Contains(out.String(), "host unreachable") || !strings.Contains(out.String(), "port 1") {
			t.Errorf("run %q = %d, want 1 and a refused connection to port 1; stdout:\n%s\nstderr:\n%s", args, code, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"left4me-deploy", "--bundle", sshdtest.FakePlanBundle(t), "root@h", "-p", "22"}, strings.NewReader(""), &out, &errb); code != 2 || !strings.Contains(errb.String(), "flags go before the host list") {
		t.Errorf("flag after host: exit %d, stderr %q; want 2 and a hint", code, errb.String())
	}
}

// deployResult is one run of the CLI with --json.
type deployResult struct {
	code     int
	events   []protocol.Event
	stdout   string
	stderr   string
	newConns int
}

func (r deployResult) summary(t *testing.T, host string) protocol.Event {
	t.Helper()
	for _, ev := range r.events {
		if ev.Type == "summary" && ev.Host == host {
			return ev
		}
	}
	t.Fatalf("no summary for %s in:\n%s\nstderr:\n%s", host, r.stdout, r.stderr)
	return protocol.Event{}
}

func (r deployResult) shipped(host string) string {
	for _, ev := range r.events {
		if ev.Type == "log" && ev.Step == "ship" && ev.Host == host {
			return ev.Reason
		}
	}
	return ""
}

func parseHostEvents(t *testing.T, out string) []protocol.Event {
	t.Helper()
	var evs []protocol.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		checkSchema(t, sc.Text())
		var ev protocol.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("--json printed a line that is not JSON: %q", sc.Text())
		}
		if ev.Host == "" && string(ev.Type) != string(remote.EventRollout) {
			t.Errorf("event without a host: %q", sc.Text())
		}
		evs = append(evs, ev)
	}
	return evs
}

func deployJSON(t *testing.T, srvs []*sshdtest.Server, args ...string) deployResult {
	t.Helper()
	before := 0
	for _, s := range srvs {
		before += s.Connections(t)
	}
	var out, errb bytes.Buffer
	start := time.Now()
	code := run(append([]string{"left4me-deploy", "--json"}, args...), strings.NewReader(""), &out, &errb)
	t.Logf("deploy took %v", time.Since(start))
	r := deployResult{code: code, stdout: out.String(), stderr: errb.String()}
	r.events = parseHostEvents(t, r.stdout)
	for _, s := range srvs {
		r.newConns += s.Connections(t)
	}
	r.newConns -= before
	return r
}

func stagingLeft(t *testing.T, root string) []string {
	m, _ := filepath.Glob(filepath.Join(root, remote.StateDir, "staging.*"))
	return m
}

// filesUnder lists the files below root, skipping the deploy's own state.
func filesUnder(t *testing.T, root string) []string {
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		rel := strings.TrimPrefix(p, root)
		// The deploy's own cache and the plan's lock are no installed files.
		if err == nil && !fi.IsDir() && !strings.HasPrefix(rel, remote.StateDir+"/") && !strings.HasPrefix(rel, hostpath.DeployRunDir+"/") {
			out = append(out, strings.TrimPrefix(p, root))
		}
		return nil
	})
	return out
}

func testDeployDryRunDiffRedeploy(t *testing.T, bundle string) {
	srv := sshdtest.Start(t)
	root := t.TempDir()
	host := srv.Target("root")
	base := append(srv.SSHFlags(), "--bundle", bundle, "--root", root)

	// Dry run (-n, as on every verb) with diff on a fresh root: reports changes, writes nothing
	// but the deploy's own cache.
	r := deployJSON(t, []*sshdtest.Server{srv}, append(base, "-n", "--diff", host)...)
	if r.code != 0 {
		t.Fatalf("dry run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if s := r.summary(t, host); s.Changed == 0 {
		t.Errorf("dry run on a fresh root: changed=0, want changes reported")
	}
	if !hasEvent(r.events, "diff") {
		t.Errorf("dry run --diff printed no diff event:\n%s", r.stdout)
	}
	if files := filesUnder(t, root); len(files) != 0 {
		t.Errorf("dry run wrote %v", files)
	}
	if r.newConns != 1 {
		t.Errorf("dry run: sshd accepted %d connections, want 1", r.newConns)
	}

	// The real deploy.
	r = deployJSON(t, []*sshdtest.Server{srv}, append(base, host)...)
	if r.code != 0 {
		t.Fatalf("deploy: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if s := r.summary(t, host); s.Changed == 0 || s.Failed != 0 {
		t.Errorf("first deploy: %+v, want changes and no failures", s)
	}
	if r.newConns != 1 {
		t.Errorf("deploy: sshd accepted %d connections, want 1 (one control master)", r.newConns)
	}
	if left := stagingLeft(t, root); len(left) != 0 {
		t.Errorf("staging left behind: %v", left)
	}
	cache := filepath.Join(root, remote.StateDir, "cache")
	fi, err := os.Stat(filepath.Dir(cache))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v %v, want 0700", err, fi.Mode())
	}
	mtimes := cacheMtimes(t, cache)

	// Redeploy: nothing changes, nothing is sent, one connection.
	r = deployJSON(t, []*sshdtest.Server{srv}, append(base, host)...)
	if r.code != 0 {
		t.Fatalf("redeploy: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if s := r.summary(t, host); s.Changed != 0 || s.Failed != 0 {
		t.Errorf("redeploy: %+v, want changed=0", s)
	}
	if got := r.shipped(host); !strings.HasPrefix(got, "sent 0 of ") {
		t.Errorf("redeploy shipped %q, want \"sent 0 of ...\"", got)
	}
	if got := cacheMtimes(t, cache); !reflect.DeepEqual(got, mtimes) {
		t.Errorf("redeploy rewrote the host's binary cache: %v -> %v", mtimes, got)
	}
	if r.newConns != 1 {
		t.Errorf("redeploy: sshd accepted %d connections, want 1", r.newConns)
	}

	// Text output: every line carries the host; the summary closes it.
	var out, errb bytes.Buffer
	if code := run(append([]string{"left4me-deploy"}, append(base, host)...), strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("text redeploy: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, l := range lines {
		if !strings.HasPrefix(l, host+": ") && l != "summary:" && !strings.HasPrefix(l, "  "+host+": ") {
			t.Errorf("text output line without host prefix: %q", l)
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "changed=0") || !strings.Contains(last, "sent=0") {
		t.Errorf("last line %q, want the per-host summary with changed=0 sent=0", last)
	}
}

func hasEvent(evs []protocol.Event, typ string) bool {
	for _, ev := range evs {
		if ev.Type == protocol.EventType(typ) {
			return true
		}
	}
	return false
}

func cacheMtimes(t *testing.T, dir string) map[string]time.Time {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Time{}
	for _, e := range ents {
		fi, _ := e.Info()
		out[e.Name()] = fi.ModTime()
	}
	return out
}

// Two hosts at once, named in an ssh_config (-F) as an operator would.
func testTwoHostsInParallel(t *testing.T, bundle string) {
	a, b := sshdtest.Start(t), sshdtest.Start(t)
	conf := filepath.Join(a.Dir, "two_hosts")
	var cfg strings.Builder
	for i, s := range []*sshdtest.Server{a, b} {
		fmt.Fprintf(&cfg, "Host host%d\n  HostName 127.0.0.1\n  Port %d\n  IdentityFile %s\n  UserKnownHostsFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n  GlobalKnownHostsFile /dev/null\n", i+1, s.Port, s.Key, s.KnownHosts)
	}
	os.WriteFile(conf, []byte(cfg.String()), 0o644)
	// Both sshds are this machine, so the hosts share --root; the plan's
	// own lock serialises them.
	root1 := t.TempDir()
	r := deployJSON(t, []*sshdtest.Server{a, b}, "-F", conf, "--bundle", bundle, "--root", root1, "--parallel", "2", "root@host1", "root@host2")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, h := range []string{"root@host1", "root@host2"} {
		if s := r.summary(t, h); s.Failed != 0 || s.Status == steps.StatusFailed {
			t.Errorf("%s: %+v", h, s)
		}
	}
	if a.Connections(t) != 1 || b.Connections(t) != 1 {
		t.Errorf("connections: host1 %d, host2 %d; want 1 each", a.Connections(t), b.Connections(t))
	}
	// One host down does not stop the other; the exit status says so.
	bad := filepath.Join(a.Dir, "with_down")
	os.WriteFile(bad, []byte(cfg.String()+"Host down\n  HostName 127.0.0.1\n  Port 1\n"), 0o644)
	r = deployJSON(t, []*sshdtest.Server{a, b}, "-F", bad, "--bundle", bundle, "--root", root1, "root@down", "root@host2")
	if r.code != 1 {
		t.Fatalf("with one host down: exit %d, want 1\n%s", r.code, r.stdout)
	}
	if s := r.summary(t, "root@down"); s.Status != steps.StatusFailed || !strings.Contains(s.Reason, "host unreachable") {
		t.Errorf("down host summary %+v, want failed, unreachable", s)
	}
	if s := r.summary(t, "root@host2"); s.Status != steps.StatusOK || s.Changed != 0 {
		t.Errorf("host2 summary %+v, want ok, changed=0", s)
	}
}

func testConnectErrors(t *testing.T, bundle string) {
	srv := sshdtest.Start(t)
	otherKey := filepath.Join(t.TempDir(), "other")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", otherKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	for _, tc := range []struct {
		name  string
		setup func()
		args  []string
		want  string
	}{
		{"wrong key", func() {}, []string{"-i", otherKey, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-F", srv.ClientConf, "-p", fmt.Sprint(srv.Port), "-o", "UserKnownHostsFile=" + srv.KnownHosts}, "authentication failed for root@127.0.0.1"},
		{"host key changed", func() {
			pub, _ := os.ReadFile(otherKey + ".pub")
			srv.WriteKnownHosts(t, strings.TrimSpace(string(pub)))
		}, srv.SSHFlags(), "host key changed"},
		{"unknown host key", func() { os.WriteFile(srv.KnownHosts, nil, 0o644) }, append(srv.SSHFlags(), "-o", "BatchMode=yes"), "host key not verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer srv.WriteKnownHosts(t, srv.HostKeyPub)
			tc.setup()
			var out, errb bytes.Buffer
			code := run(append(append([]string{"left4me-deploy"}, tc.args...), "--bundle", bundle, "--root", t.TempDir(), srv.Target("root")), strings.NewReader(""), &out, &errb)
			if code != 1 || !strings.Contains(out.String(), tc.want) {
				t.Fatalf("exit %d, want 1 and %q in:\n%s\n%s", code, tc.want, out.String(), errb.String())
			}
		})
	}
}

// lockedBuffer is written by the deploy and read by the test meanwhile.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
	}
}

// The connection dies while the plan runs: the error names the step, and a
// rerun converges.
func TestSSHConnectionLostMidRunThenRerun(t *testing.T) {
	srv := sshdtest.Start(t)
	bundle := sshdtest.FakePlanBundle(t) // a plan that can be made slow
	root := t.TempDir()
	host := srv.Target("root")
	args := append([]string{"left4me-deploy"}, append(srv.SSHFlags(), "--bundle", bundle, "--root", root, host)...)
	if err := os.WriteFile(filepath.Join(root, "slow"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb lockedBuffer
	done := make(chan int)
	go func() { done <- run(args, strings.NewReader(""), &out, &errb) }()
	waitFor(t, "the plan to start working", func() bool { return strings.Contains(out.String(), "working") })
	if n := srv.KillConnections(); n == 0 {
		t.Fatal("no sshd connection process to kill")
	}
	code := <-done
	if code != 1 || !strings.Contains(out.String(), "connection lost") || !strings.Contains(out.String(), `the step after "preflight"`) {
		t.Fatalf("exit %d, want 1 and \"connection lost ... the step after \\\"preflight\\\"\" in:\n%s\n%s", code, out.String(), errb.String())
	}
	os.Remove(filepath.Join(root, "slow"))
	r := deployJSON(t, []*sshdtest.Server{srv}, append(srv.SSHFlags(), "--bundle", bundle, "--root", root, host)...)
	if r.code != 0 || r.summary(t, host).Changed != 1 {
		t.Fatalf("rerun: exit %d, want 0 and the change made\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = deployJSON(t, []*sshdtest.Server{srv}, append(srv.SSHFlags(), "--bundle", bundle, "--root", root, host)...)
	if r.code != 0 || r.summary(t, host).Changed != 0 {
		t.Fatalf("second rerun: exit %d, want 0 and changed=0\n%s", r.code, r.stdout)
	}
	if left := stagingLeft(t, root); len(left) != 0 {
		t.Errorf("staging left behind: %v", left)
	}
}

// -v, before or after the verb, adds the failed host's ssh command line
// on stderr as a detail line; the message itself never carries it.
func TestVerboseFlag(t *testing.T) {
	bundle := sshdtest.FakePlanBundle(t)
	ssh := []string{"-p", "1", "-F", "/dev/null", "-o", "ConnectTimeout=2", "--bundle", bundle}
	for _, tc := range []struct {
		args    []string
		verbose bool
	}{
		{append(ssh, "root@127.0.0.1"), false},
		{append(append([]string{"-v"}, ssh...), "root@127.0.0.1"), true},
		{append(append([]string{"--verbose", "status"}, ssh...), "root@127.0.0.1"), true},
		{append(append([]string{"status", "-v"}, ssh...), "root@127.0.0.1"), true},
		{append(append([]string{"rollback", "-v"}, ssh...), "root@127.0.0.1"), true},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"left4me-deploy"}, tc.args...), strings.NewReader(""), &out, &errb)
		detail := "root@127.0.0.1: detail: ssh: ssh -o ControlMaster=yes "
		if code == 0 || strings.Contains(out.String(), "ControlMaster") || strings.Contains(errb.String(), detail) != tc.verbose {
			t.Errorf("run %q = %d, want a failure, the detail line %q on stderr only with -v; stdout:\n%s\nstderr:\n%s", tc.args, code, detail, out.String(), errb.String())
		}
	}
}
