package remote

import (
	"context"
	"fmt"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/left4me/left4me-deploy/internal/textsafe"
)

// Rollout says how a deploy moves over many hosts: in batches, a canary
// first, and when to stop starting hosts.
type Rollout struct {
	// Serial is the number of hosts per batch; a batch starts when the one
	// before it finished. 0 means one batch of every host.
	Serial int
	// Canary makes the first batch one host, which must succeed before any
	// other host starts.
	Canary bool
	// MaxFail stops starting hosts once this many failed; hosts already
	// running finish. 0 means never stop.
	MaxFail int
}

// Validate checks the numbers.
func (r Rollout) Validate() error {
	if r.Serial < 0 {
		return fmt.Errorf("--serial %d: want a positive number of hosts per batch", r.Serial)
	}
	if r.MaxFail < 0 {
		return fmt.Errorf("--max-fail %d: want a positive number of failed hosts", r.MaxFail)
	}
	return nil
}

// Batches splits n hosts (by index, in order) into the batches r runs.
func (r Rollout) Batches(n int) [][]int {
	var out [][]int
	i := 0
	if r.Canary && n > 0 {
		out = append(out, []int{0})
		i = 1
	}
	size := r.Serial
	if size <= 0 {
		size = n
	}
	for i < n {
		end := min(i+size, n)
		b := make([]int, 0, end-i)
		for j := i; j < end; j++ {
			b = append(b, j)
		}
		out = append(out, b)
		i = end
	}
	return out
}

// Outcome is what became of one host in a rollout.
type Outcome struct {
	Ran bool
	OK  bool
	// NotRun says why a host did not start.
	NotRun string
}

// Roll runs do for hosts 0..n-1 as r says, at most parallel at once within
// a batch. It stops starting hosts when the canary failed, when MaxFail
// hosts failed, or when stop is closed (the operator's first Ctrl-C);
// hosts already running always finish. ctx is passed to do: cancelling it
// interrupts the running hosts too.
func (r Rollout) Roll(ctx context.Context, stop <-chan struct{}, n, parallel int, do func(ctx context.Context, i int) bool) []Outcome {
	if parallel < 1 {
		parallel = 1
	}
	out := make([]Outcome, n)
	var mu sync.Mutex
	failed := 0
	halt := "" // why no more hosts start
	check := func() string {
		if halt != "" {
			return halt
		}
		select {
		case <-stop:
			halt = "not run: interrupted before it started"
		default:
		}
		if halt == "" && ctx.Err() != nil {
			halt = "not run: interrupted before it started"
		}
		if halt == "" && r.MaxFail > 0 && failed >= r.MaxFail {
			halt = fmt.Sprintf("not run: %d hosts failed (--max-fail %d)", failed, r.MaxFail)
		}
		return halt
	}
	for bi, batch := range r.Batches(n) {
		sem := make(chan struct{}, parallel)
		var wg sync.WaitGroup
		for _, i := range batch {
			sem <- struct{}{}
			mu.Lock()
			why := check()
			if why == "" {
				out[i].Ran = true
			}
			mu.Unlock()
			if why != "" {
				<-sem
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok := do(ctx, i)
				mu.Lock()
				out[i].OK = ok
				if !ok {
					failed++
				}
				mu.Unlock()
				<-sem
			}()
		}
		wg.Wait()
		if bi == 0 && r.Canary && n > 1 && out[0].Ran && !out[0].OK {
			mu.Lock()
			if halt == "" {
				halt = "not run: the canary " + "failed"
			}
			mu.Unlock()
		}
	}
	for i := range out {
		if !out[i].Ran {
			out[i].NotRun = halt
			if out[i].NotRun == "" {
				out[i].NotRun = "not run"
			}
		}
	}
	return out
}

// Rollout deploys to targets as r says. Results are in the order of
// targets; a host that did not start has NotRun set and an Err saying why.
// Each connection is closed before Rollout returns.
func (d *Deployer) Rollout(ctx context.Context, stop <-chan struct{}, targets []Target, r Rollout) []Result {
	results := make([]Result, len(targets))
	dir, err := os.MkdirTemp("", "l4m-ssh-")
	if err != nil {
		for i, t := range targets {
			results[i] = Result{Target: t, Err: fmt.Errorf("create a private directory for ssh control sockets: %w", err)}
		}
		return results
	}
	defer os.RemoveAll(dir)
	outcomes := r.Roll(ctx, stop, len(targets), d.Parallel, func(ctx context.Context, i int) bool {
		start := time.Now()
		res := d.deployHost(ctx, dir, targets[i], fmt.Sprintf("c%d", i))
		res.Duration = time.Since(start)
		results[i] = res
		return !res.Failed()
	})
	for i, o := range outcomes {
		if !o.Ran {
			results[i] = Result{Target: targets[i], NotRun: true, Err: fmt.Errorf("%s", o.NotRun)}
		}
	}
	return results
}

// RolloutSummary prints the closing table of a rollout, one line per host:
// result, changed count, duration, release and the plan's counts. With
// JSON it prints Summary's events.
func (p *Printer) RolloutSummary(results []Result) {
	if p.JSON {
		p.Summary(results)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.W, "summary:")
	tw := tabwriter.NewWriter(p.W, 0, 0, 2, ' ', 0)
	for _, r := range results {
		host := "  " + textsafe.Line(r.Target.Spec) + ":"
		switch {
		case r.NotRun:
			fmt.Fprintf(tw, "%s\tNOT RUN\t-\t-\t-\t%s\n", host, textsafe.Field(r.Err.Error()))
		case r.Summary == nil:
			why := "no summary from the host"
			if r.Err != nil {
				why = r.Err.Error()
			}
			rel := "-"
			if r.Release != "" {
				rel = "release " + textsafe.Quote(r.Release)
			}
			fmt.Fprintf(tw, "%s\tFAILED\t-\t%s\t%s\t%s\n", host, r.Duration.Round(100*time.Millisecond), rel, textsafe.Field(why))
		default:
			status := "ok"
			if r.Failed() {
				status = "FAILED"
			}
			rel := r.Release
			if rel == "" {
				rel = "-"
			}
			s := r.Summary
			fmt.Fprintf(tw, "%s\t%s\tchanged=%d\t%s\trelease %s\tok=%d failed=%d skipped=%d, binaries sent=%d cached=%d\n", host, status, s.Changed,
				r.Duration.Round(100*time.Millisecond), textsafe.Quote(rel), s.OK, s.Failed, s.Skipped, r.Sent, r.Cached)
		}
	}
	tw.Flush()
}

// Tally counts the hosts of a rollout by how they ended.
type Tally struct{ OK, Failed, NotRun int }

// Count tallies results.
func Count(results []Result) Tally {
	var t Tally
	for _, r := range results {
		switch {
		case r.NotRun:
			t.NotRun++
		case r.Failed():
			t.Failed++
		default:
			t.OK++
		}
	}
	return t
}

// Outcome is the closing message of a rollout of verb that did not
// succeed on every host, "" when it did.
func (t Tally) Outcome(verb string) string {
	hosts := t.OK + t.Failed + t.NotRun
	switch {
	case t.Failed > 0 && t.NotRun > 0:
		return fmt.Sprintf("%s failed on %d of %d hosts; %d not run", verb, t.Failed, hosts, t.NotRun)
	case t.Failed > 0:
		return fmt.Sprintf("%s failed on %d of %d hosts", verb, t.Failed, hosts)
	case t.NotRun > 0:
		return fmt.Sprintf("%s interrupted: %d of %d hosts not run", verb, t.NotRun, hosts)
	}
	return ""
}
