//go:build linux

package main

import (
	"bytes"

	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/remote"
	"github.com/left4me/left4me-deploy/internal/sshdtest"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// From a source checkout, with no --bundle, one command builds what the
// host needs (cached) and deploys it; the build equals the bundle's.
func testFromCheckout(t *testing.T, bundle string) {
	srv := sshdtest.Start(t)
	cache := t.TempDir()
	// Keep Go's build cache where it is: it too lives under XDG_CACHE_HOME.
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOCACHE: %v", err)
	}
	t.Setenv("GOCACHE", strings.TrimSpace(string(gocache)))
	t.Setenv("XDG_CACHE_HOME", cache)
	root := t.TempDir()
	host := srv.Target("root")
	args := append(srv.SSHFlags(), "--root", root, host)
	r := deployJSON(t, []*sshdtest.Server{srv}, args...)
	if r.code != 0 {
		t.Fatalf("deploy from checkout: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := r.shipped(host); !strings.HasPrefix(got, "sent 5 of 5") {
		t.Errorf("first deploy shipped %q, want all 5 binaries", got)
	}
	// The slow phases say so as they begin: the build, each upload; and
	// every step's start comes back over ssh.
	progress := map[string]int{}
	starts := 0
	for _, ev := range r.events {
		switch {
		case string(ev.Type) == string(remote.EventProgress) && ev.Host == host:
			progress[ev.Step]++
		case ev.Type == protocol.EventStart && ev.Host == host:
			starts++
		}
	}
	if progress["build"] != 1 || progress["ship"] != 5 || starts == 0 {
		t.Errorf("progress events %v and %d start events, want one build, five ship and the steps' starts\n%s", progress, starts, r.stdout)
	}
	builds, _ := filepath.Glob(filepath.Join(cache, "left4me-deploy", "build", "linux-*"))
	if len(builds) != 1 {
		t.Fatalf("cached builds %v, want exactly one", builds)
	}
	built, _ := os.ReadFile(filepath.Join(builds[0], remote.SumsFile))
	dist, _ := os.ReadFile(filepath.Join(bundle, remote.SumsFile))
	for _, l := range strings.Split(strings.TrimSpace(string(built)), "\n") {
		if !strings.Contains(string(dist), l) {
			t.Errorf("checkout build %q is not in the bundle's SHA256SUMS: builds are not reproducible", l)
		}
	}
	fi, _ := os.Stat(builds[0])
	r = deployJSON(t, []*sshdtest.Server{srv}, args...)
	if r.code != 0 || r.summary(t, host).Changed != 0 || !strings.HasPrefix(r.shipped(host), "sent 0 of 5") {
		t.Fatalf("redeploy from checkout: exit %d, want 0, changed=0, nothing sent\n%s", r.code, r.stdout)
	}
	if fi2, _ := os.Stat(builds[0]); !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("the cached build was rebuilt on an unchanged checkout")
	}
	// The same host then takes the release bundle without a byte sent.
	r = deployJSON(t, []*sshdtest.Server{srv}, append(srv.SSHFlags(), "--bundle", bundle, "--root", root, host)...)
	if r.code != 0 || !strings.HasPrefix(r.shipped(host), "sent 0 of 5") {
		t.Errorf("bundle after checkout: exit %d, shipped %q; want nothing sent", r.code, r.shipped(host))
	}
}

// The bundle's own left4me-deploy, run with no Go on PATH and outside any
// checkout, finds the bundle it sits in and deploys.
func testBundleWithoutGo(t *testing.T, bundle string) {
	srv := sshdtest.Start(t)
	path := "/usr/bin:/bin:/usr/sbin:/sbin"
	for _, d := range filepath.SplitList(path) {
		if _, err := os.Stat(filepath.Join(d, "go")); err == nil {
			t.Fatalf("%s/go exists: cannot show the bundle works without Go", d)
		}
	}
	root := t.TempDir()
	cmd := exec.Command(bundleCLI(bundle), append(srv.SSHFlags(), "--root", root, srv.Target("root"))...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=" + path, "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "sent 5 of 5 binaries") || !strings.Contains(string(out), "failed=0") {
		t.Fatalf("bundle without Go: %v\n%s", err, out)
	}
}

