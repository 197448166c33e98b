//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// TestBenchHosts measures deploy and status against 1, 4 and 8 booted
// hosts from this machine, each figure the median of several runs, with
// its baseline measured in the same run: the ratio of N hosts to one host
// (the goal: 8 hosts at most 2x one host), and status against ssh true to
// the same hosts (the goal: at most 1.5x). Every deploy is an upgrade that
// changes the binaries and the web unit (releases A and B alternate).
// It runs only when asked: scripts/bench-hosts (LEFT4ME_BENCH=1).
func TestBenchHosts(t *testing.T) {
	if os.Getenv("LEFT4ME_BENCH") != "1" {
		t.Skip("benchmark: run scripts/bench-hosts (sets LEFT4ME_BENCH=1)")
	}
	requireHostTools(t)
	runs := 3
	if v := os.Getenv("LEFT4ME_BENCH_RUNS"); v != "" {
		fmt.Sscan(v, &runs)
	}
	sizes := []int{1, 4, 8}
	start := time.Now()
	f := bootFleet(t, sizes[len(sizes)-1])
	t.Logf("booted %d hosts in %s", len(f.hosts), time.Since(start).Round(100*time.Millisecond))
	bundles := []string{
		buildBundle(t, moduleRoot(), filepath.Join(f.work, "A")),
		buildBundle(t, changedSource(t), filepath.Join(f.work, "B")),
	}
	targets := func(n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, f.target(i))
		}
		return out
	}
	// Every host gets release A once, untimed: the first install (packages,
	// migration) is not what this measures.
	if r := runDeployCLI(t, append(append(append([]string{}, f.ssh...), "--bundle", bundles[0], "--parallel", "8"), targets(8)...)...); r.code != 0 {
		t.Fatalf("first deploy: %s", r)
	}
	next := 1
	deployOnce := func(n, parallel int) time.Duration {
		args := append(append(append([]string{}, f.ssh...), "--bundle", bundles[next], "--parallel", fmt.Sprint(parallel)), targets(n)...)
		r := runDeployCLI(t, args...)
		if r.code != 0 {
			t.Fatalf("deploy: %s", r)
		}
		return r.elapsed
	}
	type row struct {
		n                    int
		deploy, status, sshT time.Duration
	}
	var rows []row
	// The baseline of the parallel deploy: the same upgrade of all hosts
	// one after the other (--parallel 1).
	var serial []time.Duration
	for i := 0; i < runs; i++ {
		serial = append(serial, deployOnce(len(f.hosts), 1))
		next = 1 - next
	}
	for _, n := range sizes {
		var dep, st, sshT []time.Duration
		for i := 0; i < runs; i++ {
			// Upgrade the first n hosts to the other release, then bring
			// the rest along untimed so every host runs the same release.
			dep = append(dep, deployOnce(n, n))
			if n < len(f.hosts) {
				args := append(append(append([]string{}, f.ssh...), "--bundle", bundles[next], "--parallel", "8"), targets(len(f.hosts))[n:]...)
				if r := runDeployCLI(t, args...); r.code != 0 {
					t.Fatalf("catch-up deploy: %s", r)
				}
			}
			cur := bundles[next]
			next = 1 - next
			r := runDeployCLI(t, append(append(append([]string{"status"}, f.ssh...), "--bundle", cur, "--parallel", fmt.Sprint(n)), targets(n)...)...)
			if r.code != 0 {
				t.Fatalf("status: %s", r)
			}
			st = append(st, r.elapsed)
			sshT = append(sshT, sshTrue(t, f, n))
		}
		rows = append(rows, row{n, median(dep), median(st), median(sshT)})
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "hosts\tdeploy (median of %d)\tvs 1 host\tstatus\tvs 1 host\tssh true (parallel)\tstatus / ssh true\t\n", runs)
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%.2fx\t%s\t%.2fx\t%s\t%.2fx\t\n", r.n, r.deploy.Round(10*time.Millisecond), ratio(r.deploy, rows[0].deploy),
			r.status.Round(10*time.Millisecond), ratio(r.status, rows[0].status), r.sshT.Round(10*time.Millisecond), ratio(r.status, r.sshT))
	}
	tw.Flush()
	last := rows[len(rows)-1]
	fmt.Fprintf(&b, "%d hosts one after the other (--parallel 1): deploy %s, %.2fx one host; in parallel: %.2fx faster\n",
		last.n, median(serial).Round(10*time.Millisecond), ratio(median(serial), rows[0].deploy), ratio(median(serial), last.deploy))
	fmt.Fprintf(os.Stdout, "\nleft4me-deploy to booted bookworm hosts (systemd-nspawn) on this machine (%d runs each, medians):\n%s\n", runs, b.String())

	if _, err := exec.LookPath("ansible-playbook"); err != nil || os.Getenv("LEFT4ME_BENCH_ANSIBLE") == "0" {
		t.Logf("no Ansible comparison: ansible-playbook not found (Debian package ansible-core) or LEFT4ME_BENCH_ANSIBLE=0")
		return
	}
	deployed := map[int]time.Duration{}
	for _, r := range rows {
		deployed[r.n] = r.deploy
	}
	benchAnsible(t, f, bundles, sizes, runs, next, deployed)
}

