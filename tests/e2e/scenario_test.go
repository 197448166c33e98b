//go:build linux

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// scenario runs a fixed, ordered list of checks against one host as
// subtests, and records each as PASS, FAIL or NOT RUN (with the reason) for
// the summary table. A check that needs an earlier one which did not pass
// is not run, and says so; the test as a whole has then already failed.
type scenario struct {
	t       *testing.T
	name    string
	planned []string
	status  map[string]string // check -> PASS, FAIL, NOT RUN
	abort   string            // why the remaining checks were not reached
}

func newScenario(t *testing.T, name string, planned ...string) *scenario {
	s := &scenario{t: t, name: name, planned: planned, status: map[string]string{}, abort: "scenario stopped early"}
	t.Cleanup(s.finish)
	return s
}

// C is the *testing.T of one check. Its failure message becomes the note in
// the summary table; Note adds a note to a passing check.
type C struct {
	*testing.T
	note string
}

// Fatalf records the message for the summary, then fails the check.
func (c *C) Fatalf(format string, args ...any) {
	c.Helper()
	c.note = fmt.Sprintf(format, args...)
	c.T.Fatalf(format, args...)
}

// Errorf records the message for the summary, then marks the check failed.
func (c *C) Errorf(format string, args ...any) {
	c.Helper()
	if c.note == "" {
		c.note = fmt.Sprintf(format, args...)
	}
	c.T.Errorf(format, args...)
}

// Note sets the note shown for this check in the summary table.
func (c *C) Note(format string, args ...any) { c.note = fmt.Sprintf(format, args...) }

// check runs fn as subtest name unless a check in needs did not pass.
func (s *scenario) check(name string, needs []string, fn func(c *C)) bool {
	s.t.Helper()
	for _, n := range needs {
		if s.status[n] != "PASS" {
			why := fmt.Sprintf("needs %q, which did not pass", n)
			s.status[name] = "NOT RUN"
			record(checkResult{s.name, name, "NOT RUN", why})
			s.t.Run(name, func(t *testing.T) { t.Skip(why) })
			return false
		}
	}
	c := &C{}
	start := time.Now()
	ok := s.t.Run(name, func(t *testing.T) {
		c.T = t
		fn(c)
	})
	status := "PASS"
	switch {
	case !ok:
		status = "FAIL"
	case c.T.Skipped():
		status = "NOT RUN"
	}
	note := c.note
	if status == "PASS" {
		note = strings.TrimSpace(note + fmt.Sprintf(" (%s)", time.Since(start).Round(100*time.Millisecond)))
	}
	s.status[name] = status
	record(checkResult{s.name, name, status, note})
	return status == "PASS"
}

// pass records a step done outside check (such as booting the host).
func (s *scenario) pass(name, note string) {
	s.status[name] = "PASS"
	record(checkResult{s.name, name, "PASS", note})
}

// finish records every planned check that never ran.
func (s *scenario) finish() {
	for _, n := range s.planned {
		if _, done := s.status[n]; !done {
			why := s.abort
			if s.t.Failed() && why == "scenario stopped early" {
				why = "not reached: the scenario failed before it"
			}
			record(checkResult{s.name, n, "NOT RUN", why})
		}
	}
}
