package remote

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/left4me/left4me-deploy/internal/sshdtest"
)

// TestMuxExit: through a real sshd and the operator's real ssh, a master
// is told to exit over its control socket, as ssh -O exit would: the
// answer is OK, the master goes and so does its socket, and a client can
// no longer use it.
func TestMuxExit(t *testing.T) {
	srv := sshdtest.Start(t)
	s := SSH{Config: srv.ClientConf, Port: strconv.Itoa(srv.Port), Identity: []string{srv.Key},
		Options: []string{"UserKnownHostsFile=" + srv.KnownHosts, "IdentitiesOnly=yes", "IdentityAgent=none"}}
	tg, err := ParseHost(srv.Target("root"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := s.Open(ctx, t.TempDir(), tg, "c0")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := m.Run(ctx, "echo up", nil, &out, &out); err != nil || out.String() != "up\n" {
		t.Fatalf("run through the master = %q, %v", out.String(), err)
	}
	if err := muxExit(m.path, 5*time.Second); err != nil {
		t.Fatalf("muxExit = %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Lstat(m.path); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the control socket %s is still there 10 s after the master was told to exit", m.path)
		}
	}
	check := exec.Command("ssh", append(m.clientArgs(), "-O", "check", "--", tg.Login())...)
	if err := check.Run(); err == nil {
		t.Fatal("ssh -O check still finds a master")
	}
	// Close on a master that is gone does nothing and says nothing.
	if err := m.Close(); err != nil {
		t.Fatalf("Close after exit = %v", err)
	}
}

// TestMuxExitRefusesNonMaster: something else listening on the socket
// path (here: nothing) is an error, so Close falls back to ssh -O exit.
func TestMuxExitRefusesNonMaster(t *testing.T) {
	if err := muxExit(t.TempDir()+"/none", time.Second); err == nil {
		t.Fatal("muxExit on a missing socket = nil")
	}
}
