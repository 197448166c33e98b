package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/left4me/left4me-deploy/internal/remote"
)

func rolloutFrom(c *cli.Context) (remote.Rollout, error) {
	r := remote.Rollout{Serial: c.Int("serial"), Canary: c.Bool("canary"), MaxFail: c.Int("max-fail")}
	return r, r.Validate()
}

// rollout runs d over targets as the flags say and prints the summary.
// The first Ctrl-C (or SIGTERM) starts no new host and lets the running
// ones finish; the second interrupts them. It returns the exit error:
// 1 when a host failed or did not run.
func rollout(c *cli.Context, e *env, d *remote.Deployer, out *remote.Printer, targets []remote.Target, r remote.Rollout, verb string) error {
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		close(stop)
		fmt.Fprintf(e.Stderr, "left4me-deploy: interrupted: no new host starts; hosts already running finish (interrupt again to stop them)\n")
		select {
		case <-sigs:
			cancel()
		case <-done:
		}
	}()
	began := time.Now()
	results := d.Rollout(ctx, stop, targets, r)
	retry, werr := remote.WriteRetry(str(c, "retry-file"), verb, results)
	out.RolloutSummary(results)
	out.RolloutEnd(verb, results, time.Since(began), retry)
	if werr != nil {
		fmt.Fprintf(e.Stderr, "left4me-deploy: %v\n", werr)
	} else if retry != "" && !out.JSON {
		fmt.Fprintf(e.Stderr, "left4me-deploy: the failed and not-run hosts are listed in %s: retry them with --hosts %s\n", retry, retry)
	}
	if msg := remote.Count(results).Outcome(verb); msg != "" {
		return exitError{1, msg}
	}
	return nil
}
