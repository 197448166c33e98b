package protocol_test

import (
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/protocol"
)

// HostArgs go through Encode and DecodeHostArgs unchanged, and say the
// same as the flags of apply --local a rollback passes to an older
// installer.
func TestHostArgs(t *testing.T) {
	a := protocol.HostArgs{Root: "/t r", DryRun: true, Diff: true, WebExec: "/usr/bin/env FOO=1 /opt/web --port 8080", MaxMounts: 8, By: "alice@laptop"}
	got := strings.Join(a.ApplyFlags(), "|")
	want := "--root|/t r|--dry-run|--diff|--web-exec|/usr/bin/env FOO=1 /opt/web --port 8080|--max-mounts|8|--by|alice@laptop"
	if got != want {
		t.Fatalf("HostArgs.ApplyFlags() = %q, want %q", got, want)
	}
	if got := (protocol.HostArgs{}).ApplyFlags(); len(got) != 0 {
		t.Fatalf("HostArgs{}.ApplyFlags() = %q, want none", got)
	}
	for _, a := range []protocol.HostArgs{
		a, {}, {Verb: protocol.VerbApply},
		{Verb: protocol.VerbStatus, Root: "/srv", By: "ci@runner"},
		{Verb: protocol.VerbRollback, DryRun: true, Diff: true},
	} {
		s, err := a.Encode()
		if err != nil {
			t.Fatalf("Encode(%+v): %v", a, err)
		}
		back, err := protocol.DecodeHostArgs(s)
		if err != nil || back != a {
			t.Fatalf("DecodeHostArgs(%q) = %+v, %v; want %+v", s, back, err, a)
		}
	}
	for _, bad := range []struct{ name, s string }{
		{"not JSON", "--root /x"},
		{"empty", ""},
		{"unknown field", `{"verb":"apply","live":"all"}`},
		{"unknown verb", `{"verb":"migrate"}`},
		{"two objects", `{"verb":"apply"}{"verb":"status"}`},
		{"trailing text", `{"verb":"apply"} x`},
		{"relative root", `{"root":"etc"}`},
		{"NUL in the root", `{"root":"/x\u0000y"}`},
		{"line break in the web unit", `{"web_exec":"/bin/web\n[Service]"}`},
		{"negative cap", `{"max_mounts":-1}`},
		{"cap too high", `{"max_mounts":100001}`},
		{"control character in by", `{"by":"a\u001b[2J"}`},
		{"by too long", `{"by":"` + strings.Repeat("a", protocol.MaxBy+1) + `"}`},
		{"status with a dry run", `{"verb":"status","dry_run":true}`},
		{"rollback with a web unit", `{"verb":"rollback","web_exec":"/bin/web"}`},
		{"too long", `{"root":"/` + strings.Repeat("a", protocol.MaxHostArgs) + `"}`},
	} {
		if a, err := protocol.DecodeHostArgs(bad.s); err == nil {
			t.Errorf("%s: DecodeHostArgs(%.60q) = %+v, want an error", bad.name, bad.s, a)
		}
	}
	if _, err := (protocol.HostArgs{Root: "relative"}).Encode(); err == nil {
		t.Error("Encode of a relative root: no error")
	}
}

// FuzzHostArgs: whatever the argument, DecodeHostArgs never panics, and
// what it accepts is valid and encodes back to what decodes the same.
func FuzzHostArgs(f *testing.F) {
	for _, s := range []string{
		`{"verb":"apply","root":"/t r","dry_run":true,"diff":true,"web_exec":"/bin/web","max_mounts":8,"by":"a@b"}`,
		`{}`, `{"verb":"status"}`, `{"verb":"rollback","dry_run":true}`, `{"verb":"x"}`, `{"root":"\u0000"}`, `[]`, `null`, `{"by":"\ud800"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := protocol.DecodeHostArgs(s)
		if err != nil {
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("DecodeHostArgs(%q) accepted %+v, which is not valid: %v", s, a, err)
		}
		enc, err := a.Encode()
		if err != nil {
			t.Fatalf("Encode(%+v) of an accepted argument: %v", a, err)
		}
		if back, err := protocol.DecodeHostArgs(enc); err != nil || back != a {
			t.Fatalf("DecodeHostArgs(Encode(%+v)) = %+v, %v", a, back, err)
		}
	})
}
