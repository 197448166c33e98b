package mountinfo

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := "67 43 0:40 / /tmp/a\\040b/merged rw,nosuid - overlay left4me-s1 rw,lowerdir=21:23,upperdir=15\n" +
		"22 1 0:21 / /proc rw shared:5 master:1 - proc proc rw\n" +
		"\n" +
		"90 27 0:50 / /r/a/merged rw shared:1 - fuse.fuse-overlayfs fuse-overlayfs rw,user_id=999\n"
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	want := []Entry{
		{ID: 67, ParentID: 43, MountPoint: "/tmp/a b/merged", MountOpts: "rw,nosuid", FSType: "overlay", Source: "left4me-s1", SuperOpts: "rw,lowerdir=21:23,upperdir=15"},
		{ID: 22, ParentID: 1, MountPoint: "/proc", MountOpts: "rw", FSType: "proc", Source: "proc", SuperOpts: "rw"},
		{ID: 90, ParentID: 27, MountPoint: "/r/a/merged", MountOpts: "rw", FSType: "fuse.fuse-overlayfs", Source: "fuse-overlayfs", SuperOpts: "rw,user_id=999"},
	}
	if len(got) != len(want) {
		t.Fatalf("Parse returned %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Parse line %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if v, ok := SuperOpt(got[0].SuperOpts, "upperdir"); !ok || v != "15" {
		t.Fatalf("SuperOpt(upperdir) = %q, %v; want 15, true", v, ok)
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	for _, line := range []string{"garbage", "1 2 3\n", "x 1 0:1 / /a rw - overlay overlay rw", "1 2 3 - overlay", "1 2 0:1 / /a rw - overlay"} {
		if _, err := Parse(strings.NewReader(line)); err == nil {
			t.Errorf("Parse(%q) = nil error, want one", line)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`a\040b`: "a b", `a\134b`: `a\b`, `a\012`: "a\n", `tail\04`: `tail\04`, "plain": "plain"} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
