//go:build linux

package main

import (
	"os"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// wrapNames are instance directories whose names, printed inside a line,
// would wrap into a forged step row and a clean summary row on an
// 80-column terminal if their blanks were printed as they are.
var wrapNames = []string{
	strings.Repeat(" ", 40) + "ok       verify" + strings.Repeat(" ", 70),
	strings.Repeat(" ", 23) + "ok=11 changed=0 failed=0 skipped=0" + strings.Repeat(" ", 50),
}

// forgedRows fails for every 80-column row of out that starts (blanks
// aside) like a step row or a summary of ours and is not one of the lines
// the command itself printed there (own says which lines are ours).
func forgedRows(t *testing.T, what, out string, own func(line string) bool) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if own(line) {
			continue
		}
		for i := 0; i < len(line); i += 80 {
			row := strings.TrimLeft(line[i:min(i+80, len(line))], " ")
			if strings.HasPrefix(row, "ok       ") || strings.HasPrefix(row, "ok=11 changed=") {
				t.Errorf("%s: line %q wraps into the forged row %q", what, line, row)
			}
		}
	}
}

// TestWrappedNamesForgeNoRow: instance names made of runs of blanks
// around a step row and a summary reach the text of the real migrate and
// apply --local only quoted with their blank runs escaped, so no line of
// theirs wraps into a row of ours.
func TestWrappedNamesForgeNoRow(t *testing.T) {
	testenv.RequireRoot(t)
	root := migrateTree(t)
	for _, n := range wrapNames {
		if err := os.MkdirAll(root.Join(hostpath.Instance(n)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	none := func(string) bool { return false }
	code, out, errOut := runCLI("migrate", "--root", string(root), "--dry-run", "--verbose")
	if code != 0 {
		t.Fatalf("migrate --dry-run = %d: %s", code, errOut)
	}
	forgedRows(t, "migrate stdout", out, none)
	forgedRows(t, "migrate stderr", errOut, none)
	if !strings.Contains(errOut, `skipping "/var/lib/left4me/runtime/\x20\x20`) {
		t.Errorf("migrate progress does not show the skipped name quoted with its blanks escaped:\n%s", errOut)
	}

	requireInstallTools(t)
	code, out, errOut = runCLI("apply", "--local", "--root", string(root), "--bin-dir", binDir(t))
	if code != 0 {
		t.Fatalf("apply = %d\n%s\n%s", code, out, errOut)
	}
	ours := func(l string) bool {
		return strings.HasPrefix(l, "ok       ") && !strings.Contains(l, "runtime/") || strings.HasPrefix(l, "ok=")
	}
	forgedRows(t, "apply stdout", out, ours)
	forgedRows(t, "apply stderr", errOut, none)
}

// TestStatusDetailsForgeNoRow: the status table and its detail lines print
// what a host reported (instance names, reasons, its web app's state) with
// the host's runs of blanks escaped and names quoted.
func TestStatusDetailsForgeNoRow(t *testing.T) {
	st := &protocol.HostStatus{Web: "active  ok       verify",
		Drift:     []protocol.Drift{{Step: "units", Reason: wrapNames[0]}},
		Migration: protocol.Migration{Report: wrapNames[1]},
		Instances: []protocol.Instance{{Name: wrapNames[0], Unit: "left4me-server@x.service", State: wrapNames[1]}}}
	var b strings.Builder
	printStatus(&b, []statusRow{{Host: "root@h", Status: st, Result: "drift"}}, false)
	out := b.String()
	forgedRows(t, "status", out, func(string) bool { return false })
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "root@h: ") && strings.Contains(l, "  ") {
			t.Errorf("status detail %q holds a run of blanks from the host", l)
		}
	}
	if !strings.Contains(out, `instance "\x20\x20`) {
		t.Errorf("status does not show the instance name quoted:\n%s", out)
	}
}
