package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/left4me/left4me-deploy/remote"
)

// rolloutFlags move a deploy (or rollback) over many hosts.
func rolloutFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "serial", Usage: "deploy in batches of `N` hosts, each batch after the one before finished (default: all hosts, --parallel at a time)"},
		&cli.BoolFlag{Name: "canary", Usage: "deploy to the first host alone first; the others start only if it succeeded"},
		&cli.IntFlag{Name: "max-fail", Usage: "after `K` failed hosts start no other host (default: never stop)"},
	}
}

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
	results := d.Rollout(ctx, stop, targets, r)
	out.RolloutSummary(results)
	failed, notRun := 0, 0
	for _, res := range results {
		switch {
		case res.NotRun:
			notRun++
		case res.Failed():
			failed++
		}
	}
	switch {
	case failed > 0 && notRun > 0:
		return exitError{1, fmt.Sprintf("%s failed on %d of %d hosts; %d not run", verb, failed, len(results), notRun)}
	case failed > 0:
		return exitError{1, fmt.Sprintf("%s failed on %d of %d hosts", verb, failed, len(results))}
	case notRun > 0:
		return exitError{1, fmt.Sprintf("%s interrupted: %d of %d hosts not run", verb, notRun, len(results))}
	}
	return nil
}
