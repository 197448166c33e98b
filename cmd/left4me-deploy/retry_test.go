//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/remote"
	"github.com/left4me/left4me-deploy/internal/sshdtest"
)

// After a rollout stopped by --max-fail, the failed and the not-run hosts
// are in the retry list, groups kept, and the next run takes it with
// --hosts (and --limit) unedited; a run where every host succeeds removes
// it. Hosts "fail" here because the ssh on PATH refuses every connection.
func TestRetryList(t *testing.T) {
	calls := fakeSSH(t)
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("[eu]\nroot@eu1.example\nroot@eu2.example big\n[us]\nroot@us1.example\nroot@us2.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	retry := filepath.Join(dir, "retry")
	bundle := sshdtest.FakePlanBundle(t)
	code, out, errOut := runCLI("--bundle", bundle, "--hosts", hosts, "--limit", "eu,root@us1.*", "--serial", "1", "--max-fail", "1", "--retry-file", retry, "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	status := map[string]string{}
	var end struct {
		RetryFile string `json:"retry_file"`
		NotRun    int    `json:"not_run"`
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		checkSchema(t, l)
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		switch ev["type"] {
		case "summary":
			status[ev["host"].(string)] = ev["status"].(string)
			if ev["status"] == "not_run" {
				if _, counted := ev["failed"]; counted {
					t.Errorf("a host that did not run has counters: %s", l)
				}
			}
		case "rollout":
			json.Unmarshal([]byte(l), &end)
		}
	}
	want := map[string]string{"root@eu1.example": "failed", "root@eu2.example": "not_run", "root@us1.example": "not_run"}
	if len(status) != len(want) {
		t.Fatalf("summaries %v, want %v\n%s", status, want, out)
	}
	for h, s := range want {
		if status[h] != s {
			t.Errorf("%s: %q, want %q", h, status[h], s)
		}
	}
	if end.RetryFile != retry || end.NotRun != 2 {
		t.Errorf("rollout line: %+v, want retry_file %s and not_run 2\n%s", end, retry, out)
	}
	f, err := os.Open(retry)
	if err != nil {
		t.Fatal(err)
	}
	list, err := remote.ReadHosts(f, retry)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := specsOf(list); got != "root@eu1.example root@eu2.example root@us1.example" {
		t.Fatalf("retry list %q", got)
	}
	if !strings.Contains(strings.Join(list[1].Groups, ","), "big") {
		t.Errorf("groups lost: %+v", list[1])
	}

	// The retry list is a hosts file: --limit on its groups works.
	n := len(connections(calls()))
	code, out, errOut = runCLI("--bundle", bundle, "--hosts", retry, "--limit", "big", "--retry-file", retry)
	if code != 1 || len(connections(calls())) == n || !strings.Contains(errOut, "retry them with --hosts "+retry) {
		t.Fatalf("retry run: exit %d\n%s\n%s", code, out, errOut)
	}
	b, _ := os.ReadFile(retry)
	if !strings.Contains(string(b), "root@eu2.example eu,big") || strings.Contains(string(b), "eu1") {
		t.Fatalf("second retry list:\n%s", b)
	}
	// Text summary says NOT RUN, never FAILED, for a host that did not start.
	code, out, _ = runCLI("--bundle", bundle, "--hosts", hosts, "--serial", "1", "--max-fail", "1", "--retry-file", retry)
	if code != 1 || !strings.Contains(out, "NOT RUN") {
		t.Fatalf("text summary: exit %d\n%s", code, out)
	}

	// A file at the path that is not a retry list is never overwritten.
	other := filepath.Join(dir, "notes")
	os.WriteFile(other, []byte("my notes\n"), 0o644)
	_, _, errOut = runCLI("--bundle", bundle, "--retry-file", other, "root@eu1.example")
	if b, _ := os.ReadFile(other); string(b) != "my notes\n" || !strings.Contains(errOut, "not a retry list") {
		t.Fatalf("notes file: %q, stderr %q", b, errOut)
	}
}

func specsOf(ts []remote.Target) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Spec)
	}
	return strings.Join(out, " ")
}
