//go:build linux

package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/deploytest"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/service"
	"github.com/left4me/left4me-deploy/steps"
)

// observingServices is a service.Recorder that also answers what systemd holds
// (service.Observer): the units it has loaded stale and when the web
// app's main process started.
type observingServices struct {
	*service.Recorder
	stale   []string
	started time.Time
}

func (o *observingServices) NeedDaemonReload(ctx context.Context, units ...string) ([]string, error) {
	var out []string
	for _, u := range units {
		for _, s := range o.stale {
			if s == u {
				out = append(out, u)
			}
		}
	}
	return out, nil
}

func (o *observingServices) MainStarted(ctx context.Context, unit string) (time.Time, error) {
	if unit != hostpath.WebUnit || !o.Active[unit] {
		return time.Time{}, nil
	}
	return o.started, nil
}

func (o *observingServices) Restart(ctx context.Context, units ...string) error {
	if err := o.Recorder.Restart(ctx, units...); err != nil {
		return err
	}
	o.started = time.Now()
	return nil
}

func (o *observingServices) DaemonReload(ctx context.Context) error {
	o.stale = nil
	return o.Recorder.DaemonReload(ctx)
}

func liveOptions(t *testing.T, root, bin string, svc *observingServices) Options {
	o := baseOptions(t, root, bin)
	o.Live = &steps.Live{Services: true}
	o.Services = svc
	o.WebExec = hostpath.L4d2ctl
	probe := steps.RealProbe()
	probe.SystemdBooted = func() bool { return true }
	o.Probe = probe
	os.MkdirAll(filepath.Join(root, hostpath.StateDir), 0o750)
	os.WriteFile(filepath.Join(root, hostpath.Sentinel), nil, 0o644)
	return o
}

// A run killed after a unit landed and before its daemon-reload, or after
// a binary landed and before the restart, leaves a state the next run
// sees on the host itself: systemd's NeedDaemonReload, a web app older
// than its files. The next run finishes the job; the one after changes
// nothing.
func TestFollowUpsFromHostState(t *testing.T) {
	deploytest.RequireTools(t)
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	svc := &observingServices{Recorder: &service.Recorder{Active: map[string]bool{hostpath.WebUnit: true}}}
	o := liveOptions(t, root, bin, svc)
	if r := apply(t, o); r.Err != nil {
		t.Fatalf("first run: %v\n%s", r.Err, r)
	}
	if r := apply(t, o); r.Err != nil || r.Sum.Changed != 0 {
		t.Fatalf("second run: %v, changed %d\n%s", r.Err, r.Sum.Changed, r)
	}
	svc.Take()

	// The unit file is what we render, but systemd still holds the old one.
	svc.stale = []string{hostpath.WebUnit}
	r := apply(t, o)
	if r.Err != nil || strings.Join(r.ChangedSteps(), ",") != "units" || !strings.Contains(r.ByStep()["units"].Reason, "reload systemd (systemd holds left4me-web.service loaded from older files)") {
		t.Fatalf("run with a stale unit: %v\n%s", r.Err, r)
	}
	if !strings.Contains(svc.Take(), "daemon-reload") {
		t.Fatal("no daemon-reload for a unit systemd holds stale")
	}

	// The web app started before l4d2ctl was last replaced.
	svc.started = time.Now().Add(-time.Hour)
	r = apply(t, o)
	if r.Err != nil || strings.Join(r.ChangedSteps(), ",") != "restart" || !strings.Contains(r.ByStep()["restart"].Reason, "after left4me-web.service started") {
		t.Fatalf("run with a web app older than its files: %v\n%s", r.Err, r)
	}
	if r := apply(t, o); r.Err != nil || r.Sum.Changed != 0 {
		t.Fatalf("run after the follow-ups: %v, changed %d\n%s", r.Err, r.Sum.Changed, r)
	}
}

