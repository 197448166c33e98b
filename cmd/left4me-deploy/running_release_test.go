//go:build linux

package main

import (
	"strings"
	"testing"
)

// A run that fails before its release step still names the release the
// host runs: apply --json says it first, and that is what the
// workstation's summary shows (remote.Result.Release) instead of "-".
func TestFailedRunNamesRunningRelease(t *testing.T) {
	requireInstallTools(t)
	root, bin := t.TempDir(), binDir(t)
	if code, out, errOut := runCLI("apply", "--local", "--root", root, "--bin-dir", bin, "--json"); code != 0 {
		t.Fatalf("first apply = %d\n%s\n%s", code, out, errOut)
	}
	ev := parseEvents(t, mustRun(t, "apply", "--local", "--root", root, "--bin-dir", bin, "--json"))
	id := ""
	for _, e := range ev {
		if e.Type == "log" && e.Step == "release" {
			id, _, _ = strings.Cut(strings.TrimPrefix(e.Reason, "release "), ":")
		}
	}
	if id == "" {
		t.Fatal("no release line")
	}
	code, out, _ := runCLI("apply", "--local", "--root", root, "--bin-dir", t.TempDir(), "--json")
	if code != 1 {
		t.Fatalf("apply with no binaries = %d, want 1\n%s", code, out)
	}
	ev = parseEvents(t, out)
	first := ev[0]
	if first.Type != "log" || first.Step != "release" || !strings.HasPrefix(first.Reason, "release "+id+":") {
		t.Fatalf("the failed run does not start with the running release %s:\n%s", id, out)
	}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(args...)
	if code != 0 {
		t.Fatalf("%q = %d\n%s\n%s", args, code, out, errOut)
	}
	return out
}
