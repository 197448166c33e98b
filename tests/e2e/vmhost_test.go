//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// VMEnv, when set, makes every test host a QEMU guest of a real Debian
// kernel instead of a systemd-nspawn container of this machine's: its value
// is the command that boots one (tests/vm/guest SUITE), run with a work
// directory as its last argument. The command writes port, id_ed25519 and
// known_hosts there once root can log in over SSH, and powers the guest off
// when its stdin closes. tests/vm/run sets it.
const VMEnv = "LEFT4ME_E2E_VM"

// bootVMHost boots a fresh guest with the VMEnv command, copies in what
// bootHost puts into a container's rootfs (the stand-ins, and whatever
// prepare writes into a staging directory), and waits until systemd reports
// the boot finished. The guest is powered off in t.Cleanup, after its kernel
// log was checked.
func bootVMHost(t *testing.T, label, command string, prepare func(root string)) *Host {
	t.Helper()
	work, err := os.MkdirTemp("", "left4me-e2e-vm-"+label+"-")
	if err != nil {
		t.Fatal(err)
	}
	h := &Host{
		Name:       "vm-" + label,
		Key:        filepath.Join(work, "id_ed25519"),
		KnownHosts: filepath.Join(work, "known_hosts"),
		work:       work,
		console:    filepath.Join(work, "console.log"),
		done:       make(chan struct{}),
	}
	stage := filepath.Join(work, "stage")
	install(t, standinBinary(t), filepath.Join(stage, standinPath), 0o755)
	install(t, standinBinary(t), filepath.Join(stage, webExecStart), 0o755)
	install(t, "testdata/srcds_run", filepath.Join(stage, srcdsPath), 0o755)
	if prepare != nil {
		prepare(stage)
	}

	argv := append(strings.Fields(command), work)
	cmd := exec.Command(argv[0], argv[1:]...)
	stdin, err := cmd.StdinPipe() // closing it powers the guest off
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(work, "guest.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	h.nspawn = cmd
	go func() {
		h.exitErr = cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() { h.teardownVM(t, stdin) })

	for {
		if b, err := os.ReadFile(filepath.Join(work, "port")); err == nil {
			if h.Port, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
				t.Fatalf("%s wrote port %q", command, b)
			}
			break
		}
		select {
		case <-h.done:
			t.Fatalf("%s exited before the guest was up (%v):\n%s\nconsole:\n%s", command, h.exitErr,
				tailFile(filepath.Join(work, "guest.log"), 20), tailFile(h.console, 30))
		case <-time.After(time.Second):
		}
		if time.Since(start) > 15*time.Minute {
			t.Fatalf("%s: no guest after 15 minutes; console:\n%s", command, tailFile(h.console, 30))
		}
	}
	copyIn(t, h, stage)
	r := h.Run(context.Background(), "systemctl is-system-running --wait; uname -r")
	state, release, _ := strings.Cut(strings.TrimSpace(r.Stdout), "\n")
	h.BootState = state
	if state != "running" {
		failed := h.Run(context.Background(), "systemctl --failed --no-legend --plain; journalctl -b -p err --no-pager | tail -20")
		t.Fatalf("guest %s booted into state %q, want running:\n%s", h.Name, state, failed.Stdout)
	}
	t.Logf("guest %s: kernel %s, systemd %s, sshd on 127.0.0.1:%d, up in %s", h.Name, release, state, h.Port, time.Since(start).Round(time.Second))
	return h
}

// copyIn unpacks the staging tree onto the guest's root, as root, keeping
// the guest's own directories' owners and modes.
func copyIn(t *testing.T, h *Host, stage string) {
	t.Helper()
	ents, err := os.ReadDir(stage)
	if err != nil {
		t.Fatal(err)
	}
	tarArgs := []string{"-C", stage, "--owner=0", "--group=0", "-cf", "-"}
	for _, e := range ents {
		tarArgs = append(tarArgs, e.Name())
	}
	tar := exec.Command("tar", tarArgs...)
	args := append([]string{"-F", "/dev/null"}, h.SSHOptions()...)
	ssh := exec.Command("ssh", append(args, "root@127.0.0.1", "tar --no-overwrite-dir -xf - -C /")...)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	tar.Stdout, ssh.Stdin = w, r
	var tarOut, sshOut strings.Builder
	tar.Stderr = &tarOut
	ssh.Stdout, ssh.Stderr = &sshOut, &sshOut
	tarErr := tar.Start()
	sshErr := ssh.Start()
	// Only the two children hold the pipe now: if ssh fails, tar gets
	// EPIPE instead of blocking.
	r.Close()
	w.Close()
	if tarErr == nil {
		tarErr = tar.Wait()
	}
	if sshErr == nil {
		sshErr = ssh.Wait()
	}
	if tarErr != nil || sshErr != nil {
		t.Fatalf("copy the test files into guest %s: tar: %v %s; ssh: %v %s", h.Name, tarErr, tarOut.String(), sshErr, sshOut.String())
	}
}

// teardownVM checks the guest's kernel log, then powers the guest off and
// checks that nothing of it is left: no process, no listening port.
func (h *Host) teardownVM(t *testing.T, stdin io.Closer) {
	if h.Port != 0 {
		h.checkKernelLog(t)
	}
	stdin.Close()
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		t.Errorf("guest %s did not stop within 30s of its stdin closing; killing it", h.Name)
		syscall.Kill(-h.nspawn.Process.Pid, syscall.SIGKILL)
		<-h.done
	}
	if t.Failed() {
		t.Logf("console of guest %s (last lines):\n%s", h.Name, tailFile(h.console, 30))
	}
	if h.Port != 0 {
		if out, err := exec.Command("ss", "-Htln", fmt.Sprintf("sport = :%d", h.Port)).Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("port 127.0.0.1:%d still listening after guest %s stopped", h.Port, h.Name)
		}
	}
	if err := os.RemoveAll(h.work); err != nil {
		t.Errorf("remove guest work dir %s: %v", h.work, err)
	}
}

// checkKernelLog fails the test on an AppArmor denial or an overlayfs
// message in the guest's kernel log of this boot: the checklist is expected
// to run without either, under the release's own AppArmor policy.
func (h *Host) checkKernelLog(t *testing.T) {
	r := h.Run(context.Background(), "journalctl -k -b --no-pager -o short-monotonic; echo; echo apparmor=$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null) profiles=$(wc -l </sys/kernel/security/apparmor/profiles 2>/dev/null)")
	if r.Code != 0 {
		t.Errorf("read the kernel log of guest %s: %s", h.Name, r)
		return
	}
	var bad []string
	for _, line := range strings.Split(r.Stdout, "\n") {
		if strings.Contains(line, `apparmor="DENIED"`) || strings.Contains(line, "overlayfs") {
			bad = append(bad, line)
		}
	}
	t.Logf("guest %s kernel log: %d lines, %s, %d AppArmor denials or overlayfs messages", h.Name,
		strings.Count(r.Stdout, "\n"), lastLine(r.Stdout), len(bad))
	if len(bad) > 0 {
		t.Errorf("guest %s kernel log has AppArmor denials or overlayfs messages:\n%s", h.Name, strings.Join(bad, "\n"))
	}
}
