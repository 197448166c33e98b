package steps

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// fakeStep changes what it is told to through the gate and records calls.
type fakeStep struct {
	name    string
	changes []string
	fail    error
	skip    string
	log     *[]string
	done    *int // counts real changes made
}

func (s *fakeStep) Name() string { return s.name }
func (s *fakeStep) Run(ctx context.Context, g *Gate) error {
	*s.log = append(*s.log, "run "+s.name)
	if s.skip != "" {
		g.Skip("%s", s.skip)
		return nil
	}
	for _, c := range s.changes {
		if err := g.Change(c, func() error { *s.done++; return nil }); err != nil {
			return err
		}
	}
	return s.fail
}

type cleanStep struct{ fakeStep }

func (s *cleanStep) Cleanup(ctx context.Context, g *Gate) error {
	*s.log = append(*s.log, "cleanup "+s.name)
	return g.Change("start web again", func() error { return nil })
}

type dryStep struct{ fakeStep }

func (s *dryStep) DryRun(ctx context.Context, g *Gate) error {
	*s.log = append(*s.log, "dryrun "+s.name)
	g.Changed("would migrate 2 instances")
	return nil
}

type gatedStep struct {
	fakeStep
	ok bool
}

func (s *gatedStep) ShouldRun(context.Context) (bool, string) { return s.ok, "not on this host" }

// collect records the events that report outcomes; "start" events are
// left out (TestEngineAnnouncesEachStep checks them).
func collect(events *[]Event) func(Event) {
	return func(e Event) {
		if e.Type != "start" {
			*events = append(*events, e)
		}
	}
}

