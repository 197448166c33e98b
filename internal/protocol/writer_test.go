package protocol

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/steps"
)

// The JSON field names are the contract between the host's plan and the
// workstation: what Writer prints, ParseEvent accepts as it was.
func TestWriterRoundTrip(t *testing.T) {
	var b strings.Builder
	w := NewWriter(&b)
	w.Emit(steps.Event{Type: steps.EventStep, Step: "units", Status: steps.StatusChanged, Reason: "install x"})
	w.SetRelease("0123456789abcdef")
	w.Emit(steps.Event{Type: steps.EventSummary, OK: 1, Changed: 2, Failed: 3, Skipped: 4})
	w.Status(HostStatus{Web: "active", Drift: []Drift{{Step: "units", Reason: "would install x"}}})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), b.String())
	}
	var m map[string]any
	json.Unmarshal([]byte(lines[1]), &m)
	for k, v := range map[string]any{"type": "summary", "ok": 1.0, "changed": 2.0, "failed": 3.0, "skipped": 4.0, "release": "0123456789abcdef"} {
		if m[k] != v {
			t.Errorf("summary %s = %v, want %v (%s)", k, m[k], v, lines[1])
		}
	}
	json.Unmarshal([]byte(lines[0]), &m)
	if m["type"] != "step" || m["step"] != "units" || m["status"] != "changed" || m["reason"] != "install x" {
		t.Errorf("step event %s", lines[0])
	}
	for i, l := range lines {
		ev, st, err := ParseEvent(l)
		if err != nil {
			t.Fatalf("ParseEvent(%s) = %v", l, err)
		}
		if i == 1 && (ev.Release != "0123456789abcdef" || ev.Changed != 2) {
			t.Errorf("ParseEvent(%s) = %+v", l, ev)
		}
		if i == 2 && (st == nil || st.Web != "active" || len(st.Drift) != 1) {
			t.Errorf("ParseEvent(%s) status = %+v", l, st)
		}
	}
}
