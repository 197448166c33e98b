package remote

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// A failed host's summary names the release it runs (Result.Release), in
// text and in JSON; a not-run
// host is not_run with no counters.
func TestSummaryNamesReleaseOfFailedHost(t *testing.T) {
	tg, _ := ParseHost("root@a.example")
	tg2, _ := ParseHost("root@b.example")
	r := Result{Target: tg, Err: errors.New("the plan failed on root@a.example while running the plan"), Arch: "amd64", Cached: 5}
	r.Release = "0123abcd"
	results := []Result{r, {Target: tg2, NotRun: true, Err: errors.New("not run: the canary failed")}}
	var text bytes.Buffer
	(&Printer{W: &text}).RolloutSummary(results)
	if !strings.Contains(text.String(), "release 0123abcd") || !strings.Contains(text.String(), "NOT RUN") {
		t.Errorf("text summary:\n%s", text.String())
	}
	var js bytes.Buffer
	(&Printer{W: &js, JSON: true}).RolloutSummary(results)
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"status":"failed"`) || !strings.Contains(lines[0], `"release":"0123abcd"`) ||
		!strings.Contains(lines[0], `"binaries":{"sent":0,"cached":5}`) || strings.Contains(lines[0], `"failed":1`) {
		t.Errorf("JSON summary of the failed host:\n%s", js.String())
	}
	if !strings.Contains(lines[1], `"status":"not_run"`) || strings.Contains(lines[1], `"failed"`) {
		t.Errorf("JSON summary of the not-run host:\n%s", lines[1])
	}
}

// Progress goes to ErrW in text (stdout keeps the plan and the summary)
// and is an event of its own in JSON.
func TestProgress(t *testing.T) {
	var out, errw bytes.Buffer
	p := &Printer{W: &out, ErrW: &errw}
	p.Progress("root@a.example", "ship", "sending l4d2ctl (3.0 MB)\nforged line")
	if out.Len() != 0 || errw.String() != "root@a.example: ship: sending l4d2ctl (3.0 MB)\\nforged line\n" {
		t.Errorf("text progress: stdout %q, stderr %q", out.String(), errw.String())
	}
	out.Reset()
	(&Printer{W: &out, JSON: true}).Progress("root@a.example", "build", "building")
	if out.String() != `{"schema":1,"type":"progress","host":"root@a.example","step":"build","reason":"building"}`+"\n" {
		t.Errorf("JSON progress: %q", out.String())
	}
}
