//go:build linux

package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
	"github.com/left4me/left4me-deploy/internal/mountinfo"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// TestServicesPartialFailure: after the conversion every server that was
// running gets its own mount and start; one that fails (bad unit name,
// mount refused, start refused) keeps none of the others down, and the
// error and the kept report name each failed unit with its reason.
func TestServicesPartialFailure(t *testing.T) {
	testenv.RequireRoot(t)
	const (
		a   = "left4me-server@a.service"
		b   = "left4me-server@b.service"
		c   = "left4me-server@c.service"
		d   = "left4me-server@d.service"
		bad = "left4me-server@Bad.service"
	)
	for _, tc := range []struct {
		name        string
		active      []string
		failRestart map[string]error
		failMount   map[string]error
		failStart   map[string]error
		failUnmount map[string]error
		wantCalls   []string
		wantFailed  []UnitFailure // Error a substring; in order
	}{
		{
			name:      "mount fails, start fails, bad name",
			active:    []string{a, bad, b, c},
			failMount: map[string]error{"a": errors.New("upper dir is still in fuse-overlayfs format")},
			failStart: map[string]error{b: errors.New("Assertion failed on job for " + b)},
			wantCalls: []string{
				"restart left4me-web.service",
				"mount a",
				"mount b", "start " + b, "unmount b",
				"mount c", "start " + c,
			},
			wantFailed: []UnitFailure{
				{a, "mount its overlay: upper dir is still in fuse-overlayfs format"},
				{bad, "not a valid instance unit: invalid instance name"},
				{b, "start: Assertion failed on job for " + b + " (its overlay was taken down again)"},
			},
		},
		{
			name:        "unmount after a failed start fails too",
			active:      []string{b, c},
			failStart:   map[string]error{b: errors.New("exit status 1")},
			failUnmount: map[string]error{"b": errors.New("device busy")},
			wantCalls: []string{
				"restart left4me-web.service",
				"mount b", "start " + b, "unmount b",
				"mount c", "start " + c,
			},
			wantFailed: []UnitFailure{
				{b, "start: exit status 1; taking its overlay down again failed too, so it may still be mounted at /var/lib/left4me/runtime/b/merged: device busy"},
			},
		},
		{
			name:        "web restart fails, servers still start",
			active:      []string{c, d},
			failRestart: map[string]error{hostpath.WebUnit: errors.New("exit status 1")},
			wantCalls: []string{
				"restart left4me-web.service",
				"mount c", "start " + c, "mount d", "start " + d,
			},
			wantFailed: []UnitFailure{{hostpath.WebUnit, "restart: exit status 1"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "a")
			write(t, filepath.Join(tr.upper("a"), ".wh.x"), "")
			f := &fakeServices{active: tc.active, web: true, failStart: tc.failStart, failRestart: tc.failRestart}
			fm := &fakeMounter{log: f, failMount: tc.failMount, failUnmount: tc.failUnmount}
			m := newMigrator(Options{Root: tr.root, Services: f, Mounter: fm})
			m.host = true
			m.hostOwner = func() (ownerID, error) { return ownerID{1234, 1235}, nil }
			rep, err := m.run(context.Background())
			if err == nil {
				t.Fatal("run succeeded, want an error naming the units that did not come back")
			}
			// Everything after the stop: the restart, then mounts and starts.
			calls := f.calls
			for i, call := range calls {
				if strings.HasPrefix(call, "stop ") {
					calls = calls[i+1:]
					break
				}
			}
			if !reflect.DeepEqual(calls, tc.wantCalls) {
				t.Errorf("calls after the stop = %q\nwant %q", calls, tc.wantCalls)
			}
			if len(rep.Services.Failed) != len(tc.wantFailed) {
				t.Fatalf("report lists %d failures %q, want %d", len(rep.Services.Failed), rep.Services.Failed, len(tc.wantFailed))
			}
			for i, want := range tc.wantFailed {
				got := rep.Services.Failed[i]
				if got.Unit != want.Unit || !strings.Contains(got.Error, want.Error) {
					t.Errorf("failure %d = %+v, want unit %s with an error containing %q", i, got, want.Unit, want.Error)
				}
				if w := want.Unit + ": " + want.Error; !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, u := range []string{c, d} {
				if strings.Contains(err.Error(), u) {
					t.Errorf("error names %s, which started: %v", u, err)
				}
			}
			if !strings.Contains(err.Error(), "the conversion is done") {
				t.Errorf("error %q does not say the conversion is done", err)
			}
			if _, err := os.Lstat(tr.root.Join(hostpath.Sentinel)); err != nil {
				t.Errorf("sentinel not written: %v", err)
			}
			kept, err := os.ReadFile(tr.root.Join(ReportFile))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(kept), `"failed": [`) || !strings.Contains(string(kept), `"unit": "`+tc.wantFailed[0].Unit+`"`) {
				t.Errorf("kept report does not list the failures:\n%s", kept)
			}
		})
	}
}

