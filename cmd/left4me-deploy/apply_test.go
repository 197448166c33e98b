//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/steps"
)

func requireInstallTools(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t)
	t.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin")
	testenv.RequireBinary(t, "visudo", "sudo")
	testenv.RequireBinary(t, "systemd-analyze", "systemd")
}

func binDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range []string{"left4me-overlay", "left4me-systemctl", "left4me-journalctl", "l4d2ctl"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n# "+n+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(append([]string{"left4me-deploy"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// parseEvents decodes the --json stream: every line one protocol.Event, the
// last one the summary.
func parseEvents(t *testing.T, out string) []protocol.Event {
	t.Helper()
	var events []protocol.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		checkSchema(t, sc.Text())
		var e struct {
			Schema int `json:"schema"`
			protocol.Event
		}
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %q is not a protocol.Event: %v", sc.Text(), err)
		}
		if e.Schema != steps.SchemaVersion {
			t.Fatalf("line %q: schema %d, want %d", sc.Text(), e.Schema, steps.SchemaVersion)
		}
		events = append(events, e.Event)
	}
	if len(events) == 0 || events[len(events)-1].Type != "summary" {
		t.Fatalf("stream does not end in a summary:\n%s", out)
	}
	return events
}

func TestApplyLocalJSON(t *testing.T) {
	requireInstallTools(t)
	root, bin := t.TempDir(), binDir(t)
	code, out, errOut := runCLI("apply", "--local", "--root", root, "--bin-dir", bin, "--json")
	if code != 0 {
		t.Fatalf("apply = %d\n%s\n%s", code, out, errOut)
	}
	events := parseEvents(t, out)
	var names []string
	for _, e := range events {
		if e.Type == "step" {
			names = append(names, e.Step)
		}
	}
	if got := strings.Join(names, ","); got != "preflight,packages,accounts,directories,binaries,entrypoints,sudoers,units,migration,restart,verify,release,state mount" {
		t.Fatalf("steps %s", got)
	}
	if sum := events[len(events)-1]; sum.Changed == 0 || sum.Failed != 0 {
		t.Fatalf("first summary %+v", sum)
	}
	code, out, _ = runCLI("apply", "--local", "--root", root, "--bin-dir", bin, "--json")
	if sum := parseEvents(t, out)[len(parseEvents(t, out))-1]; code != 0 || sum.Changed != 0 {
		t.Fatalf("second apply = %d, summary %+v", code, sum)
	}
}

func TestApplyLocalText(t *testing.T) {
	requireInstallTools(t)
	root, bin := t.TempDir(), binDir(t)
	runCLI("apply", "--local", "--root", root, "--bin-dir", bin)
	os.WriteFile(filepath.Join(root, hostpath.UnitDir, hostpath.WebUnit), []byte("[Service]\nExecStart=/bin/false\n"), 0o644)
	code, out, _ := runCLI("apply", "--local", "--root", root, "--bin-dir", bin, "--diff")
	if code != 0 {
		t.Fatalf("apply = %d\n%s", code, out)
	}
	for _, want := range []string{
		"ok       preflight: kernel ",
		"changed  units: install /usr/local/lib/systemd/system/left4me-web.service",
		"--- a/usr/local/lib/systemd/system/left4me-web.service",
		"-ExecStart=/bin/false",
		"ok=8 changed=1 failed=0 skipped=4\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestApplyFailures(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"no --local", []string{"apply"}, 2, "apply needs --local"},
		{"stray argument", []string{"apply", "--local", "host"}, 2, "no arguments"},
		{"relative web exec", []string{"apply", "--local", "--root", "/nonexistent-l4m", "--web-exec", "web"}, 1, "absolute path"},
		{"bad --live", []string{"apply", "--local", "--live", "kernel"}, 2, "unknown \"kernel\""},
		{"render without dir", []string{"render"}, 2, "output DIR"},
		{"render into /", []string{"render", "/"}, 2, "other than /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.inStderr) {
				t.Fatalf("left4me-deploy %s = %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), code, errOut, tt.code, tt.inStderr)
			}
		})
	}
}

func TestApplyMissingBinary(t *testing.T) {
	requireInstallTools(t)
	root, bin := t.TempDir(), binDir(t)
	os.Remove(filepath.Join(bin, "l4d2ctl"))
	code, out, errOut := runCLI("apply", "--local", "--root", root, "--bin-dir", bin, "--json")
	if code != 1 || !strings.Contains(errOut, "binary l4d2ctl is missing from "+bin) {
		t.Fatalf("apply without l4d2ctl = %d, stderr %q", code, errOut)
	}
	events := parseEvents(t, out)
	if sum := events[len(events)-1]; sum.Failed != 1 {
		t.Fatalf("summary %+v, want failed=1", sum)
	}
}

func TestRender(t *testing.T) {
	requireInstallTools(t)
	dir, bin := t.TempDir(), binDir(t)
	code, out, errOut := runCLI("render", "--bin-dir", bin, dir)
	if code != 0 {
		t.Fatalf("render = %d\n%s%s", code, out, errOut)
	}
	data, err := os.ReadFile(filepath.Join(dir, hostpath.SudoersFile))
	if err != nil || !bytes.Contains(data, []byte("left4me ALL=(root) NOPASSWD: /usr/local/libexec/left4me/left4me-overlay-mount, ")) {
		t.Fatalf("rendered sudoers %q, %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(dir, hostpath.UnitDir, hostpath.ServerUnit)); err != nil {
		t.Fatal(err)
	}
}
