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