// Every step that runs is announced before its outcome, so a reader of the
// stream (the SSH deployer) knows which step was running if it is cut off.
// Steps that do not run (should-run false, after a failure) are not.
func TestEngineAnnouncesEachStep(t *testing.T) {
	var log []string
	var done int
	var got []string
	plan := []Step{
		&fakeStep{name: "a", log: &log, done: &done},
		&fakeStep{name: "b", changes: []string{"install /x"}, log: &log, done: &done},
		&gatedStep{fakeStep{name: "c", log: &log, done: &done}, false},
	}
	emit := func(e Event) { got = append(got, string(e.Type)+" "+e.Step) }
	if _, err := (&Engine{Emit: emit}).Run(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	want := "start a,step a,start b,step b,step c,summary "
	if strings.Join(got, ",") != want {
		t.Fatalf("events %q, want %q", strings.Join(got, ","), want)
	}
	if FormatText(Event{Type: "start", Step: "a"}) != "" {
		t.Fatalf("FormatText(start) printed a line; text mode shows only outcomes")
	}
}

func TestEngineOrderStatusesAndSummary(t *testing.T) {
	var log []string
	var done int
	var events []Event
	plan := []Step{
		&fakeStep{name: "a", log: &log, done: &done},
		&fakeStep{name: "b", changes: []string{"install /x"}, log: &log, done: &done},
		&fakeStep{name: "c", skip: "with --root, would create user", log: &log, done: &done},
		&gatedStep{fakeStep{name: "d", log: &log, done: &done}, false},
	}
	sum, err := (&Engine{Emit: collect(&events)}).Run(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, ","); got != "run a,run b,run c" {
		t.Fatalf("ran %s", got)
	}
	if sum.OK != 1 || sum.Changed != 1 || sum.Skipped != 2 || sum.Failed != 0 || sum.Type != "summary" {
		t.Fatalf("summary %+v", sum)
	}
	want := []string{"a ok ", "b changed install /x", "c skipped with --root, would create user", "d skipped not on this host"}
	for i, w := range want {
		e := events[i]
		if got := e.Step + " " + string(e.Status) + " " + e.Reason; got != w {
			t.Errorf("event %d = %q, want %q", i, got, w)
		}
	}
	if last := events[len(events)-1]; last.Type != "summary" {
		t.Errorf("last event %+v, want the summary", last)
	}
}

func TestEngineDryRunMakesNoChange(t *testing.T) {
	var log []string
	var done int
	var events []Event
	plan := []Step{
		&fakeStep{name: "files", changes: []string{"install /a", "install /b"}, log: &log, done: &done},
		&dryStep{fakeStep{name: "migration", log: &log, done: &done}},
	}
	sum, err := (&Engine{DryRun: true, Emit: collect(&events)}).Run(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	if done != 0 {
		t.Fatalf("dry run made %d changes", done)
	}
	if sum.Changed != 2 {
		t.Fatalf("dry run summary %+v, want changed=2", sum)
	}
	if events[0].Reason != "would install /a; would install /b" {
		t.Errorf("dry-run reason %q", events[0].Reason)
	}
	if strings.Join(log, ",") != "run files,dryrun migration" {
		t.Errorf("calls %v: a DryRunner's DryRun replaces Run in a dry run", log)
	}
}

// After a failure later steps do not run, and every step that ran and has
// a Cleanup is cleaned up, newest first.
func TestEngineFailureStopsAndCleansUp(t *testing.T) {
	var log []string
	var done int
	var events []Event
	boom := errors.New("boom")
	plan := []Step{
		&cleanStep{fakeStep{name: "stopper1", log: &log, done: &done}},
		&fakeStep{name: "ok", log: &log, done: &done},
		&cleanStep{fakeStep{name: "stopper2", log: &log, done: &done}},
		&fakeStep{name: "bad", changes: []string{"install /c"}, fail: boom, log: &log, done: &done},
		&cleanStep{fakeStep{name: "later", log: &log, done: &done}},
	}
	sum, err := (&Engine{Emit: collect(&events)}).Run(context.Background(), plan)
	if !errors.Is(err, ErrFailed) || !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want ErrFailed wrapping boom", err)
	}
	if got := strings.Join(log, ","); got != "run stopper1,run ok,run stopper2,run bad,cleanup stopper2,cleanup stopper1" {
		t.Fatalf("calls %s", got)
	}
	if sum.Failed != 1 || sum.Skipped != 1 || sum.Changed != 0 || sum.OK != 3 {
		t.Fatalf("summary %+v", sum)
	}
	var failed Event
	for _, e := range events {
		if e.Status == StatusFailed {
			failed = e
		}
	}
	if failed.Step != "bad" || !strings.Contains(failed.Reason, "boom") {
		t.Fatalf("failed event %+v", failed)
	}
	var cleanups int
	for _, e := range events {
		if e.Type == "log" && strings.HasPrefix(e.Reason, "cleanup: start web again") {
			cleanups++
		}
	}
	if cleanups != 2 {
		t.Fatalf("%d cleanup log events, want 2", cleanups)
	}
}

func TestGateChangeErrorSaysWhat(t *testing.T) {
	g := &Gate{emit: func(Event) {}}
	err := g.Change("install /etc/x", func() error { return errors.New("disk full") })
	if err == nil || err.Error() != "install /etc/x: disk full" {
		t.Fatalf("Change error = %v", err)
	}
}

func TestTextFormat(t *testing.T) {
	tests := []struct {
		e    Event
		want string
	}{
		{Event{Type: "step", Step: "units", Status: StatusChanged, Reason: "install x"}, "changed  units: install x\n"},
		{Event{Type: "step", Step: "verify", Status: StatusOK}, "ok       verify\n"},
		{Event{Type: "summary", OK: 1, Changed: 2, Failed: 0, Skipped: 3}, "ok=1 changed=2 failed=0 skipped=3\n"},
	}
	for _, tt := range tests {
		if got := FormatText(tt.e); got != tt.want {
			t.Errorf("FormatText(%+v) = %q, want %q", tt.e, got, tt.want)
		}
	}
}

func TestFileDiffUnified(t *testing.T) {
	var events []Event
	g := &Gate{diff: true, step: "units", emit: collect(&events)}
	g.FileDiff("/etc/x", []byte("a\nb\n"), []byte("a\nc\n"))
	g.FileDiff("/etc/same", []byte("a\n"), []byte("a\n"))
	if len(events) != 1 {
		t.Fatalf("%d diff events, want 1 (no diff for equal bytes)", len(events))
	}
	d := events[0].Diff
	for _, want := range []string{"--- a/etc/x", "+++ b/etc/x", "-b", "+c"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if events[0].Type != "diff" || events[0].Path != "/etc/x" {
		t.Errorf("diff event %+v", events[0])
	}
}

// A failed change is named once in the reason, not once as a change and
// again in its error.
func TestFailedReasonSaysChangeOnce(t *testing.T) {
	var log []string
	var events []Event
	s := &failingChange{fakeStep{name: "packages", log: &log}}
	(&Engine{Emit: collect(&events)}).Run(context.Background(), []Step{s})
	want := "create group x; install a b (apt-get): exit status 100"
	if events[0].Reason != want {
		t.Fatalf("reason %q, want %q", events[0].Reason, want)
	}
}

type failingChange struct{ fakeStep }

func (s *failingChange) Run(ctx context.Context, g *Gate) error {
	g.Change("create group x", func() error { return nil })
	return g.Change("install a b (apt-get)", func() error { return errors.New("exit status 100") })
}
