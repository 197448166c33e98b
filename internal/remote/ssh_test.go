package remote

import (
	"context"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/runner"
)

// The master's own options come before the operator's (ssh keeps the first
// value), clients cannot dial on their own, and -J goes only to the master.
func TestMasterArgv(t *testing.T) {
	f := &runner.Fake{}
	s := SSH{Port: "2222", Identity: []string{"k1", "k2"}, Jump: "bastion", Options: []string{"ControlPath=/evil", "User=x"}, Runner: f}
	tg, _ := ParseTarget("root@h")
	m, err := s.Open(context.Background(), "/tmp/d", tg, "c0")
	if err != nil {
		t.Fatal(err)
	}
	m.Run(context.Background(), "true", nil, nil, nil)
	// Close skips ssh -O exit when no socket exists; call it through Lost.
	m.Lost()
	calls := f.Commands()
	if len(calls) < 3 {
		t.Fatalf("commands %q, want open, run, check", calls)
	}
	open, run, check := calls[0], calls[1], calls[2]
	for _, tc := range []struct {
		name, cmd string
		want      []string
		not       []string
	}{
		{"open", open, []string{"ssh -o ControlMaster=yes -o ControlPath=/tmp/d/c0 -o ControlPersist=", "-p 2222 -i k1 -i k2 -J bastion -o ControlPath=/evil -o User=x", "-f -N -- root@h"}, []string{"ProxyCommand"}},
		{"run", run, []string{"ssh -o ControlMaster=no -o ControlPath=/tmp/d/c0 -o ProxyCommand=false -o BatchMode=yes -p 2222", "-T -e none -- root@h true"}, []string{"-J"}},
		{"check", check, []string{"-O check -- root@h"}, []string{"-J"}},
	} {
		for _, w := range tc.want {
			if !strings.Contains(tc.cmd, w) {
				t.Errorf("%s: %q lacks %q", tc.name, tc.cmd, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(tc.cmd, n) {
				t.Errorf("%s: %q has %q", tc.name, tc.cmd, n)
			}
		}
	}
}