// Ctrl-C in the middle of a run: the program exits, closing the control
// master (sshd sees the connection end) and removing its socket directory.
func testInterrupt(t *testing.T, bundle string) {
	srv := sshdtest.Start(t)
	fake := sshdtest.FakePlanBundle(t)
	root, tmp := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(root, "slow"), nil, 0o644)
	cmd := exec.Command(bundleCLI(bundle), append(srv.SSHFlags(), "--bundle", fake, "--root", root, srv.Target("root"))...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the plan to start working", func() bool { return strings.Contains(out.String(), "working") })
	if ents, _ := os.ReadDir(tmp); len(ents) != 1 {
		t.Fatalf("TMPDIR holds %d entries during the run, want the one control directory", len(ents))
	}
	// The first Ctrl-C starts no new host and lets the running one go on.
	cmd.Process.Signal(os.Interrupt)
	waitFor(t, "the deploy to say no new host starts", func() bool { return strings.Contains(out.String(), "no new host starts") })
	n := strings.Count(out.String(), "working")
	waitFor(t, "the running host to go on working", func() bool { return strings.Count(out.String(), "working") > n+2 })
	// The second one interrupts it.
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if err == nil || !strings.Contains(out.String(), "interrupted") {
		t.Fatalf("after Ctrl-C twice: %v, want a failure saying interrupted\n%s", err, out.String())
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("control directory left in TMPDIR: %v", ents)
	}
	waitFor(t, "the control master to exit", func() bool { return len(processesMentioning(tmp)) == 0 })
	waitFor(t, "sshd to see the connection closed", func() bool { return srv.Sessions() == 0 })
	waitFor(t, "the host to remove its staging directory", func() bool { return len(stagingLeft(t, root)) == 0 })
}

// processesMentioning lists processes whose command line contains s.
func processesMentioning(s string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s)) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

const cliSudoUser = "l4m-tss-cli"

