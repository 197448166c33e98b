//go:build linux

package migrate

import (
	"reflect"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/mountinfo"
)

const sampleMountinfo = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
90 27 0:50 / /var/lib/left4me/runtime/a/merged rw,nosuid,nodev,relatime shared:1 - fuse.fuse-overlayfs fuse-overlayfs rw,user_id=999,group_id=995
91 27 0:51 / /var/lib/left4me/runtime/b/merged rw,relatime - overlay overlay rw,lowerdir=/x,upperdir=/y,workdir=/z
92 91 0:52 / /var/lib/left4me/runtime/b/merged/inner rw,relatime - overlay overlay rw
93 27 0:53 / /var/lib/left4me/runtime/with\040space/merged rw - overlay overlay rw
94 27 0:54 / /var/lib/left4me/runtime-other/merged rw - overlay overlay rw
95 27 0:55 / /var/lib/left4me/runtime/c/merged rw - tmpfs tmpfs rw
`

func TestStaleMounts(t *testing.T) {
	ms, err := mountinfo.Parse(strings.NewReader(sampleMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 8 {
		t.Fatalf("parsed %d mounts, want 8", len(ms))
	}
	got := staleMounts(ms, "/var/lib/left4me/runtime")
	var points []string
	for _, m := range got {
		points = append(points, m.MountPoint)
	}
	wantPoints := []string{
		"/var/lib/left4me/runtime/b/merged/inner", // deepest first
		"/var/lib/left4me/runtime/with space/merged",
		"/var/lib/left4me/runtime/b/merged",
		"/var/lib/left4me/runtime/a/merged",
	}
	if !reflect.DeepEqual(points, wantPoints) {
		t.Errorf("staleMounts = %q, want %q (not runtime-other, not tmpfs)", points, wantPoints)
	}
}

func TestParseOverride(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    override
		wantErr bool
	}{
		{"0:0:0755", override{0, 0, 0o755, ""}, false},
		{"1000:1001:0640:file", override{1000, 1001, 0o640, "file"}, false},
		{"1:2:4755:char-1-3", override{1, 2, 0o4755, "char-1-3"}, false},
		{"1:2:100644", override{1, 2, 0o644, ""}, false}, // type bits are not mode
		{"1:2", override{}, true},
		{"a:2:0644", override{}, true},
		{"1:2:0999", override{}, true},
		{"1:2:3:4:5", override{}, true},
		{"-1:2:0644", override{}, true},
	} {
		got, err := parseOverride(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseOverride(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
