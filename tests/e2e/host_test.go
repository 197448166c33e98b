//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Where the test's own programs live inside a test host: outside every
// path left4me-deploy installs to, so nothing of the test can stand in for
// a deployed file.
const (
	standinPath = "/usr/local/lib/left4me-e2e/standin"
	srcdsPath   = "/usr/local/lib/left4me-e2e/srcds_run"
	webSocket   = "/var/lib/left4me/.e2e-web.sock"
)

// webExecStart is the ExecStart of left4me-web.service: the installer's
// default web app path, where the test host has the stand-in web app
// (standin started as left4me-web serves on webSocket). The deploy runs
// with the operator's defaults, so no web-exec setting is passed.
const webExecStart = "/usr/local/bin/left4me-web"

// Host is one booted Debian test host: a systemd-nspawn container of the
// cached rootfs, with systemd as its PID 1 and sshd on 127.0.0.1:Port.
type Host struct {
	Name       string // machine name, unique per test run
	Dir        string // the rootfs on this machine
	Port       int    // sshd port on 127.0.0.1 (the container shares the network)
	Key        string // private key authorized for root
	KnownHosts string // known_hosts file holding only this host's key
	BootState  string // what systemctl is-system-running said after boot

	work    string // temp dir holding Dir, keys and logs
	console string // file with the container's console output
	nspawn  *exec.Cmd
	done    chan struct{} // closed when nspawn exited
	exitErr error
}

var hostSeq atomic.Int32

// bootHost extracts a fresh copy of the cached rootfs, gives it an sshd on
// a free loopback port with keys generated for this test, boots it, and
// waits until systemd reports the boot finished. prepare, if not nil, may
// change the rootfs before the boot. Everything is torn down in t.Cleanup,
// also when the test fails. With VMEnv set the host is a QEMU guest
// instead (bootVMHost).
func bootHost(t *testing.T, label string, prepare func(root string)) *Host {
	t.Helper()
	return bootHostOn(t, bookwormImage, label, prepare)
}

// bootHostOn is bootHost for a host of img. With VMEnv set the guest is
// whatever the VM tier boots, whatever img says.
func bootHostOn(t *testing.T, img *rootfsImage, label string, prepare func(root string)) *Host {
	t.Helper()
	if command := os.Getenv(VMEnv); command != "" {
		return bootVMHost(t, label, command, prepare)
	}
	tarball := cachedRootfsOf(t, img)
	removeStaleHosts(t)
	work, err := os.MkdirTemp(hostsDir, fmt.Sprintf("%s%d-%s-", hostPrefix, os.Getpid(), label))
	if err != nil {
		t.Fatalf("create host work dir: %v", err)
	}
	h := &Host{
		Name:       fmt.Sprintf("l4me-e2e-%d-%d-%s", os.Getpid(), hostSeq.Add(1), label),
		Dir:        filepath.Join(work, "rootfs"),
		Key:        filepath.Join(work, "id_ed25519"),
		KnownHosts: filepath.Join(work, "known_hosts"),
		work:       work,
		console:    filepath.Join(work, "console.log"),
		done:       make(chan struct{}),
	}
	t.Cleanup(func() { h.teardown(t) })
	if err := os.Mkdir(h.Dir, 0o755); err != nil {
		t.Fatalf("create rootfs dir: %v", err)
	}
	extractRootfs(t, tarball, h.Dir)

	h.Port = freePort(t)
	h.setupSSH(t)
	install(t, standinBinary(t), filepath.Join(h.Dir, standinPath), 0o755)
	install(t, standinBinary(t), filepath.Join(h.Dir, webExecStart), 0o755)
	install(t, "testdata/srcds_run", filepath.Join(h.Dir, srcdsPath), 0o755)
	writeFile(t, filepath.Join(h.Dir, "etc/hostname"), label+"\n", 0o644)
	// sudo resolves the host's own name; debootstrap writes no hosts file.
	writeFile(t, filepath.Join(h.Dir, "etc/hosts"), "127.0.0.1\tlocalhost\n127.0.1.1\t"+label+"\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0o644)
	if prepare != nil {
		prepare(h.Dir)
	}
	h.boot(t)
	return h
}

// Host copies live in hostsDir, named hostPrefix + the test's PID.
const (
	hostsDir   = "/var/tmp"
	hostPrefix = "left4me-e2e-"
)

// removeStaleHosts removes host copies left by test processes that died
// before their cleanup ran (their hosts halted on the parent-death signal),
// unless something is still mounted under them.
func removeStaleHosts(t *testing.T) {
	staleOnce.Do(func() { removeStaleHostsNow(t) })
}

var staleOnce sync.Once

func removeStaleHostsNow(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(hostsDir, hostPrefix+"*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), hostPrefix)
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // its test is still running
		}
		if len(mountsUnder(d)) > 0 {
			continue
		}
		if err := os.RemoveAll(d); err == nil {
			t.Logf("removed %s, left by test process %d", d, pid)
		}
	}
}