// benchAnsible times the same upgrade with the playbook in
// testdata/ansible (forks = hosts, ssh ControlPersist and pipelining on),
// installing the files "left4me-deploy render" writes for each release.
func benchAnsible(t *testing.T, f *fleet, bundles []string, sizes []int, runs, next int, deployed map[int]time.Duration) {
	// Ansible's modules need Python (and python3-apt for apt) on the
	// hosts; installing them is setup, not timed.
	var wg sync.WaitGroup
	res := make([]Result, len(f.hosts))
	for i, h := range f.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = h.Run(context.Background(), "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-apt >/dev/null")
		}()
	}
	wg.Wait()
	for i, r := range res {
		if r.Code != 0 {
			t.Fatalf("install Python for Ansible on %s: %s", f.hosts[i].Name, r)
		}
	}
	var trees []string
	for i, b := range bundles {
		tree := filepath.Join(f.work, fmt.Sprintf("tree-%d", i))
		bin := filepath.Join(b, "linux-amd64")
		if out, err := exec.Command(filepath.Join(bin, "left4me-deploy"), "render", "--bin-dir", bin, tree).CombinedOutput(); err != nil {
			t.Fatalf("render release %d: %v\n%s", i, err, out)
		}
		trees = append(trees, tree)
	}
	var inv strings.Builder
	for i, h := range f.hosts {
		fmt.Fprintf(&inv, "h%d ansible_host=127.0.0.1 ansible_port=%d ansible_user=root ansible_ssh_private_key_file=%s ansible_python_interpreter=/usr/bin/python3\n", i, h.Port, f.hosts[0].Key)
	}
	invFile := filepath.Join(f.work, "inventory")
	writeFile(t, invFile, inv.String(), 0o644)
	playbook := filepath.Join(moduleRoot(), "tests/e2e/testdata/ansible/left4me.yml")
	env := append(os.Environ(),
		"ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_PIPELINING=True", "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=False",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(f.work, "ansible-tmp"), "ANSIBLE_SSH_CONTROL_PATH_DIR="+filepath.Join(f.work, "ansible-cp"),
		"ANSIBLE_SSH_ARGS=-o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes -o UserKnownHostsFile="+filepath.Join(f.work, "known_hosts"),
		"HOME="+f.work)
	play := func(n int, tree string, upgrade bool) time.Duration {
		var hosts []string
		for i := 0; i < n; i++ {
			hosts = append(hosts, fmt.Sprintf("h%d", i))
		}
		cmd := exec.Command("ansible-playbook", "-i", invFile, "-l", strings.Join(hosts, ","), "-f", fmt.Sprint(n), "-e", "release_tree="+tree, playbook)
		cmd.Env = env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			t.Fatalf("ansible-playbook: %v\n%s", err, tail(string(out), 40))
		}
		if upgrade && !strings.Contains(string(out), "RUNNING HANDLER [restart web]") {
			t.Fatalf("ansible-playbook changed nothing that restarts the web app:\n%s", tail(string(out), 40))
		}
		return d
	}
	// Bring every host to one release first, untimed.
	play(len(f.hosts), trees[1-next], false)
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "hosts\tansible-playbook (median of %d)\tvs 1 host\tleft4me-deploy\tansible / left4me-deploy\t\n", runs)
	var one time.Duration
	for _, n := range sizes {
		var ds []time.Duration
		for i := 0; i < runs; i++ {
			ds = append(ds, play(n, trees[next], true))
			if n < len(f.hosts) {
				// The rest follow, untimed, as for left4me-deploy.
				var rest []string
				for j := n; j < len(f.hosts); j++ {
					rest = append(rest, fmt.Sprintf("h%d", j))
				}
				c := exec.Command("ansible-playbook", "-i", invFile, "-l", strings.Join(rest, ","), "-f", "8", "-e", "release_tree="+trees[next], playbook)
				c.Env = env
				if out, err := c.CombinedOutput(); err != nil {
					t.Fatalf("catch-up ansible-playbook: %v\n%s", err, tail(string(out), 40))
				}
			}
			next = 1 - next
		}
		m := median(ds)
		if n == sizes[0] {
			one = m
		}
		fmt.Fprintf(tw, "%d\t%s\t%.2fx\t%s\t%.2fx\t\n", n, m.Round(10*time.Millisecond), ratio(m, one), deployed[n].Round(10*time.Millisecond), ratio(m, deployed[n]))
	}
	tw.Flush()
	fmt.Fprintf(os.Stdout, "The same upgrade with Ansible (ansible-core, forks = hosts, ControlPersist, pipelining; left4me-deploy from the table above):\n%s\n", b.String())
}

// sshTrue is the baseline: "ssh true" to the first n hosts at once, as
// status opens one connection per host.
func sshTrue(t *testing.T, f *fleet, n int) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := f.hosts[i]
			args := append(append([]string{}, f.ssh...), "-p", fmt.Sprint(h.Port), "root@127.0.0.1", "true")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if out, err := exec.CommandContext(ctx, "ssh", args...).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("ssh true to %s: %v: %s", h.Name, err, out)
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }
