//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/release"
)

// The fault tier (make faults; a bounded sample in tests/run): a deploy of
// release B over release A on a booted host is cut off at one point (the
// host-side plan SIGKILLed the moment a file is renamed into place or a
// step line arrives, the connection dropped, a target directory full, the
// host's PID 1 killed). After each: status exits 0 exactly when the host
// truly runs B (checked here independently of status), the next deploy
// converges, the one after says changed=0, and status then exits 0.

// FaultsEnv set to "all" runs every fault point; otherwise only the
// bounded sample marked ci (a few minutes with the host's boot and the
// two bundles' builds).
const FaultsEnv = "LEFT4ME_FAULTS"

// webExecB is release B's web command line: the same stand-in web app, a
// different ExecStart= (the flag is repeated; the last one wins).
const webExecB = webExecStart + " -socket " + webSocket

// faultPoint is one place where the deploy of B is cut off.
type faultPoint struct {
	name string
	ci   bool
	// rename: kill when the file named so is renamed into place (a host
	// path: its directory is watched with inotify from outside).
	rename string
	// created: kill when a file whose name starts so is created (a host
	// path: the temporary file of an atomic write, before its rename).
	created string
	// step: kill when the host reports this step finished.
	step string
	// drop cuts the connection (kills the local ssh master) instead of
	// killing the host-side plan; halt kills the host's PID 1.
	drop, halt bool
	// full is a directory made full (a small tmpfs, filled) for the run.
	full string
}

var faultPoints = []faultPoint{
	{name: "rename-l4d2ctl", rename: "/usr/local/bin/l4d2ctl"},
	{name: "rename-overlay-helper", rename: "/usr/local/libexec/left4me/left4me-overlay"},
	{name: "rename-sudoers", rename: "/etc/sudoers.d/left4me"},
	{name: "rename-web-exec", rename: "/var/lib/left4me-deploy/web-exec"},
	{name: "rename-web-unit", ci: true, rename: "/usr/local/lib/systemd/system/left4me-web.service"},
	{name: "rename-pending-restart", rename: "/var/lib/left4me-deploy/pending-restart"},
	{name: "rename-history", rename: "/var/lib/left4me-deploy/releases.jsonl"},
	{name: "temp-l4d2ctl", created: "/usr/local/bin/.l4d2ctl"},
	{name: "temp-web-unit", created: "/usr/local/lib/systemd/system/.left4me-web.service"},
	{name: "step-binaries", ci: true, step: "binaries"},
	{name: "step-sudoers", step: "sudoers"},
	{name: "step-units", step: "units"},
	{name: "step-migration", step: "migration"},
	{name: "step-restart", step: "restart"},
	{name: "step-verify", step: "verify"},
	{name: "drop-units", step: "units", drop: true},
	{name: "drop-restart", ci: true, step: "restart", drop: true},
	{name: "full-libexec", full: "/usr/local/libexec/left4me"},
	{name: "full-units", full: "/usr/local/lib/systemd/system"},
	{name: "full-sudoers", full: "/etc/sudoers.d"},
	{name: "full-state", ci: true, full: "/var/lib/left4me-deploy"},
	{name: "halt-web-unit", halt: true, rename: "/usr/local/lib/systemd/system/left4me-web.service"},
	{name: "halt-l4d2ctl", halt: true, rename: "/usr/local/bin/l4d2ctl"},
}

func TestFaults(t *testing.T) {
	requireHostTools(t)
	all := os.Getenv(FaultsEnv) == "all"
	h := bootHost(t, "faults", nil)
	// Release A is this checkout, built as left4me-deploy builds it
	// without --bundle (cached across the tier); B is a changed copy.
	bundleA := ""
	srcB := changedSource(t)
	// B changes the sudoers rules too, so that every file is renamed.
	sp := filepath.Join(srcB, "sudoers/left4me.sudoers.tmpl")
	sb, err := os.ReadFile(sp)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, sp, strings.Replace(string(sb), "#\n", "# (release B)\n#\n", 1), 0o644)
	bundleB := buildBundle(t, srcB, t.TempDir())
	sumsB := bundleSums(t, bundleB)
	ran := 0
	for _, p := range faultPoints {
		if !all && !p.ci {
			continue
		}
		ran++
		t.Run(p.name, func(t *testing.T) {
			// From A, converged.
			if r := faultDeploy(t, h, bundleA, webExecStart, nil); r.code != 0 {
				t.Fatalf("deploy A: %s", r)
			}
			if r := faultDeploy(t, h, bundleA, webExecStart, nil); r.code != 0 || r.changed != 0 {
				t.Fatalf("deploy A again: changed %d: %s", r.changed, r)
			}
			cut := runFault(t, h, p, bundleB)
			t.Logf("%s: the cut deploy of B: exit %d, changed %d, %s", p.name, cut.code, cut.changed, lastLine(cut.out))
			if p.full == "/var/lib/left4me-deploy" && !strings.Contains(cut.out, "No space left on device (exit status 1): sending") {
				t.Errorf("an upload into a full state directory does not lead with the cause:\n%s", tail(cut.out, 20))
			}
			for _, l := range strings.Split(cut.out, "\n") {
				if len(l) > 2000 {
					t.Errorf("a %d-byte output line (an argv or a script?): %.200s...", len(l), l)
				}
			}
			// status tells the truth right after the cut.
			truth := hostRunsB(t, h, sumsB)
			code := faultStatus(t, h, bundleB)
			if (code == 0) != (truth == "") {
				t.Errorf("after the cut, status exits %d while the host %s", code, orRunsB(truth))
			}
			// The next deploy converges; the one after changes nothing.
			if r := faultDeploy(t, h, bundleB, webExecB, nil); r.code != 0 {
				t.Fatalf("deploy B after the cut: %s", r)
			}
			r := faultDeploy(t, h, bundleB, webExecB, nil)
			if r.code != 0 || r.changed != 0 {
				t.Fatalf("deploy B once more: changed %d, want 0: %s", r.changed, r)
			}
			if truth := hostRunsB(t, h, sumsB); truth != "" {
				t.Fatalf("after two deploys of B the host %s", truth)
			}
			if code := faultStatus(t, h, bundleB); code != 0 {
				t.Fatalf("status of the converged host exits %d", code)
			}
		})
	}
	t.Logf("%d fault points (%s=all runs all %d)", ran, FaultsEnv, len(faultPoints))
}

func orRunsB(truth string) string {
	if truth == "" {
		return "runs release B"
	}
	return truth
}

// faultRun is one left4me-deploy run of the fault tier.
type faultRun struct {
	code, changed int
	out           string
}

func (r faultRun) String() string { return fmt.Sprintf("exit %d\n%s", r.code, tail(r.out, 40)) }

// faultDeploy deploys bundle with webExec to h; onLine, if not nil, sees
// every output line as it arrives.
func faultDeploy(t *testing.T, h *Host, bundle, webExec string, onLine func(string)) faultRun {
	t.Helper()
	args := []string{"--json", "--web-exec", webExec}
	if bundle != "" {
		args = append(args, "--bundle", bundle)
	}
	args = append(args, h.SSHOptions()...)
	args = append(args, "root@127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(t, "left4me-deploy"), args...)
	cmd.Dir = moduleRoot()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var out bytes.Buffer
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if onLine != nil {
			onLine(sc.Text())
		}
	}
	pr.Close()
	err = cmd.Wait()
	r := faultRun{out: out.String(), changed: -1}
	if err != nil {
		r.code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
	}
	d := deployResult{Output: r.out}
	d.parse()
	if d.Summary != nil {
		r.changed = d.Summary.Changed
	}
	return r
}

// faultStatus runs status --bundle against h and returns its exit status.
func faultStatus(t *testing.T, h *Host, bundle string) int {
	t.Helper()
	r := runDeployCLI(t, append(append([]string{"status", "--bundle", bundle}, h.SSHOptions()...), "root@127.0.0.1")...)
	t.Logf("status: exit %d\n%s", r.code, tail(r.stdout, 12))
	return r.code
}