// setupSSH gives the rootfs fresh host keys, authorizes a fresh client key
// for root, and binds sshd to 127.0.0.1:Port only.
func (h *Host) setupSSH(t *testing.T) {
	t.Helper()
	hostKey := filepath.Join(h.Dir, "etc/ssh/ssh_host_ed25519_key")
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", h.Name, "-f", hostKey)
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "left4me-e2e", "-f", h.Key)
	pub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(pub))
	writeFile(t, h.KnownHosts, fmt.Sprintf("[127.0.0.1]:%d %s %s\n", h.Port, f[0], f[1]), 0o600)

	client, err := os.ReadFile(h.Key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	sshDir := filepath.Join(h.Dir, "root/.ssh")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(sshDir, "authorized_keys"), string(client), 0o600)
	writeFile(t, filepath.Join(h.Dir, "etc/ssh/sshd_config.d/left4me-e2e.conf"), fmt.Sprintf(
		"# The test host listens on loopback only, on a port chosen by the test.\n"+
			"Port %d\nListenAddress 127.0.0.1\nHostKey /etc/ssh/ssh_host_ed25519_key\n"+
			"PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n",
		h.Port), 0o644)
}

// boot starts systemd-nspawn and waits for sshd and for systemd to finish
// booting.
func (h *Host) boot(t *testing.T) {
	t.Helper()
	console, err := os.Create(h.console)
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	h.nspawn = exec.Command("systemd-nspawn",
		"--quiet",
		"--register=no", // no machined on the test machine
		"--keep-unit",   // stay in the test's own cgroup; create no scope unit
		"--machine="+h.Name,
		"--directory="+h.Dir,
		"--boot",
		"--console=read-only",
	)
	h.nspawn.Stdout, h.nspawn.Stderr = console, console
	// nspawn gets its own process group, so a Ctrl-C meant for go test
	// does not reach it mid-boot; if the test process dies without its
	// cleanup (a timeout, a kill), the parent-death signal still halts
	// the host in order.
	h.nspawn.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := h.nspawn.Start(); err != nil {
		t.Fatalf("start systemd-nspawn: %v", err)
	}
	go func() {
		h.exitErr = h.nspawn.Wait()
		close(h.done)
	}()

	start := time.Now()
	deadline := start.Add(90 * time.Second)
	for {
		select {
		case <-h.done:
			t.Fatalf("systemd-nspawn exited during boot (%v); console:\n%s", h.exitErr, tailFile(h.console, 40))
		default:
		}
		r := h.Run(context.Background(), "true")
		if r.Code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host %s: sshd on 127.0.0.1:%d did not answer within 90s (last: %s); console:\n%s",
				h.Name, h.Port, r, tailFile(h.console, 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
	r := h.Run(context.Background(), "systemctl is-system-running --wait")
	h.BootState = strings.TrimSpace(r.Stdout)
	switch h.BootState {
	case "running":
	case "degraded":
		// A unit of the base system that fails in a container says
		// nothing about left4me; name it and go on.
		failed := h.Run(context.Background(), "systemctl --failed --no-legend --plain | awk '{print $1}'")
		h.BootState += " (failed: " + strings.Join(strings.Fields(failed.Stdout), " ") + ")"
		t.Logf("host %s booted %s", h.Name, h.BootState)
	default:
		failed := h.Run(context.Background(), "systemctl --failed --no-legend --plain; journalctl -b -p err --no-pager | tail -20")
		t.Fatalf("host %s booted into state %q, want running:\n%s", h.Name, h.BootState, failed.Stdout)
	}
	t.Logf("host %s booted (systemd %s, sshd on 127.0.0.1:%d) in %s", h.Name, h.BootState, h.Port, time.Since(start).Round(10*time.Millisecond))
}

// teardown powers the container off (SIGTERM makes nspawn ask systemd for
// an orderly halt), kills it if that takes too long, checks that nothing is
// left behind (process, listening port, mount), and removes the rootfs.
func (h *Host) teardown(t *testing.T) {
	if h.nspawn != nil && h.nspawn.Process != nil {
		select {
		case <-h.done:
		default:
			h.nspawn.Process.Signal(syscall.SIGTERM)
			select {
			case <-h.done:
			case <-time.After(30 * time.Second):
				t.Errorf("host %s did not power off within 30s; killing it", h.Name)
				// Killing nspawn's group takes the container's PID 1,
				// and with it the whole PID namespace.
				syscall.Kill(-h.nspawn.Process.Pid, syscall.SIGKILL)
				<-h.done
			}
		}
	}
	if t.Failed() && h.console != "" {
		t.Logf("console of host %s (last lines):\n%s", h.Name, tailFile(h.console, 30))
	}
	if h.Port != 0 {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", h.Port), time.Second); err == nil {
			c.Close()
			t.Errorf("port 127.0.0.1:%d still listening after host %s powered off", h.Port, h.Name)
		}
	}
	if procs := processesIn(h.Dir); len(procs) > 0 {
		t.Errorf("processes still running in host %s after power-off: %v", h.Name, procs)
	}
	if m := mountsUnder(h.work); len(m) > 0 {
		// Never remove through a mount: leave the tree for inspection.
		t.Errorf("mounts left under %s after power-off, not removing it: %v", h.work, m)
		return
	}
	if err := os.RemoveAll(h.work); err != nil {
		t.Errorf("remove host work dir %s: %v", h.work, err)
	}
}

// Result is the outcome of one command on a host.
type Result struct {
	Cmd            string
	Stdout, Stderr string
	Code           int // -1: ssh itself failed or timed out
}

// String leads with the exit status and the last line of stderr (or
// stdout), which the summary table shows, then gives the whole output.
func (r Result) String() string {
	last := lastLine(r.Stderr)
	if last == "" {
		last = lastLine(r.Stdout)
	}
	return fmt.Sprintf("exit %d: %s\ncommand: %q\nstdout:\n%s\nstderr:\n%s", r.Code, last, r.Cmd,
		strings.TrimRight(r.Stdout, "\n"), strings.TrimRight(r.Stderr, "\n"))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// SSHOptions are the ssh options that reach this host non-interactively
// with the test's key and known_hosts, in the spelling ssh users know.
func (h *Host) SSHOptions() []string {
	return []string{
		"-p", strconv.Itoa(h.Port),
		"-i", h.Key,
		"-o", "UserKnownHostsFile=" + h.KnownHosts,
		"-o", "StrictHostKeyChecking=yes",
		"-o", "IdentitiesOnly=yes",
		"-o", "BatchMode=yes",
		"-o", "ConnectTimeout=5",
		"-o", "LogLevel=ERROR",
	}
}

// Run runs script with sh as root on the host over SSH.
func (h *Host) Run(ctx context.Context, script string) Result {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	args := append([]string{"-F", "/dev/null"}, h.SSHOptions()...)
	args = append(args, "root@127.0.0.1", script)
	cmd := exec.CommandContext(ctx, "ssh", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Cmd: script, Stdout: stdout.String(), Stderr: stderr.String()}
	if err != nil {
		r.Code = -1
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() != 255 {
			r.Code = ee.ExitCode()
		}
		if r.Code == -1 {
			r.Stderr += fmt.Sprintf("\n(ssh: %v)", err)
		}
	}
	return r
}

// fataler is the part of *testing.T (and of a check's *C) MustRun needs.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// MustRun runs script and fails t unless it exits 0; it returns stdout.
func (h *Host) MustRun(t fataler, script string) string {
	t.Helper()
	r := h.Run(context.Background(), script)
	if r.Code != 0 {
		t.Fatalf("on host %s: %s", h.Name, r)
	}
	return r.Stdout
}

// AsWeb runs argv inside left4me-web.service, through the stand-in web
// app: as the user, in the mount namespace and with the sandboxing the
// deployed unit gives the real web app.
func (h *Host) AsWeb(argv ...string) Result {
	return h.Run(context.Background(), standinPath+" call -socket "+webSocket+" -- "+shellJoin(argv))
}

// shellJoin quotes argv for sh.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free loopback port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// processesIn lists the PIDs whose root directory is dir or below it.
func processesIn(dir string) []string {
	var pids []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		root, err := os.Readlink(p + "/root")
		if err == nil && (root == dir || strings.HasPrefix(root, dir+"/")) {
			pids = append(pids, filepath.Base(p))
		}
	}
	return pids
}

// mountsUnder lists the mount points of this process's namespace at or
// below dir.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var found []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			found = append(found, f[4])
		}
	}
	return found
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func install(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("read %s: %v", src, err)
	}
	writeFile(t, dst, string(b), mode)
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", path, err)
	}
	return tail(string(b), n)
}
