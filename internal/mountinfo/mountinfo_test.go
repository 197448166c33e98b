package mountinfo

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParse(t *testing.T) {
	in := "67 43 0:40 / /tmp/a\\040b/merged rw,nosuid - overlay left4me-s1 rw,lowerdir=21:23,upperdir=15\n" +
		"22 1 0:21 / /proc rw shared:5 master:1 - proc proc rw\n" +
		"\n" +
		"90 27 0:50 / /r/a/merged rw shared:1 - fuse.fuse-overlayfs fuse-overlayfs rw,user_id=999\n" +
		// An empty source (mount "" /x) leaves two spaces in a row.
		"91 27 0:51 /sub /r/e rw - tmpfs  rw,size=8k\n" +
		// The last line may lack its newline.
		"92 27 8:1 /a\\134b /r/back\\134slash\\011tab\\012nl rw - ext4 /dev/sda\\0401 rw"
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	want := []Entry{
		{ID: 67, ParentID: 43, Device: "0:40", Root: "/", MountPoint: "/tmp/a b/merged", MountOpts: "rw,nosuid", FSType: "overlay", Source: "left4me-s1", SuperOpts: "rw,lowerdir=21:23,upperdir=15"},
		{ID: 22, ParentID: 1, Device: "0:21", Root: "/", MountPoint: "/proc", MountOpts: "rw", Optional: "shared:5 master:1", FSType: "proc", Source: "proc", SuperOpts: "rw"},
		{ID: 90, ParentID: 27, Device: "0:50", Root: "/", MountPoint: "/r/a/merged", MountOpts: "rw", Optional: "shared:1", FSType: "fuse.fuse-overlayfs", Source: "fuse-overlayfs", SuperOpts: "rw,user_id=999"},
		{ID: 91, ParentID: 27, Device: "0:51", Root: "/sub", MountPoint: "/r/e", MountOpts: "rw", FSType: "tmpfs", Source: "", SuperOpts: "rw,size=8k"},
		{ID: 92, ParentID: 27, Device: "8:1", Root: `/a\b`, MountPoint: "/r/back\\slash\ttab\nnl", MountOpts: "rw", FSType: "ext4", Source: "/dev/sda 1", SuperOpts: "rw"},
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

// TestParseFieldInjection: a directory named with a vertical tab, form
// feed or carriage return and fake fields (the kernel escapes only space,
// tab, newline and backslash) stays one mount point.
func TestParseFieldInjection(t *testing.T) {
	for _, name := range []string{
		"a\v0 0 0:0 / /etc rw - overlay x rw",
		"a\f-\fext4",
		"a\r90 27 0:50 / /x rw - overlay o rw",
		"\v-\v",
		"a\x00b",
	} {
		mp := "/var/lib/left4me/runtime/" + name + "/merged"
		line := "93 27 0:53 / " + Escape(mp) + " rw - overlay left4me-a rw,lowerdir=x"
		got, err := Parse(strings.NewReader(line + "\n"))
		if err != nil {
			t.Errorf("Parse(%q) = %v", line, err)
			continue
		}
		if len(got) != 1 || got[0].MountPoint != mp || got[0].FSType != "overlay" || got[0].ID != 93 {
			t.Errorf("Parse(%q) = %+v, want one overlay at %q", line, got, mp)
		}
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	for _, line := range []string{
		"garbage",
		"1 2 3\n",
		"x 1 0:1 / /a rw - overlay overlay rw",
		"1 2 3 - overlay",
		"1 2 0:1 / /a rw - overlay",
		"1 2 0:1 / /a rw - overlay src",     // no super options field
		"1 2 0:1 / /a rw shared:1",          // no separator
		"1 2 0:1 /  /a rw - overlay src rw", // empty root
		"1 2 0:1 / /a rw  - overlay src rw", // empty optional field
		"1 2 0:1 / /a rw -  src rw",         // empty type
		"1 2 x:1 / /a rw - overlay src rw",  // bad device
		"1\v2 0:1 / /a rw - overlay src rw", // \v is not a separator
	} {
		if _, err := Parse(strings.NewReader(line)); err == nil {
			t.Errorf("Parse(%q) = nil error, want one", line)
		} else if !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", line, err)
		}
	}
}

// TestParseLongLine: no line length limit, also when the reader hands out
// one byte at a time.
func TestParseLongLine(t *testing.T) {
	super := "rw,lowerdir=" + strings.Repeat("/l/"+strings.Repeat("x", 250), 8000) // ~2 MB
	in := "1 0 0:1 / / rw - ext4 /dev/root rw\n" +
		"2 1 0:2 / /m rw - overlay left4me-a " + super + "\n" +
		"3 1 0:3 / /n rw - tmpfs tmpfs rw\n"
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if len(got) != 3 || got[1].SuperOpts != super || got[2].MountPoint != "/n" {
		t.Fatalf("Parse of a %d-byte line: %d entries", len(super), len(got))
	}
	got, err = Parse(iotest.HalfReader(strings.NewReader(in)))
	if err != nil || len(got) != 3 || got[1].SuperOpts != super {
		t.Fatalf("Parse(HalfReader) = %d entries, %v", len(got), err)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`a\040b`: "a b", `a\134b`: `a\b`, `a\012`: "a\n", `tail\04`: `tail\04`, "plain": "plain", `\400`: `\400`, `\0a0`: `\0a0`, `\\040`: `\ `} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	for _, s := range []string{"", "a b", "\t\n\\", `\040`, "a\vb", "\xff\x00"} {
		e := Escape(s)
		if strings.ContainsAny(e, " \t\n") {
			t.Errorf("Escape(%q) = %q: contains a separator", s, e)
		}
		if got := Unescape(e); got != s {
			t.Errorf("Unescape(Escape(%q)) = %q", s, got)
		}
	}
}

// FuzzParse: Parse never panics, and a line built from escaped fields
// parses back to exactly those fields.
func FuzzParse(f *testing.F) {
	f.Add("/", "/var/lib/left4me/runtime/a/merged", "overlay", "left4me-a", "rw,lowerdir=1:2", "shared:1")
	f.Add("/x y", "/a\v0 0 0:0 / /etc rw - ext4 e rw", "fuse.x y", "", "rw", "")
	f.Add("\\", "\n-\n", "t\tt", "s\\040", "", "master:2 shared:3")
	f.Fuzz(func(t *testing.T, root, mp, fstype, source, super, optional string) {
		// Never panics on arbitrary input.
		Parse(strings.NewReader(root + " " + mp + "\n" + super))
		ParseLine(mp)

		// Round trip: the kernel escapes the path fields, the type and the
		// source; optional fields are single tags; super options end the line.
		if root == "" || mp == "" || fstype == "" || strings.Contains(super, "\n") {
			return
		}
		var opt []string
		for _, o := range strings.Fields(optional) {
			if o != "-" {
				opt = append(opt, o)
			}
		}
		fields := []string{"7", "3", "0:9", Escape(root), Escape(mp), "rw,nosuid"}
		fields = append(fields, opt...)
		fields = append(fields, "-", Escape(fstype), Escape(source), super)
		line := strings.Join(fields, " ")
		got, err := Parse(strings.NewReader(line + "\n"))
		if err != nil {
			t.Fatalf("Parse(%q) = %v", line, err)
		}
		want := Entry{ID: 7, ParentID: 3, Device: "0:9", Root: root, MountPoint: mp, MountOpts: "rw,nosuid",
			Optional: strings.Join(opt, " "), FSType: fstype, Source: source, SuperOpts: super}
		if len(got) != 1 || got[0] != want {
			t.Fatalf("Parse(%q) = %+v, want %+v", line, got, want)
		}
	})
}

func ExampleParseLine() {
	e, _ := ParseLine(`93 27 0:53 / /srv/with\040space rw shared:1 - overlay left4me-a rw,lowerdir=/l`)
	fmt.Printf("%d %q %s\n", e.ID, e.MountPoint, e.FSType)
	// Output: 93 "/srv/with space" overlay
}
