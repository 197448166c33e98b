// Package sshdtest starts a real OpenSSH server for tests: on 127.0.0.1 at
// a free port, with a generated host key, one authorized key for root, a
// StrictModes-clean file layout, its own config, pid file and VERBOSE log,
// killed when the test ends. It needs root (sshd drops privileges and
// logs users in) and the Debian package openssh-server.
package sshdtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

// Server is one running sshd.
type Server struct {
	Dir        string // private 0755 root-owned directory with every file
	Port       int
	Key        string // private key authorized for every user in Users
	KnownHosts string // known_hosts with this server's host key
	ClientConf string // empty ssh_config, so ~/.ssh/config and /etc/ssh are not read
	HostKeyPub string
	Log        string // sshd -E log, LogLevel VERBOSE
	cmd        *exec.Cmd
}

// Start starts an sshd for t. Extra authorized users get the same key
// (AuthorizedKeysFile is Dir/keys/%u).
func Start(t testing.TB, users ...string) *Server {
	t.Helper()
	testenv.RequireRoot(t)
	sshd := testenv.RequireBinary(t, "/usr/sbin/sshd", "openssh-server")
	testenv.RequireBinary(t, "ssh-keygen", "openssh-client")
	// sshd's privilege separation directory; systemd normally makes it.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("create /run/sshd: %v", err)
	}
	// StrictModes checks every directory above the key files: they must
	// not be group or world writable, so /tmp (1777) cannot hold them.
	dir, err := os.MkdirTemp("/run", "left4me-sshdtest-")
	if err != nil {
		t.Fatalf("create sshd dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: dir, Log: filepath.Join(dir, "sshd.log")}
	s.Key = filepath.Join(dir, "client_key")
	hostKey := filepath.Join(dir, "host_key")
	keygen(t, hostKey)
	keygen(t, s.Key)
	pub, _ := os.ReadFile(s.Key + ".pub")
	hpub, _ := os.ReadFile(hostKey + ".pub")
	s.HostKeyPub = strings.TrimSpace(string(hpub))
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, u := range append([]string{"root"}, users...) {
		if err := os.WriteFile(filepath.Join(keys, u), pub, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.ClientConf = filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(s.ClientConf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Port = freePort(t)
	s.KnownHosts = filepath.Join(dir, "known_hosts")
	s.WriteKnownHosts(t, s.HostKeyPub)
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s/%%u
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
LogLevel VERBOSE
MaxStartups 50
MaxSessions 20
`, s.Port, hostKey, filepath.Join(dir, "sshd.pid"), keys)
	confPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sshd, "-t", "-f", confPath).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v: %s", err, out)
	}
	s.cmd = exec.Command(sshd, "-D", "-f", confPath, "-E", s.Log)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		s.KillConnections()
		s.cmd.Process.Kill()
		<-done
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, _ := os.ReadFile(s.Log)
		if strings.Contains(string(b), "Server listening on") {
			break
		}
		select {
		case <-done:
			t.Fatalf("sshd exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not start listening within 10s: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// WriteKnownHosts replaces the client's known_hosts with one key line.
func (s *Server) WriteKnownHosts(t testing.TB, pub string) {
	t.Helper()
	line := fmt.Sprintf("[127.0.0.1]:%d %s\n", s.Port, pub)
	if err := os.WriteFile(s.KnownHosts, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
}

// SSHFlags are left4me-deploy's (and ssh's) flags for this server, in
// the spelling an operator would type.
func (s *Server) SSHFlags() []string {
	return []string{"-F", s.ClientConf, "-p", strconv.Itoa(s.Port), "-i", s.Key,
		"-o", "UserKnownHostsFile=" + s.KnownHosts, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "GlobalKnownHostsFile=/dev/null"}
}

// Target is user@127.0.0.1.
func (s *Server) Target(user string) string { return user + "@127.0.0.1" }

// Connections counts the TCP connections sshd has accepted so far.
func (s *Server) Connections(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile(s.Log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "Connection from ")
}

// KillConnections kills every per-connection sshd process below the
// listener, as a dropped network would end the connections; the programs
// the sessions run are left alone, as they would be.
func (s *Server) KillConnections() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	var pids []int
	var walk func(int)
	walk = func(ppid int) {
		for _, c := range children(ppid) {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c)); strings.HasPrefix(string(comm), "sshd") {
				pids = append(pids, c)
				walk(c)
			}
		}
	}
	walk(s.cmd.Process.Pid)
	n := 0
	for _, pid := range pids {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

func children(ppid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command (which may hold spaces) start after ')'.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

func keygen(t testing.TB, path string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "left4me-test", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %s: %v: %s", path, err, out)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Sessions counts the live per-connection sshd processes.
func (s *Server) Sessions() int { return len(children(s.cmd.Process.Pid)) }