// runFault deploys B to h and cuts it off at p.
func runFault(t *testing.T, h *Host, p faultPoint, bundleB string) faultRun {
	t.Helper()
	var once sync.Once
	var fired bool
	fire := func() {
		once.Do(func() {
			fired = true
			switch {
			case p.halt:
				killHostInit(t, h)
			case p.drop:
				killMaster(t, h)
			default:
				killPlan(t, h)
			}
		})
	}
	var onLine func(string)
	if p.step != "" {
		onLine = func(l string) {
			var ev struct{ Type, Step string }
			if json.Unmarshal([]byte(l), &ev) == nil && ev.Type == "step" && ev.Step == p.step {
				fire()
			}
		}
	}
	if p.rename != "" {
		name := filepath.Base(p.rename)
		stop := watchDir(t, filepath.Join(h.Dir, filepath.Dir(p.rename)), unix.IN_MOVED_TO, func(n string) bool { return n == name }, fire)
		defer stop()
	}
	if p.created != "" {
		prefix := filepath.Base(p.created)
		stop := watchDir(t, filepath.Join(h.Dir, filepath.Dir(p.created)), unix.IN_CREATE, func(n string) bool { return strings.HasPrefix(n, prefix) }, fire)
		defer stop()
	}
	if p.full == "/var/lib/left4me-deploy" {
		// The binaries of B must go into the full directory too.
		h.MustRun(t, "rm -f /var/lib/left4me-deploy/cache/*")
	}
	if p.full != "" {
		fillDir(t, h, p.full)
		defer unfillDir(t, h, p.full)
	}
	r := faultDeploy(t, h, bundleB, webExecB, onLine)
	if p.full != "" {
		// Free the space (the tmpfs stays until unfillDir): the
		// operator's fix before the next deploy.
		h.MustRun(t, "rm -f "+shellJoin([]string{p.full + "/.e2e-fill"}))
	}
	if p.halt {
		if !fired {
			t.Fatalf("the deploy never renamed %s into place", p.rename)
		}
		<-h.done
		h.nspawn, h.done = nil, make(chan struct{})
		h.boot(t)
	}
	if (p.rename != "" || p.created != "" || p.step != "") && !fired {
		t.Fatalf("the fault point was never reached: %s", r)
	}
	// After a dropped connection the host's plan runs on until its next
	// write fails: what status and the checks see must not move under them.
	for deadline := time.Now().Add(2 * time.Minute); len(planPIDs(h)) > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the host-side plan still runs two minutes after the cut")
		}
	}
	return r
}

// planPIDs lists the host-side plans in h: left4me-deploy host (what
// root.sh runs) and apply --local (what a rollback runs).
func planPIDs(h *Host) []int {
	return hostProcesses(h, func(argv []string) bool {
		return len(argv) > 2 && filepath.Base(argv[0]) == "left4me-deploy" && (argv[1] == "host" || argv[1] == "apply" && argv[2] == "--local")
	})
}

// watchDir calls fire the moment an event of mask (a rename into place,
// a file created) happens in dir to a name that match accepts: inotify on
// the host's directory, from outside the host. stop ends the watch.
func watchDir(t *testing.T, dir string, mask uint32, match func(string) bool, fire func()) (stop func()) {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		unix.Close(fd)
		t.Fatalf("watch %s: %v", dir, err)
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			select {
			case <-quit:
				return
			default:
			}
			if n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 100); n <= 0 {
				continue
			}
			n, err := unix.Read(fd, buf)
			if err != nil || n <= 0 {
				continue
			}
			// struct inotify_event: wd, mask, cookie, len (4 bytes each),
			// then len bytes of NUL-padded name.
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				l := int(binary.NativeEndian.Uint32(buf[off+12:]))
				nm := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+l]
				if match(strings.TrimRight(string(nm), "\x00")) {
					fire()
				}
				off += unix.SizeofInotifyEvent + l
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		unix.Close(fd)
	}
}

