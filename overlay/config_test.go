package overlay

import (
	"fmt"
	"strings"
	"testing"
)

func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name        string
		env         []string
		want        Config
		wantIgnored string
		wantErr     string
	}{
		{"empty is production", nil, Config{}, "", ""},
		{"all test settings", []string{EnvRoot, "/tmp/r", EnvPrint, "1", EnvMountNS, "/proc/7/ns/mnt", EnvMethod, "legacy"},
			Config{Root: "/tmp/r", PrintOnly: true, MountNS: "/proc/7/ns/mnt", Method: MethodLegacy}, "", ""},
		{"current namespace", []string{EnvMountNS, "current"}, Config{MountNS: CurrentMountNS}, "", ""},
		{"print 0", []string{EnvPrint, "0"}, Config{}, "", ""},
		{"relative root", []string{EnvRoot, "tmp/r"}, Config{}, "", "absolute"},
		{"bad print", []string{EnvPrint, "maybe"}, Config{}, "", "want 1 or 0"},
		{"bad ns", []string{EnvMountNS, "proc/1/ns/mnt"}, Config{}, "", "absolute path"},
		{"bad method", []string{EnvMethod, "fuse"}, Config{}, "", "unknown mount method"},
		{"sudo ignores all", []string{"SUDO_UID", "1000", EnvRoot, "/tmp/r", EnvPrint, "1", EnvMountNS, "current", EnvMethod, "legacy", EnvMaxMounts, "1000"},
			Config{}, "[LEFT4ME_ROOT LEFT4ME_OVERLAY_PRINT LEFT4ME_OVERLAY_MOUNTNS LEFT4ME_OVERLAY_METHOD LEFT4ME_OVERLAY_MAX_MOUNTS]", ""},
		{"max mounts", []string{EnvMaxMounts, "3"}, Config{MaxMounts: 3}, "", ""},
		{"bad max mounts", []string{EnvMaxMounts, "-1"}, Config{}, "", "want a number from 1 to 100000"},
		{"SUDO_USER alone", []string{"SUDO_USER", "left4me", EnvRoot, "/tmp/r"}, Config{}, "[LEFT4ME_ROOT]", ""},
		{"SUDO_COMMAND alone", []string{"SUDO_COMMAND", "/x", EnvMethod, "bogus"}, Config{}, "[LEFT4ME_OVERLAY_METHOD]", ""},
		{"empty SUDO_UID still sudo", []string{"SUDO_UID", "", EnvRoot, "/tmp/r"}, Config{}, "[LEFT4ME_ROOT]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ignored, err := ConfigFromEnv(envOf(tt.env...))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ConfigFromEnv(%v) = %v, want error containing %q", tt.env, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ConfigFromEnv(%v) = %+v, %v; want %+v", tt.env, got, err, tt.want)
			}
			if tt.wantIgnored != "" && fmt.Sprint(ignored) != tt.wantIgnored {
				t.Fatalf("ConfigFromEnv(%v) ignored %v, want %s", tt.env, ignored, tt.wantIgnored)
			}
		})
	}
}

func TestPlanString(t *testing.T) {
	p := Plan{Name: "s", Method: MethodFD, Source: Source("s"), Merged: "/m", Upper: "/u", Work: "/w", Layers: []string{"/a", "/b"}}
	want := "mount -t overlay -o nosuid,nodev,redirect_dir=nofollow,index=off,metacopy=off,xino=off,lowerdir=/a:/b,upperdir=/u,workdir=/w left4me-s /m\n# method fd, 2 layers\n"
	if got := p.String(); got != want {
		t.Fatalf("Plan.String() =\n%s\nwant\n%s", got, want)
	}
}