// TestServerInstance: a unit name becomes an instance name only if it is a
// game-server unit and its instance passes the one name rule.
func TestServerInstance(t *testing.T) {
	for _, tc := range []struct {
		unit, want string
		invalid    bool // fails the name rule (wraps instance.ErrInvalidName)
	}{
		{unit: "left4me-server@alpha.service", want: "alpha"},
		{unit: "left4me-server@test-server_2.service", want: "test-server_2"},
		{unit: "left4me-server@Alpha.service", invalid: true},
		{unit: "left4me-server@.service", invalid: true},
		{unit: `left4me-server@..\x2fescape.service`, invalid: true},
		{unit: "left4me-web.service"},
		{unit: "left4me-server@alpha.socket"},
		{unit: "left4me-server@alpha"},
	} {
		got, err := serverInstance(tc.unit)
		switch {
		case tc.want != "":
			if err != nil || got != tc.want {
				t.Errorf("serverInstance(%q) = %q, %v, want %q", tc.unit, got, err, tc.want)
			}
		case err == nil:
			t.Errorf("serverInstance(%q) = %q, want an error", tc.unit, got)
		case tc.invalid != errors.Is(err, instance.ErrInvalidName):
			t.Errorf("serverInstance(%q) = %v, want ErrInvalidName %v", tc.unit, err, tc.invalid)
		}
	}
}

// TestServicesMountForReal: with no Mounter given, the migration mounts a
// running server's overlay itself, as left4me-overlay does in PID 1's mount
// namespace (here the test's own: it runs as PID 1 of a private one), and
// the overlay is in place when the unit starts.
func TestServicesMountForReal(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireNamespace(t)
	tr := newTree(t, "a")
	write(t, filepath.Join(tr.lower(), "game.cfg"), "lower\n")
	write(t, filepath.Join(tr.lower(), "gone.cfg"), "lower\n")
	write(t, filepath.Join(tr.upper("a"), ".wh.gone.cfg"), "")
	write(t, tr.root.Join(hostpath.InstanceEnv("a")), "LOWERDIRS="+hostpath.InstallationDir+"\n")
	merged := tr.merged("a")
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })

	unit := hostpath.ServerUnitName("a")
	mountedAtStart := map[string]string{}
	starts := 0
	f := &fakeServices{active: []string{unit}, onStart: func(u string) {
		starts++
		mountedAtStart[u] = fsType(t, merged)
	}}
	m := newMigrator(Options{Root: tr.root, Services: f})
	m.host = true
	// The tree is root's, so is the state dir: the helper wants every
	// instance dir owned like it.
	m.hostOwner = func() (ownerID, error) { return ownerID{0, 0}, nil }
	if _, err := m.run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	if starts != 1 {
		t.Errorf("%s started %d times, want once", unit, starts)
	}
	if got := mountedAtStart[unit]; got != "overlay" {
		t.Fatalf("%s started with %q at %s, want the overlay mounted first", unit, got, merged)
	}
	if _, err := os.Stat(filepath.Join(merged, "game.cfg")); err != nil {
		t.Errorf("lower file not visible in the mounted overlay: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(merged, "gone.cfg")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("converted whiteout: gone.cfg = %v, want it hidden", err)
	}
}

// fsType returns the file-system type of the mount whose root is p, "" if
// p is not a mount point.
func fsType(t *testing.T, p string) string {
	t.Helper()
	mounts, err := mountinfo.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	fs := ""
	for _, mi := range mounts {
		if mi.MountPoint == p {
			fs = mi.FSType // the last one stacked on p is what shows
		}
	}
	return fs
}

// isMounted reports whether anything is mounted at p.
func isMounted(t *testing.T, p string) bool { return fsType(t, p) != "" }

// isFuseMounted reports whether fuse-overlayfs is what shows at p.
func isFuseMounted(t *testing.T, p string) bool { return fsType(t, p) == "fuse.fuse-overlayfs" }

// TestBeforeStart: the hook runs once, after the stale mounts are down and
// the sentinel is written, before any unit starts again; its error is
// reported and the units still start. A dry run does not call it.
func TestBeforeStart(t *testing.T) {
	testenv.RequireNamespace(t)
	const a = "left4me-server@a.service"
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			tr := newTree(t, "a")
			write(t, filepath.Join(tr.lower(), "f"), "f")
			mountOverlay(t, tr.lower(), tr.upper("a"), tr.work("a"), tr.merged("a"))
			f := &fakeServices{active: []string{a}, web: true}
			m := newMigrator(Options{Root: tr.root, Services: f, Mounter: &fakeMounter{log: f},
				BeforeStart: func(context.Context) error {
					below := overlaysUnder(t, tr.root.Join(hostpath.StateDir))
					_, serr := os.Lstat(tr.root.Join(hostpath.Sentinel))
					f.rec(fmt.Sprintf("before-start mounts=%d sentinel=%v", len(below), serr == nil))
					if fail {
						return errors.New("state mount failed")
					}
					return nil
				}})
			m.host = true
			m.hostOwner = func() (ownerID, error) { return ownerID{0, 0}, nil }
			_, err := m.run(context.Background())
			if fail != (err != nil) || fail && !strings.Contains(err.Error(), "state mount failed") {
				t.Errorf("run = %v, want the hook's error %v", err, fail)
			}
			var calls []string
			for _, c := range f.calls {
				if !strings.HasPrefix(c, "list-active") && !strings.HasPrefix(c, "is-active") {
					calls = append(calls, c)
				}
			}
			want := []string{"stop " + a + " " + hostpath.WebUnit, "before-start mounts=0 sentinel=true",
				"restart " + hostpath.WebUnit, "mount a", "start " + a}
			if !reflect.DeepEqual(calls, want) {
				t.Errorf("calls = %q\nwant %q", calls, want)
			}
		})
	}
	tr := newTree(t, "a")
	called := false
	if _, err := Run(context.Background(), Options{Root: tr.root, DryRun: true, BeforeStart: func(context.Context) error { called = true; return nil }}); err != nil || called {
		t.Errorf("dry run: %v, hook called %v; want no call", err, called)
	}
}