// The restart is recorded before the change it follows from, and a
// failure to record it fails the step before the change is made.
func TestPendingRestartIsWriteAhead(t *testing.T) {
	deploytest.RequireTools(t)
	root := t.TempDir()
	svc := &observingServices{Recorder: &service.Recorder{Active: map[string]bool{hostpath.WebUnit: true}}, started: time.Now().Add(time.Hour)}
	o := liveOptions(t, root, deploytest.BinDirWith(t, "A"), svc)
	if r := apply(t, o); r.Err != nil {
		t.Fatalf("first run: %v\n%s", r.Err, r)
	}
	state := filepath.Join(root, hostpath.DeployStateDir)
	if err := setImmutable(state, true); err != nil {
		t.Skipf("cannot make %s immutable here (FS_IOC_SETFLAGS): %v", state, err)
	}
	t.Cleanup(func() { setImmutable(state, false) })
	before, _ := os.ReadFile(filepath.Join(root, hostpath.L4d2ctl))
	o.BinDir = deploytest.BinDirWith(t, "B")
	r := apply(t, o)
	if r.Err == nil || r.ByStep()["binaries"].Status != steps.StatusFailed || !strings.Contains(r.Err.Error(), "record the pending restart") {
		t.Fatalf("run whose restart cannot be recorded = %v, want the binaries step to fail\n%s", r.Err, r)
	}
	if after, _ := os.ReadFile(filepath.Join(root, hostpath.L4d2ctl)); string(after) != string(before) {
		t.Fatal("l4d2ctl was replaced although its restart could not be recorded")
	}
	setImmutable(state, false)
	svc.Take()
	if r := apply(t, o); r.Err != nil || !strings.Contains(svc.Take(), "restart "+hostpath.WebUnit) {
		t.Fatalf("run after the state dir is writable again: %v\n%s", r.Err, r)
	}
	if _, err := os.Stat(filepath.Join(root, hostpath.PendingRestart)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pending restart left after the restart: %v", err)
	}
}

func setImmutable(path string, on bool) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		return err
	}
	if on {
		flags |= fsImmutableFL
	} else {
		flags &^= fsImmutableFL
	}
	v := int(flags)
	return unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, v)
}

// The sweep removes exactly the temporary names a killed run leaves, in
// root-only directories, and nothing else.
func TestSweepRemovesLeftovers(t *testing.T) {
	deploytest.RequireTools(t)
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	o := baseOptions(t, root, bin)
	if r := apply(t, o); r.Err != nil {
		t.Fatalf("deploy: %v\n%s", r.Err, r)
	}
	old := time.Now().Add(-time.Hour)
	put := func(p string, dir bool, uid int, mtime time.Time) string {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o700)
		if dir {
			os.MkdirAll(filepath.Join(full, "bin"), 0o700)
		} else if err := os.WriteFile(full, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Lchown(full, uid, uid)
		if !mtime.IsZero() {
			os.Chtimes(full, mtime, mtime)
		}
		return p
	}
	gone := []string{
		put(hostpath.LibexecDir+"/.left4me-overlay5577006791947779410", false, 0, time.Time{}),
		put("/usr/local/bin/.l4d2ctl8674665223082153551", false, 0, time.Time{}),
		put(hostpath.UnitDir+"/."+hostpath.WebUnit+"6129484611666145821", false, 0, time.Time{}),
		put("/etc/sudoers.d/.left4me4037200794235010051", false, 0, time.Time{}),
		put(hostpath.DeployStateDir+"/.pending-restart3916589616287113937", false, 0, time.Time{}),
		put(hostpath.DeployStateDir+"/.web-exec605394647632969758", false, 0, time.Time{}),
		put(steps.ReleasesDir+"/.tmp-1443635317", true, 0, time.Time{}),
		put(hostpath.DeployStateDir+"/cache/.in.Ab12Cd", false, 0, old),
	}
	kept := []string{
		put(hostpath.LibexecDir+"/.left4me-overlay-notours", false, 0, time.Time{}),
		put(hostpath.LibexecDir+"/.something1234", false, 0, time.Time{}),
		put("/usr/local/bin/.l4d2ctl1234", false, 1234, time.Time{}), // not root's
		put(hostpath.DeployStateDir+"/cache/.in.Fresh1", false, 0, time.Time{}),
	}
	filled := o
	if err := filled.Fill(); err != nil {
		t.Fatal(err)
	}
	found, err := steps.Leftovers(filled.config(), time.Now())
	if err != nil || len(found) != len(gone) {
		t.Fatalf("Leftovers = %v, %v; want %v", found, err, gone)
	}
	r := apply(t, o)
	if r.Err != nil || r.Sum.Changed != 0 {
		t.Fatalf("run after a killed one: %v, changed %d\n%s", r.Err, r.Sum.Changed, r)
	}
	for _, p := range gone {
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after the sweep (%v)", p, err)
		}
		if !strings.Contains(r.String(), "removed "+p+", left by an interrupted run") {
			t.Errorf("the sweep did not say it removed %s\n%s", p, r)
		}
	}
	for _, p := range kept {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("the sweep removed %s, which is not a leftover of ours: %v", p, err)
		}
	}
}

// fsImmutableFL is FS_IMMUTABLE_FL of linux/fs.h.
const fsImmutableFL = 0x00000010
