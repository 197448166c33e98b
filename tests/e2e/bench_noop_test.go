//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// TestBenchNoop measures, on one booted host, a no-op redeploy and status
// (with the host checks of docs/operations.md: the record's checksums,
// NeedDaemonReload, the web app's start, the leftovers) against "ssh
// true" to the same host, all in the same run, each the median of several
// runs interleaved. The goal: both within 1.5x of ssh true. It runs only
// when asked: scripts/bench-noop (LEFT4ME_BENCH_NOOP=1).
func TestBenchNoop(t *testing.T) {
	if os.Getenv("LEFT4ME_BENCH_NOOP") != "1" {
		t.Skip("benchmark: run scripts/bench-noop (sets LEFT4ME_BENCH_NOOP=1)")
	}
	requireHostTools(t)
	runs := 9
	if v := os.Getenv("LEFT4ME_BENCH_RUNS"); v != "" {
		fmt.Sscan(v, &runs)
	}
	h := bootHost(t, "benchnoop", nil)
	bundle := buildBundle(t, moduleRoot(), filepath.Join(t.TempDir(), "A"))
	ssh := append([]string{"-F", "/dev/null"}, h.SSHOptions()...)
	deployArgs := append(append([]string{"--bundle", bundle}, ssh...), "root@127.0.0.1")
	if r := runDeployCLI(t, deployArgs...); r.code != 0 {
		t.Fatalf("first deploy: %s", r)
	}
	var noop, status, sshT []time.Duration
	for i := 0; i < runs; i++ {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, "ssh", append(append([]string{}, ssh...), "root@127.0.0.1", "true")...).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("ssh true: %v: %s", err, out)
		}
		sshT = append(sshT, time.Since(start))

		r := runDeployCLI(t, append([]string{"--json"}, deployArgs...)...)
		d := deployResult{Output: r.stdout}
		d.parse()
		if r.code != 0 || d.Summary == nil || d.Summary.Changed != 0 {
			t.Fatalf("no-op redeploy is not changed=0: %s", r)
		}
		noop = append(noop, r.elapsed)

		r = runDeployCLI(t, append([]string{"status"}, deployArgs...)...)
		if r.code != 0 {
			t.Fatalf("status: %s", r)
		}
		status = append(status, r.elapsed)
	}
	base := median(sshT)
	fmt.Fprintf(os.Stdout, "\none booted bookworm host (systemd-nspawn) on this machine, %d runs each, interleaved, medians"+
		" (and the median of the ratios of each run to its own ssh true):\n"+
		"  ssh true           %8s\n  no-op redeploy     %8s  %.2fx ssh true (pairwise %.2fx)\n  status             %8s  %.2fx ssh true (pairwise %.2fx)\n",
		runs, base.Round(time.Millisecond), median(noop).Round(time.Millisecond), ratio(median(noop), base), pairwise(noop, sshT),
		median(status).Round(time.Millisecond), ratio(median(status), base), pairwise(status, sshT))
}

// pairwise is the median of a[i]/b[i]: each run against the baseline run
// next to it, so that a load that comes and goes weighs on both alike.
func pairwise(a, b []time.Duration) float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = ratio(a[i], b[i])
	}
	sort.Float64s(r)
	return r[len(r)/2]
}
