//go:build linux

package ctl

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/left4me/left4me-deploy/internal/runner"
)

// showSeq answers left4me-systemctl show with one answer after the other
// (the last one from then on) and records every command.
type showSeq struct {
	answers []string
	shows   int
	calls   []string
}

func (s *showSeq) Run(_ context.Context, c runner.Cmd) error {
	s.calls = append(s.calls, strings.Join(c.Argv, " "))
	if len(c.Argv) >= 2 && c.Argv[len(c.Argv)-2] == "show" {
		a := s.answers[min(s.shows, len(s.answers)-1)]
		s.shows++
		if c.Stdout != nil {
			io.WriteString(c.Stdout, a)
		}
	}
	return nil
}

func props(active, sub string, restarts int) string {
	return fmt.Sprintf("ActiveState=%s\nSubState=%s\nNRestarts=%d\nResult=success\nExecMainStatus=0\n", active, sub, restarts)
}

func TestSettle(t *testing.T) {
	s := Settle{For: 2 * time.Second, Within: 10 * time.Second, Every: 500 * time.Millisecond}
	tests := []struct {
		name    string
		answers []string
		wantErr string // empty: settled
		shows   int    // how many times the unit was asked
	}{
		{"stays active", []string{props("active", "running", 0)}, "", 5},
		{"activating first", []string{props("activating", "start", 0), props("active", "running", 0)}, "", 6},
		{"crash loop", []string{props("active", "running", 0), props("activating", "auto-restart", 1)}, "the server exits after it starts: activating (auto-restart), restarted 1 times", 2},
		{"restarted between looks", []string{props("active", "running", 0), props("active", "running", 1)}, "the server exits after it starts", 2},
		{"failed", []string{props("failed", "failed", 0)}, "the server exits after it starts: failed (failed)", 1},
		{"stopped", []string{props("active", "running", 0), props("inactive", "dead", 0)}, "exits after it starts: inactive (dead)", 2},
		{"never settles", []string{props("activating", "start", 0)}, "unit did not settle within 10s: activating (start)", 21},
		{"no answer", []string{"garbage\n"}, "unit state after start unknown", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq := &showSeq{answers: tt.answers}
			clock := time.Unix(0, 0)
			c := &Ctl{Runner: seq, Settle: &s,
				Now:   func() time.Time { return clock },
				Sleep: func(_ context.Context, d time.Duration) { clock = clock.Add(d) },
			}
			err := c.settle(context.Background(), "a")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("settle = %v, want settled", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("settle = %v, want an error with %q", err, tt.wantErr)
			}
			if seq.shows != tt.shows {
				t.Errorf("settle asked the unit %d times (%q), want %d", seq.shows, seq.calls, tt.shows)
			}
		})
	}
}

func TestJournalTailIsBounded(t *testing.T) {
	long := strings.Repeat("x", 1000)
	var lines []string
	for i := range 40 {
		lines = append(lines, fmt.Sprintf("line %d \x1b[31m", i))
	}
	lines = append(lines, long)
	f := &runner.Fake{Responses: map[string]runner.FakeResponse{"/j a -n 15": {Stdout: strings.Join(lines, "\n") + "\n"}}}
	c := &Ctl{Runner: f, JournalHelper: "/j"}
	got := c.journalTail(context.Background(), "a")
	if n := strings.Count(got, "\n"); n != JournalLines {
		t.Errorf("journalTail has %d lines, want a heading and %d:\n%s", n+1, JournalLines, got)
	}
	if strings.Contains(got, "\x1b") || !strings.Contains(got, `line 39 \x1b[31m`) {
		t.Errorf("journalTail kept a control character or lost the last lines:\n%s", got)
	}
	if strings.Contains(got, long) || !strings.Contains(got, strings.Repeat("x", maxJournalLine)+"...") {
		t.Errorf("journalTail did not cut the long line to %d bytes", maxJournalLine)
	}
}
