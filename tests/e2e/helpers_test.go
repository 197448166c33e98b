//go:build linux

package e2e

import (
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/steps"
)

// The pure helpers of the harness, checked without booting anything.

func TestLineDiff(t *testing.T) {
	tests := []struct {
		name, a, b, want string
	}{
		{"equal", "x\ny\n", "x\ny\n", ""},
		{"both empty", "", "", ""},
		{"added", "x\n", "x\ny\n", "+ y\n"},
		{"removed", "x\ny\n", "y\n", "- x\n"},
		{"changed", "f sha256=1\n", "f sha256=2\n", "- f sha256=1\n+ f sha256=2\n"},
		{"duplicate counted", "x\nx\n", "x\n", "- x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lineDiff(tt.a, tt.b); got != tt.want {
				t.Errorf("lineDiff(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestDeployResultParse(t *testing.T) {
	tests := []struct {
		name        string
		output      string
		wantChanged int
		wantFailed  int
		wantSummary bool
		wantReason  string
	}{
		{
			name: "json events",
			output: `{"type":"log","host":"h","step":"connect","reason":"connected"}
{"type":"step","host":"h","step":"units","status":"changed","reason":"install x"}
{"type":"step","host":"h","step":"migration","status":"failed","reason":"boom"}
{"type":"summary","host":"h","ok":2,"changed":1,"failed":1,"skipped":0}
left4me-deploy: 1 of 1 hosts failed`,
			wantChanged: 1, wantFailed: 1, wantSummary: true,
			wantReason: "step migration failed: boom",
		},
		{
			name:        "text summary",
			output:      "preflight ok\nok=9 changed=0 failed=0 skipped=1\n",
			wantSummary: true, wantReason: "ok=9 changed=0 failed=0 skipped=1",
		},
		{
			name:       "no summary",
			output:     "Incorrect Usage: flag provided but not defined: -json\n",
			wantReason: "Incorrect Usage: flag provided but not defined: -json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := deployResult{Output: tt.output}
			d.parse()
			if (d.Summary != nil) != tt.wantSummary {
				t.Fatalf("parse(%q): summary %v, want present=%v", tt.output, d.Summary, tt.wantSummary)
			}
			if d.Summary != nil && (d.Summary.Changed != tt.wantChanged || d.Summary.Failed != tt.wantFailed) {
				t.Errorf("parse(%q): changed=%d failed=%d, want %d %d", tt.output, d.Summary.Changed, d.Summary.Failed, tt.wantChanged, tt.wantFailed)
			}
			if got := d.reason(); got != tt.wantReason {
				t.Errorf("reason() = %q, want %q", got, tt.wantReason)
			}
		})
	}
	d := deployResult{Output: `{"type":"step","step":"migration","status":"ok"}`}
	d.parse()
	if got := d.stepStatus("migration"); got != steps.StatusOK {
		t.Errorf("stepStatus(migration) = %q, want ok", got)
	}
	if got := d.stepStatus("units"); got != "" {
		t.Errorf("stepStatus(units) = %q, want empty", got)
	}
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"l4d2ctl", "start", "it's", "a b"})
	want := `'l4d2ctl' 'start' 'it'\''s' 'a b'`
	if got != want {
		t.Errorf("shellJoin = %s, want %s", got, want)
	}
}

func TestRootfsKeyNamesPackageList(t *testing.T) {
	k1 := rootfsKey()
	saved := rootfsPackages
	defer func() { rootfsPackages = saved }()
	rootfsPackages = append(append([]string{}, saved...), "extra")
	if k2 := rootfsKey(); k2 == k1 {
		t.Errorf("rootfsKey() unchanged (%s) after adding a package", k1)
	}
	if !strings.HasPrefix(aptMirror(), "http") {
		t.Errorf("aptMirror() = %q, want an http(s) URL", aptMirror())
	}
}

func TestGroupByHost(t *testing.T) {
	in := "h@a:2: one\nh@b:1: one\nh@a:2:   left4me-deploy: failed\nh@b:1: two\nh@a:2: two\nsummary:\n  h@b:1:  ok\n  h@a:2:  FAILED\n"
	want := "h@b:1: one\nh@b:1: two\nh@a:2: one\nh@a:2: two\nh@a:2:   left4me-deploy: failed\nsummary:\n  h@b:1:  ok\n  h@a:2:  FAILED\n"
	if got := groupByHost(in, ""); got != want {
		t.Fatalf("groupByHost:\n%s\nwant:\n%s", got, want)
	}
	// stderr names no summary: its hosts follow the order of stdout's.
	errIn := "h@a:2: ship: x\nh@b:1: ship: x\nh@a:2: ship: y\n"
	errWant := "h@b:1: ship: x\nh@a:2: ship: x\nh@a:2: ship: y\n"
	if got := groupByHost(errIn, in); got != errWant {
		t.Fatalf("groupByHost(stderr, stdout):\n%s\nwant:\n%s", got, errWant)
	}
}