// hostPIDs lists this machine's PIDs of the processes in h: those in the
// PID namespace of the host's PID 1 (a child of systemd-nspawn).
func hostPIDs(h *Host) []int {
	ns := ""
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if ppid, inner := procStatus(p); ppid == h.nspawn.Process.Pid && inner == "1" {
			ns, _ = os.Readlink(p + "/ns/pid")
			break
		}
	}
	if ns == "" {
		return nil
	}
	var pids []int
	for _, p := range procs {
		if l, err := os.Readlink(p + "/ns/pid"); err == nil && l == ns {
			if n, err := strconv.Atoi(filepath.Base(p)); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

// procStatus reads a process's parent PID and its PID in its own
// namespace (the last NSpid field).
func procStatus(proc string) (ppid int, inner string) {
	b, err := os.ReadFile(proc + "/status")
	if err != nil {
		return 0, ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "PPid:":
			ppid, _ = strconv.Atoi(f[1])
		case len(f) >= 2 && f[0] == "NSpid:":
			inner = f[len(f)-1]
		}
	}
	return ppid, inner
}

// hostProcesses lists the PIDs of processes in h whose argv matches.
func hostProcesses(h *Host, match func(argv []string) bool) []int {
	var pids []int
	for _, pid := range hostPIDs(h) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		if match(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killPlan SIGKILLs the host-side plan (left4me-deploy host).
func killPlan(t *testing.T, h *Host) {
	pids := planPIDs(h)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(pids) == 0 {
		t.Logf("no host-side plan running to kill")
	}
}

// killMaster kills this machine's ssh control master to h: the connection
// drops; the host's commands see it at their next write.
func killMaster(t *testing.T, h *Host) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	port := strconv.Itoa(h.Port)
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		argv := strings.Split(string(b), "\x00")
		if len(argv) == 0 || filepath.Base(argv[0]) != "ssh" {
			continue
		}
		cmd := strings.Join(argv, " ")
		if strings.Contains(cmd, "ControlMaster=yes") && strings.Contains(cmd, " "+port+" ") {
			pid, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, "/proc/"), "/cmdline"))
			syscall.Kill(pid, syscall.SIGKILL)
			return
		}
	}
	t.Logf("no ssh master to 127.0.0.1:%d to kill", h.Port)
}

// killHostInit kills the host's PID 1: the host halts at once, as on a
// crash (the page cache of this machine survives; see docs/operations.md
// for what a power loss adds).
func killHostInit(t *testing.T, h *Host) {
	for _, pid := range hostPIDs(h) {
		if _, inner := procStatus(fmt.Sprintf("/proc/%d", pid)); inner == "1" {
			syscall.Kill(pid, syscall.SIGKILL)
			return
		}
	}
	t.Errorf("no PID 1 found in host %s", h.Name)
}

// fillDir puts a small tmpfs over dir on h, with dir's files, owner and
// mode, and fills it.
func fillDir(t *testing.T, h *Host, dir string) {
	t.Helper()
	d := shellJoin([]string{dir})
	h.MustRun(t, "set -e; d="+d+"; m=$(stat -c %a \"$d\"); o=$(stat -c %u:%g \"$d\"); t=$(mktemp -d); cp -a \"$d/.\" \"$t/\"; "+
		"k=$(du -sk \"$t\" | cut -f1); mount -t tmpfs -o size=$((k + 2048))k,mode=$m tmpfs \"$d\"; chown \"$o\" \"$d\"; cp -a \"$t/.\" \"$d/\"; rm -rf \"$t\"; "+
		"dd if=/dev/zero of=\"$d/.e2e-fill\" bs=4k 2>/dev/null || true; df -k \"$d\" | tail -1")
}

// unfillDir puts the tmpfs's files back into dir itself and unmounts it.
func unfillDir(t *testing.T, h *Host, dir string) {
	t.Helper()
	d := shellJoin([]string{dir})
	h.MustRun(t, "set -e; d="+d+"; rm -f \"$d/.e2e-fill\"; t=$(mktemp -d); cp -a \"$d/.\" \"$t/\"; umount \"$d\" || umount -l \"$d\"; "+
		"find \"$d\" -mindepth 1 -maxdepth 1 -exec rm -rf {} +; cp -a \"$t/.\" \"$d/\"; rm -rf \"$t\"")
}

// bundleSums reads the linux-amd64 checksums of a bundle by file name.
func bundleSums(t *testing.T, bundle string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for _, name := range []string{"l4d2ctl", "left4me-overlay", "left4me-systemctl", "left4me-journalctl"} {
		b, err := os.ReadFile(filepath.Join(bundle, "linux-amd64", name))
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		sums[name] = hex.EncodeToString(s[:])
	}
	return sums
}

