package daytwo

import (
	"testing"

	"github.com/left4me/left4me-deploy/internal/protocol"
)

// Each host's report has one verdict: a failure (no report, a step that
// could not be checked, the web app not active) before a host unlike its
// record, before drift.
func TestJudge(t *testing.T) {
	cases := []struct {
		name string
		st   *protocol.HostStatus
		err  string
		want Result
	}{
		{"in sync", &protocol.HostStatus{Web: "active"}, "", InSync},
		{"drift", &protocol.HostStatus{Web: "active", Drift: []protocol.Drift{{Step: "units"}}}, "", Drift},
		{"unreachable", nil, "host unreachable", Failed},
		{"an error beside a report", &protocol.HostStatus{Web: "active"}, "cut off", Failed},
		{"no report", nil, "", Failed},
		{"a step could not be checked", &protocol.HostStatus{Web: "active", Failed: []protocol.Drift{{Step: "preflight"}}}, "", Failed},
		{"web app not active", &protocol.HostStatus{Web: "failed"}, "", Failed},
		{"web app not active and drift", &protocol.HostStatus{Web: "inactive", Drift: []protocol.Drift{{Step: "units"}}}, "", Failed},
		{"services not inspected", &protocol.HostStatus{Web: "unknown (services not inspected under --root)"}, "", InSync},
		{"unlike its record", &protocol.HostStatus{Web: "active", Recorded: &protocol.Recorded{StaleUnits: []string{"left4me-web.service"}}}, "", Diverged},
		{"unlike its record and drift", &protocol.HostStatus{Web: "active", Recorded: &protocol.Recorded{}, Drift: []protocol.Drift{{Step: "units"}}}, "", Diverged},
		{"like its record, drift", &protocol.HostStatus{Web: "active", Recorded: &protocol.Recorded{Matches: true}, Drift: []protocol.Drift{{Step: "units"}}}, "", Drift},
	}
	for _, c := range cases {
		if got := Judge(c.st, c.err); got != c.want {
			t.Errorf("%s: Judge = %s, want %s", c.name, got, c.want)
		}
	}
}

// The exit status sums up every host: failure outranks a host unlike its
// record, which outranks drift.
func TestExit(t *testing.T) {
	cases := []struct {
		name    string
		results []Result
		want    int
	}{
		{"no hosts", nil, ExitInSync},
		{"all in sync", []Result{InSync, InSync}, ExitInSync},
		{"one drifted", []Result{InSync, Drift}, ExitDrift},
		{"one unreachable", []Result{Drift, Failed}, ExitHostFailed},
		{"one diverged from its record", []Result{Drift, Diverged, InSync}, ExitDiverged},
		{"diverged and unreachable", []Result{Diverged, Failed}, ExitHostFailed},
		{"unreachable, then diverged", []Result{Failed, Diverged, Drift}, ExitHostFailed},
	}
	for _, c := range cases {
		if got := Exit(c.results); got != c.want {
			t.Errorf("%s: Exit = %d, want %d", c.name, got, c.want)
		}
	}
}
