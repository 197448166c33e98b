package overlayclient

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/runner"
)

func TestNameFromMerged(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"/var/lib/left4me/runtime/test-server/merged", "test-server", ""},
		{"/tmp/r/var/lib/left4me/runtime/a_1/merged/", "a_1", ""},
		{"/var/lib/left4me/runtime/Alpha/merged", "", "invalid instance name"},
		{"/var/lib/left4me/runtime/x/upper", "", "not an instance's merged dir"},
		{"/var/lib/left4me/runtime/../merged", "", `contains ".."`},
		{"/var/lib/left4me/runtime/x/../merged", "", `contains ".."`},
		{"/var/lib/left4me/runtime/./merged", "", `contains "."`},
		{"/var/lib/left4me/other/x/merged", "", "not an instance's merged dir"},
		{"runtime//merged", "", "invalid instance name"},
		{"merged", "", "not an instance's merged dir"},
		{"", "", "not an instance's merged dir"},
	}
	for _, tt := range tests {
		got, err := NameFromMerged(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NameFromMerged(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NameFromMerged(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSudoMounterArgv(t *testing.T) {
	f := &runner.Fake{}
	m := SudoMounter{Runner: f}
	ctx := context.Background()
	if err := m.Mount(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := m.Unmount(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	m2 := SudoMounter{Runner: f, Sudo: "/opt/sudo", Helper: "/opt/helper"}
	if err := m2.Mount(ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/usr/bin/sudo -n /usr/local/libexec/left4me/left4me-overlay-mount s1",
		"/usr/bin/sudo -n /usr/local/libexec/left4me/left4me-overlay-umount s1",
		"/opt/sudo -n /opt/helper-mount s2",
	}
	if got := f.Commands(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commands = %q, want %q", got, want)
	}
	for _, bad := range []string{"../etc", "", "Alpha", "-rf", "s1 s2"} {
		if err := m.Mount(ctx, bad); err == nil {
			t.Fatalf("Mount(%q) ran", bad)
		}
		if err := m.Unmount(ctx, bad); err == nil {
			t.Fatalf("Unmount(%q) ran", bad)
		}
	}
	if len(f.Calls) != 3 {
		t.Fatalf("an invalid name reached the runner: %q", f.Commands())
	}
}

func TestSudoMounterPassesStderr(t *testing.T) {
	msg := "left4me-overlay: mount s1: refused /var/lib/left4me/runtime/s1/upper: it or a directory on its path is a symlink\n"
	f := &runner.Fake{Responses: map[string]runner.FakeResponse{
		"/usr/bin/sudo -n /usr/local/libexec/left4me/left4me-overlay-mount s1": {Stderr: msg, Code: 1},
	}}
	var live bytes.Buffer
	err := SudoMounter{Runner: f, Stderr: &live}.Mount(context.Background(), "s1")
	var he *HelperError
	if !errors.As(err, &he) {
		t.Fatalf("Mount error = %v, want a *HelperError", err)
	}
	if he.Code != 1 || he.Stderr != msg || !strings.Contains(err.Error(), "is a symlink") || !strings.Contains(err.Error(), "exit 1") {
		t.Fatalf("Mount error = %q (code %d), want the helper's stderr and exit code", err, he.Code)
	}
	if live.String() != msg {
		t.Fatalf("live stderr = %q, want %q", live.String(), msg)
	}
	if runner.ExitCode(err) != 1 {
		t.Fatalf("runner.ExitCode(err) = %d, want 1", runner.ExitCode(err))
	}
}
