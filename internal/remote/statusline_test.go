package remote

import (
	"bytes"
	"testing"
)

// TestStatusLineWithFailures: a host's status line whose dry run failed
// (its "failed" is a list of steps) is kept as the host's report, not
// dropped as a line that is no event.
func TestStatusLineWithFailures(t *testing.T) {
	var out bytes.Buffer
	res := &Result{}
	h := &hostRun{d: &Deployer{Out: &Printer{W: &out, JSON: true}}, t: Target{Spec: "h"}, res: res, applied: true}
	line := `{"type":"status","release":null,"drift":[],"failed":[{"step":"state mount","reason":"not mounted"}],"migration":{"sentinel":true},"web":"active","instances":[]}`
	h.stdoutLine(line)
	h.stdoutLine(`{"type":"summary","ok":10,"changed":0,"failed":1,"skipped":0}`)
	if r := res.Report; r == nil || len(r.Failed) != 1 || r.Failed[0].Step != "state mount" || r.Web != "active" {
		t.Fatalf("report = %+v, want the status line's (printed instead: %q)", res.Report, out.String())
	}
	if res.Summary == nil || res.Summary.Failed != 1 {
		t.Fatalf("summary = %+v", res.Summary)
	}
}