// hostRunsB checks, without left4me-deploy, that h runs release B as its
// units and its newest record say: B's binaries installed, the newest
// record naming exactly the installed files, systemd holding every unit
// as installed, the web unit's ExecStart B's, the web app started after
// every file it runs with last changed, no restart pending and nothing
// left by an interrupted run. It returns "" or what is not so.
func hostRunsB(t *testing.T, h *Host, sumsB map[string]string) string {
	t.Helper()
	dest := map[string]string{
		"l4d2ctl":            "/usr/local/bin/l4d2ctl",
		"left4me-overlay":    "/usr/local/libexec/left4me/left4me-overlay",
		"left4me-systemctl":  "/usr/local/libexec/left4me/left4me-systemctl",
		"left4me-journalctl": "/usr/local/libexec/left4me/left4me-journalctl",
	}
	var why []string
	for name, p := range dest {
		if got := fileSum(h, p); got != sumsB[name] {
			why = append(why, fmt.Sprintf("has %s %.12s, not B's %.12s", p, got, sumsB[name]))
		}
	}
	out := h.Run(context.Background(), "tail -n1 "+release.HistoryFile)
	var rec release.Release
	if err := json.Unmarshal([]byte(out.Stdout), &rec); err != nil {
		why = append(why, "has no readable newest record")
	} else {
		for p, sum := range rec.Files {
			if got := fileSum(h, p); got != sum {
				why = append(why, fmt.Sprintf("has %s %.12s, not its newest record's %.12s", p, got, sum))
			}
		}
	}
	units := "left4me-web.service 'left4me-server@*.service' var-lib-left4me.mount"
	if o := h.Run(context.Background(), "systemctl show -p NeedDaemonReload "+units); strings.Contains(o.Stdout, "=yes") || o.Code != 0 {
		why = append(why, "has units systemd holds stale: "+strings.Join(strings.Fields(o.Stdout), " "))
	}
	if o := h.Run(context.Background(), "systemctl show -p ExecStart left4me-web.service"); !strings.Contains(o.Stdout, "-socket") {
		why = append(why, "runs the web unit's old ExecStart")
	}
	// The main process's start against the newest change among the files
	// the web app runs with, both in nanoseconds since the epoch.
	script := `set -e
s=$(systemctl show -p ExecMainStartTimestamp --timestamp=us+utc --value left4me-web.service)
[ -n "$s" ] && [ "$s" != n/a ] || { echo inactive; exit 0; }
start=$(date -u -d "$s" +%s%N)
for f in /usr/local/bin/l4d2ctl /usr/local/libexec/left4me/left4me-overlay /usr/local/libexec/left4me/left4me-systemctl \
	/usr/local/libexec/left4me/left4me-journalctl /etc/sudoers.d/left4me /usr/local/lib/systemd/system/left4me-web.service; do
	c=$(stat -c %.9Y "$f" | tr -d .)
	[ "$c" -le "$start" ] || echo "$f changed after the web app started"
done
systemctl is-active left4me-web.service >/dev/null || echo inactive`
	if o := h.Run(context.Background(), script); strings.TrimSpace(o.Stdout) != "" || o.Code != 0 {
		why = append(why, "web app: "+strings.Join(strings.Fields(o.Stdout+o.Stderr), " "))
	}
	left := `ls -d /var/lib/left4me-deploy/pending-restart /var/lib/left4me-deploy/releases/.tmp-* /var/lib/left4me-deploy/cache/.in.* 2>/dev/null
find /usr/local/bin /usr/local/libexec/left4me /etc/sudoers.d /usr/local/lib/systemd/system /var/lib/left4me-deploy -maxdepth 1 -name '.*[0-9]'
true`
	if o := h.Run(context.Background(), left); strings.TrimSpace(o.Stdout) != "" {
		why = append(why, "has leftovers or a pending restart: "+strings.Join(strings.Fields(o.Stdout), " "))
	}
	return strings.Join(why, "; ")
}

func fileSum(h *Host, p string) string {
	o := h.Run(context.Background(), "sha256sum "+shellJoin([]string{p}))
	if f := strings.Fields(o.Stdout); len(f) == 2 {
		return f[0]
	}
	return "missing"
}
