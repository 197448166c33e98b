//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/left4me/left4me-deploy/steps"
)

// deployResult is one run of left4me-deploy from this machine.
type deployResult struct {
	Args     []string
	Output   string // stdout and stderr, interleaved
	Code     int
	Summary  *steps.Event // the host's closing counts, if reported
	Elapsed  time.Duration
	StepsRun []steps.Event
}

func (d deployResult) String() string {
	return fmt.Sprintf("left4me-deploy %s: exit %d after %s\n%s", strings.Join(d.Args, " "), d.Code, d.Elapsed.Round(100*time.Millisecond), tail(d.Output, 60))
}

// deploy runs left4me-deploy against h as an operator would, over SSH as
// root: the SSH options in ssh's own spelling (-p, -i, -o) before user@host,
// and --json so the test reads the host's counts exactly. The host binaries
// come from this checkout (left4me-deploy builds them, cached).
func deploy(t *testing.T, h *Host) deployResult {
	t.Helper()
	args := []string{"--json"}
	args = append(args, h.SSHOptions()...)
	args = append(args, "root@127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(t, "left4me-deploy"), args...)
	cmd.Dir = moduleRoot() // as an operator runs it, from the checkout
	// A failed run's retry list goes to a temporary file, not the checkout.
	cmd.Env = append(os.Environ(), "LEFT4ME_DEPLOY_RETRY_FILE="+filepath.Join(t.TempDir(), "left4me-deploy.retry"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := deployResult{Args: args, Output: out.String(), Elapsed: time.Since(start)}
	if err != nil {
		d.Code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			d.Code = ee.ExitCode()
		}
	}
	d.parse()
	return d
}

var summaryText = regexp.MustCompile(`ok=(\d+) changed=(\d+) failed=(\d+) skipped=(\d+)`)

// parse reads the JSON events; it falls back to the text summary line if
// the output carries none.
func (d *deployResult) parse() {
	sc := bufio.NewScanner(strings.NewReader(d.Output))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var ev steps.Event
		if json.Unmarshal([]byte(line), &ev) != nil {
			continue
		}
		switch ev.Type {
		case "summary":
			e := ev
			d.Summary = &e
		case "step":
			d.StepsRun = append(d.StepsRun, ev)
		}
	}
	if d.Summary != nil {
		return
	}
	if m := summaryText.FindAllStringSubmatch(d.Output, -1); len(m) > 0 {
		last := m[len(m)-1]
		n := func(i int) int { v, _ := strconv.Atoi(last[i]); return v }
		d.Summary = &steps.Event{Type: "summary", OK: n(1), Changed: n(2), Failed: n(3), Skipped: n(4)}
	}
}

// reason says in one line why a run failed: the failed steps with their
// reasons from the host's events, else the last line of plain output.
func (d deployResult) reason() string {
	var failed []string
	for _, e := range d.StepsRun {
		if e.Status == steps.StatusFailed {
			failed = append(failed, fmt.Sprintf("step %s failed: %s", e.Step, e.Reason))
		}
	}
	if len(failed) > 0 {
		return strings.Join(failed, "; ")
	}
	var last string
	for _, l := range strings.Split(d.Output, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "{") {
			last = l
		}
	}
	return last
}

// stepStatus is the status the host reported for step name, or "" if it
// reported none.
func (d deployResult) stepStatus(name string) steps.Status {
	for _, e := range d.StepsRun {
		if e.Step == name {
			return e.Status
		}
	}
	return ""
}

// stepReason is the reason the host reported for step name.
func (d deployResult) stepReason(name string) string {
	for _, e := range d.StepsRun {
		if e.Step == name {
			return e.Reason
		}
	}
	return ""
}

// changedSteps names the steps that reported a change.
func (d deployResult) changedSteps() []string {
	var names []string
	for _, e := range d.StepsRun {
		if e.Status == steps.StatusChanged {
			names = append(names, e.Step)
		}
	}
	return names
}

// requireDeployOK fails c unless the deploy exited 0 with failed=0.
func requireDeployOK(c *C, d deployResult) {
	c.Helper()
	if d.Code != 0 {
		c.Fatalf("deploy exit %d: %s\n%s", d.Code, d.reason(), d)
	}
	if d.Summary == nil {
		c.Fatalf("deploy printed no summary (ok=N changed=N failed=N skipped=N): %s", d)
	}
	if d.Summary.Failed != 0 {
		c.Fatalf("deploy reported failed=%d: %s", d.Summary.Failed, d)
	}
}