// sudo with a password, for real: on a terminal (a pty the test holds) the
// password is asked without echo and the deploy goes through; without a
// terminal the host fails with a message that says so and what to do.
func testSudoTerminal(t *testing.T, bundle string) {
	testenv.RequireBinary(t, "visudo", "sudo")
	password := "pw-" + cliSudoUser
	testenv.AddUser(t, cliSudoUser, "/bin/sh")
	chpw := exec.Command("chpasswd")
	chpw.Stdin = strings.NewReader(cliSudoUser + ":" + password + "\n")
	if out, err := chpw.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}
	sudoers := "/etc/sudoers.d/left4me-test-ssh-cli"
	t.Cleanup(func() { os.Remove(sudoers) })
	if err := os.WriteFile(sudoers, []byte(cliSudoUser+" ALL=(root) ALL\n"), 0o440); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("visudo", "-cf", sudoers).CombinedOutput(); err != nil {
		t.Fatalf("visudo: %v %s", err, out)
	}
	srv := sshdtest.Start(t, cliSudoUser)
	args := append(srv.SSHFlags(), "--root", t.TempDir(), srv.Target(cliSudoUser))

	t.Run("no terminal", func(t *testing.T) {
		cmd := exec.Command(bundleCLI(bundle), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
		out, err := cmd.CombinedOutput()
		want := "sudo on " + srv.Target(cliSudoUser) + " needs a password for " + cliSudoUser + " and there is no terminal"
		if err == nil || !strings.Contains(string(out), want) {
			t.Fatalf("deploy as %s without a terminal: %v, want %q in:\n%s", cliSudoUser, err, want, out)
		}
	})

	t.Run("terminal", func(t *testing.T) {
		ptm, pts := openPty(t)
		cmd := exec.Command(bundleCLI(bundle), args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pts.Close()
		var screen lockedBuffer
		go io.Copy(&screen, ptm)
		// Type only once echo is off, as a person would after the prompt;
		// the pair shares one termios, so the master side can read it.
		waitFor(t, "the password prompt with echo off", func() bool {
			tio, err := unix.IoctlGetTermios(int(ptm.Fd()), unix.TCGETS)
			return err == nil && tio.Lflag&unix.ECHO == 0 &&
				strings.Contains(screen.String(), "[sudo] password for "+cliSudoUser+" on 127.0.0.1: ")
		})
		io.WriteString(ptm, password+"\r")
		err := cmd.Wait()
		// The program's last lines may still be on their way through the
		// pty when it has exited: read on until the summary is there.
		for deadline := time.Now().Add(10 * time.Second); err == nil && !strings.Contains(screen.String(), "failed=") && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil || !strings.Contains(screen.String(), "failed=0") {
			t.Fatalf("deploy with the password typed on the terminal: %v\n%s", err, screen.String())
		}
		if strings.Contains(screen.String(), password) {
			t.Errorf("the password was echoed:\n%s", screen.String())
		}
	})
}

// openPty opens a pseudo-terminal pair with /dev/ptmx.
func openPty(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		testenv.Skip(t, "needs a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	return ptm, pts
}

// BenchmarkNoopRedeploy measures a redeploy that changes nothing against
// the bare SSH round trip to the same sshd (ssh -o ControlMaster=no HOST
// true), interleaved in one run, and reports both medians and their ratio.
//
//	go test -run '^$' -bench NoopRedeploy -benchtime 20x ./cmd/left4me-deploy
func BenchmarkNoopRedeploy(b *testing.B) {
	testenv.RequireRoot(b)
	bundle := makeDist(b)
	srv := sshdtest.Start(b)
	root := b.TempDir()
	host := srv.Target("root")
	args := append([]string{"left4me-deploy"}, append(srv.SSHFlags(), "--bundle", bundle, "--root", root, host)...)
	var out bytes.Buffer
	if code := run(args, strings.NewReader(""), &out, &out); code != 0 {
		b.Fatalf("first deploy: exit %d\n%s", code, out.String())
	}
	bare := append(append([]string{}, srv.SSHFlags()...), "-o", "ControlMaster=no", host, "true")
	var deploys, trips []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if out, err := exec.Command("ssh", bare...).CombinedOutput(); err != nil {
			b.Fatalf("ssh true: %v %s", err, out)
		}
		trips = append(trips, time.Since(start))
		out.Reset()
		start = time.Now()
		if code := run(args, strings.NewReader(""), &out, io.Discard); code != 0 || !strings.Contains(out.String(), "changed=0") || !strings.Contains(out.String(), "sent=0") {
			b.Fatalf("no-op redeploy: exit %d\n%s", code, out.String())
		}
		deploys = append(deploys, time.Since(start))
	}
	b.StopTimer()
	md, mt := median(deploys), median(trips)
	b.ReportMetric(float64(md.Microseconds())/1000, "redeploy-median-ms")
	b.ReportMetric(float64(mt.Microseconds())/1000, "ssh-true-median-ms")
	b.ReportMetric(float64(md)/float64(mt), "ratio")
	b.Logf("n=%d: no-op redeploy median %v, ssh true median %v, ratio %.2f", b.N, md, mt, float64(md)/float64(mt))
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// -J: the deploy reaches the host through a jump host named in the
// operator's ssh_config; sshd sees the jump connection and the tunnelled
// one, and nothing else.
func testJumpHost(t *testing.T, bundle string) {
	srv := sshdtest.Start(t)
	conf := filepath.Join(srv.Dir, "jump_config")
	cfg := ""
	for _, h := range []string{"jump", "target"} {
		cfg += "Host " + h + "\n  HostName 127.0.0.1\n  Port " + strconv.Itoa(srv.Port) + "\n  IdentityFile " + srv.Key +
			"\n  UserKnownHostsFile " + srv.KnownHosts + "\n  IdentitiesOnly yes\n  IdentityAgent none\n  GlobalKnownHostsFile /dev/null\n"
	}
	os.WriteFile(conf, []byte(cfg), 0o644)
	root := t.TempDir()
	r := deployJSON(t, []*sshdtest.Server{srv}, "-F", conf, "-J", "root@jump", "--bundle", bundle, "--root", root, "root@target")
	if r.code != 0 || r.summary(t, "root@target").Failed != 0 {
		t.Fatalf("deploy through -J: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r.newConns != 2 {
		t.Errorf("sshd accepted %d connections, want 2 (the jump and the tunnelled one)", r.newConns)
	}
	// The same as an option, and from the config file.
	r = deployJSON(t, []*sshdtest.Server{srv}, "-F", conf, "-o", "ProxyJump=root@jump", "--bundle", bundle, "--root", root, "root@target")
	if r.code != 0 || r.newConns != 2 || r.summary(t, "root@target").Changed != 0 {
		t.Fatalf("deploy with -o ProxyJump: exit %d, %d connections\n%s\n%s", r.code, r.newConns, r.stdout, r.stderr)
	}
	os.WriteFile(conf, []byte(cfg+"Host target\n  ProxyJump root@jump\n"), 0o644)
	r = deployJSON(t, []*sshdtest.Server{srv}, "-F", conf, "--bundle", bundle, "--root", root, "root@target")
	if r.code != 0 || r.newConns != 2 {
		t.Fatalf("deploy with ProxyJump in ssh_config: exit %d, %d connections\n%s\n%s", r.code, r.newConns, r.stdout, r.stderr)
	}
}
