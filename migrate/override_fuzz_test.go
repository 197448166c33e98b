//go:build linux

package migrate

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// FuzzParseOverride: override_stat is written by the instance owner (a user
// xattr) and read by the migration as root. Any value either is refused or
// parses to an owner in the uid_t range and permission bits only (no file
// type bits), and an accepted value survives being written out again.
func FuzzParseOverride(f *testing.F) {
	for _, s := range []string{"0:0:0755", "1000:1001:0640:file", "1:2:4755:char-1-3", "1:2:100644", "1:2", "a:2:0644",
		"1:2:0999", "1:2:3:4:5", "-1:2:0644", "4294967295:0:0644", "4294967296:0:0644", "1:2:0644\x00\x00", "1:2:0644:",
		"+1:2:0644", " 1:2:0644", "1:2:77777777777"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		o, err := parseOverride(v)
		if err != nil {
			if o != (override{}) {
				t.Fatalf("parseOverride(%q) = %+v with error %v, want the zero value", v, o, err)
			}
			return
		}
		if o.uid < 0 || o.uid > math.MaxUint32 || o.gid < 0 || o.gid > math.MaxUint32 {
			t.Fatalf("parseOverride(%q) = %+v: owner outside uid_t", v, o)
		}
		if o.mode&^0o7777 != 0 {
			t.Fatalf("parseOverride(%q) = %+v: mode has more than permission bits", v, o)
		}
		if n := strings.Count(strings.TrimRight(v, "\x00"), ":"); n != 2 && n != 3 {
			t.Fatalf("parseOverride(%q) accepted %d fields", v, n+1)
		}
		again := fmt.Sprintf("%d:%d:%o", o.uid, o.gid, o.mode)
		if o.typ != "" || strings.Count(strings.TrimRight(v, "\x00"), ":") == 3 {
			again += ":" + o.typ
		}
		if o2, err := parseOverride(again); err != nil || o2 != o {
			t.Fatalf("parseOverride(%q) = %+v, but its rendering %q parses to %+v, %v", v, o, again, o2, err)
		}
	})
}
