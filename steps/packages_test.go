//go:build linux

package steps

import (
	"context"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/runner"
)

// No package list ever names fuse-overlayfs: instances use kernel overlayfs.
func TestNoFuseOverlayfsPackage(t *testing.T) {
	for _, list := range [][]string{aptPackages, dnfPackages} {
		for _, p := range list {
			if strings.Contains(p, "fuse") {
				t.Errorf("package list holds %s", p)
			}
		}
	}
}

func TestPackageManagerChoice(t *testing.T) {
	tests := []struct {
		osRelease string
		want      string
	}{
		{"ID=debian\nVERSION_ID=\"12\"\n", "apt-get"},
		{"ID=ubuntu\nID_LIKE=debian\n", "apt-get"},
		{"ID=fedora\n", "dnf"},
		{"ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n", "dnf"},
		{"ID=arch\n", ""},
	}
	for _, tt := range tests {
		p := &Probe{OSRelease: func() ([]byte, error) { return []byte(tt.osRelease), nil }}
		pm, err := packageManager(p)
		if pm.Name != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("packageManager(%q) = %q, %v; want %q", tt.osRelease, pm.Name, err, tt.want)
		}
	}
}

// A package step on Debian asks dpkg first and installs only what is
// missing, with apt-get; nothing when all is there.
func TestPackagesQueryFirst(t *testing.T) {
	debian := func() ([]byte, error) { return []byte("ID=debian\n"), nil }
	query := "dpkg-query -W -f=${Package} ${db:Status-Abbrev}\n " + strings.Join(aptPackages, " ")
	tests := []struct {
		name    string
		stdout  string
		install bool
	}{
		{"all installed", "sudo ii \nlib32gcc-s1:amd64 ii \nlib32stdc++6:amd64 ii \n", false},
		{"one missing", "sudo ii \nlib32gcc-s1:amd64 ii \n", true},
		{"one removed, config left", "sudo rc \nlib32gcc-s1:amd64 ii \nlib32stdc++6:amd64 ii \n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &runner.Fake{Responses: map[string]runner.FakeResponse{query: {Stdout: tt.stdout}}}
			d := &Host{o: Config{Runner: f, Probe: &Probe{OSRelease: debian}, Live: &Live{Packages: true}}}
			var events []Event
			sum, err := (&Engine{Emit: func(e Event) { events = append(events, e) }}).Run(context.Background(), []Step{packages{d}})
			if err != nil {
				t.Fatal(err)
			}
			cmds := strings.Join(f.Commands(), "\n")
			if got := strings.Contains(cmds, "apt-get install"); got != tt.install {
				t.Fatalf("apt-get install run = %v, want %v; commands:\n%s", got, tt.install, cmds)
			}
			if tt.install != (sum.Changed == 1) {
				t.Fatalf("summary %+v", sum)
			}
			// apt-get can take minutes: a progress line says so before it
			// runs (the step's own line comes when it is done).
			progress := len(events) > 1 && events[1].Type == EventLog && strings.HasPrefix(events[1].Reason, "running apt-get to install ")
			if tt.install != progress {
				t.Fatalf("install %v, progress line %v; events %+v", tt.install, progress, events)
			}
			if strings.Contains(cmds, "fuse") {
				t.Fatalf("commands name fuse-overlayfs:\n%s", cmds)
			}
		})
	}
}
