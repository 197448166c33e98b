//go:build linux

package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRefusals covers the refusals decided before anything is opened: each
// exits non-zero with exactly one line on stderr and nothing on stdout.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"no args", nil, nil, exitUsage, "want exactly 2 arguments, got 0"},
		{"verb only", []string{"mount"}, nil, exitUsage, "got 1"},
		{"extra arg", []string{"mount", "s1", "extra"}, nil, exitUsage, "got 3"},
		{"option injection", []string{"mount", "s1", "-o", "x"}, nil, exitUsage, "got 4"},
		{"unknown verb", []string{"remount", "s1"}, nil, exitUsage, `unknown verb "remount"`},
		{"verb case", []string{"MOUNT", "s1"}, nil, exitUsage, "unknown verb"},
		{"traversal name", []string{"mount", "../escape"}, nil, exitFail, `invalid instance name "../escape"`},
		{"upper-case name", []string{"umount", "Alpha"}, nil, exitFail, `invalid instance name "Alpha"`},
		{"empty name", []string{"mount", ""}, nil, exitFail, "invalid instance name: empty"},
		{"slash name", []string{"mount", "a/b"}, nil, exitFail, "invalid instance name"},
		{"newline name", []string{"mount", "a\nb"}, nil, exitFail, `"a\nb"`},
		{"bad test setting", []string{"mount", "s1"}, map[string]string{"LEFT4ME_OVERLAY_METHOD": "fuse"}, exitUsage, "unknown mount method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			getenv := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			code := run(tt.args, getenv, &out, &errb)
			if code != tt.code {
				t.Fatalf("run(%q) = %d, want %d (stderr %q)", tt.args, code, tt.code, errb.String())
			}
			if out.Len() != 0 {
				t.Fatalf("run(%q) wrote to stdout: %q", tt.args, out.String())
			}
			msg := errb.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") || !strings.HasPrefix(msg, "left4me-overlay: ") {
				t.Fatalf("run(%q) stderr = %q, want exactly one line starting left4me-overlay:", tt.args, msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("run(%q) stderr = %q, want it to contain %q", tt.args, msg, tt.want)
			}
		})
	}
}
