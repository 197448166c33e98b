//go:build linux

package ctl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/textsafe"
)

// How long l4d2ctl start watches a unit it started (docs/l4d2ctl.md). A
// server counts as started once it has stayed active for SettleFor; one
// that exits and waits for its restart (Restart=on-failure), or is still
// not settled after SettleWithin, is a failed start.
const (
	DefaultSettleFor    = 2 * time.Second
	DefaultSettleWithin = 10 * time.Second
	DefaultSettleEvery  = 200 * time.Millisecond
	// JournalLines is how many of the unit's last journal lines a failed
	// start shows.
	JournalLines = 15
)

// Settle says how Start watches the unit it started; the zero value
// accepts the first active answer (unit tests), nil in Ctl means the
// defaults above.
type Settle struct {
	For, Within, Every time.Duration
}

// DefaultSettle is what l4d2ctl start uses.
var DefaultSettle = Settle{For: DefaultSettleFor, Within: DefaultSettleWithin, Every: DefaultSettleEvery}

// unitProps is what left4me-systemctl show NAME prints
// (svchelper.ShowProperties).
type unitProps map[string]string

func parseProps(out string) unitProps {
	p := unitProps{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			p[k] = v
		}
	}
	return p
}

// describe is the unit's state in words: "activating (auto-restart),
// restarted 2 times, last exit status 203" and the like.
func (p unitProps) describe() string {
	s := p["ActiveState"]
	if p["SubState"] != "" {
		s += " (" + p["SubState"] + ")"
	}
	if n := p["NRestarts"]; n != "" && n != "0" {
		s += ", restarted " + n + " times"
	}
	if r := p["Result"]; r != "" && r != "success" {
		s += ", result " + r
	}
	if st := p["ExecMainStatus"]; st != "" && st != "0" {
		s += ", last exit status " + st
	}
	return textsafe.Line(s)
}

// show runs left4me-systemctl show NAME.
func (c *Ctl) show(ctx context.Context, name string) (unitProps, error) {
	out, err := c.unit(ctx, "show", name)
	p := parseProps(out)
	if p["ActiveState"] == "" {
		if err == nil {
			err = fmt.Errorf("show printed %q", textsafe.Line(out))
		}
		return nil, err
	}
	return p, nil
}

// errCrashLoop marks a start whose unit came up and went down again.
var errCrashLoop = errors.New("the server exits after it starts")

// settle watches the unit Start just started until it has stayed active
// for c.Settle.For without a restart. A unit that fell back to restarting,
// failed, stopped, or did not settle within c.Settle.Within is an error.
func (c *Ctl) settle(ctx context.Context, name string) error {
	s := DefaultSettle
	if c.Settle != nil {
		s = *c.Settle
	}
	sleep := c.Sleep
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	begin := now()
	var restarts0 = -1
	var stable time.Time
	var last unitProps
	for {
		p, err := c.show(ctx, name)
		if err != nil {
			return fmt.Errorf("unit state after start unknown: %w", err)
		}
		last = p
		n, _ := strconv.Atoi(p["NRestarts"])
		if restarts0 < 0 {
			restarts0 = n
		}
		t := now()
		switch {
		case p["SubState"] == "auto-restart" || n > restarts0:
			return fmt.Errorf("%w: %s", errCrashLoop, p.describe())
		case p["ActiveState"] == "active":
			if stable.IsZero() {
				stable = t
			}
			if t.Sub(stable) >= s.For {
				return nil
			}
		case p["ActiveState"] == "activating" || p["ActiveState"] == "reloading" || p["ActiveState"] == "refreshing":
			stable = time.Time{}
		default:
			return fmt.Errorf("%w: %s", errCrashLoop, p.describe())
		}
		if t.Sub(begin) >= s.Within {
			return fmt.Errorf("unit did not settle within %s: %s", s.Within, last.describe())
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sleep(ctx, s.Every)
	}
}

// journalTail returns the unit's last JournalLines journal lines through
// left4me-journalctl, each made printable, for the error of a failed start.
func (c *Ctl) journalTail(ctx context.Context, name string) string {
	out := &journalBuf{max: 64 << 10}
	argv := c.helperArgv(c.journalHelper(), name, "-n", strconv.Itoa(JournalLines))
	err := c.Runner.Run(ctx, runner.Cmd{Argv: argv, Stdout: out})
	text := strings.TrimRight(out.b.String(), "\n")
	if text == "" {
		if err != nil {
			return "(journal unavailable: " + err.Error() + ")"
		}
		return ""
	}
	lines := strings.Split(text, "\n")
	if len(lines) > JournalLines {
		lines = lines[len(lines)-JournalLines:]
	}
	for i, l := range lines {
		if len(l) > maxJournalLine {
			l = l[:maxJournalLine] + "..."
		}
		lines[i] = "  " + textsafe.Line(l)
	}
	return fmt.Sprintf("last %d journal lines of the unit:\n%s", len(lines), strings.Join(lines, "\n"))
}

// maxJournalLine bounds each journal line a failed start shows: the game
// server's output is the left4me user's to choose.
const maxJournalLine = 300

// journalBuf keeps the first max bytes written to it and drops the rest.
type journalBuf struct {
	b   strings.Builder
	max int
}

func (c *journalBuf) Write(p []byte) (int, error) {
	if room := c.max - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
