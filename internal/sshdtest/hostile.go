package sshdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Impersonate makes every login of user run script (POSIX sh) instead of
// the command the client asked for, through a forced command in the
// user's authorized key: a compromised host, which answers whatever it
// likes over a real SSH connection. The script's stdin, stdout and stderr
// are the session's; SSH_ORIGINAL_COMMAND holds what the client sent.
func (s *Server) Impersonate(t testing.TB, user, script string) {
	t.Helper()
	path := filepath.Join(s.Dir, "impersonate-"+user+".sh")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(s.Key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("command=\"/bin/sh %s\",no-pty,no-port-forwarding %s", path, pub)
	if err := os.WriteFile(filepath.Join(s.Dir, "keys", user), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
}
