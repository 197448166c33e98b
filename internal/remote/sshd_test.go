package remote

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/sshdtest"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// Test users of this package; they exist only while the test runs.
const (
	userPassword = "l4m-tss-pw"   // sudo with a password
	userNoPass   = "l4m-tss-nopw" // sudo NOPASSWD
	userNoSudo   = "l4m-tss-none" // no sudo rule at all
	testPassword = "correct horse battery"
	sudoersFile  = "/etc/sudoers.d/left4me-test-remote"
)

func addSudoUsers(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "sudo", "sudo")
	testenv.RequireBinary(t, "visudo", "sudo")
	for _, u := range []string{userPassword, userNoPass, userNoSudo} {
		testenv.AddUser(t, u, "/bin/sh")
		// A password also unlocks the account, which sshd without PAM
		// requires even for key logins.
		chpw := exec.Command("chpasswd")
		chpw.Stdin = strings.NewReader(u + ":" + testPassword + "\n")
		if out, err := chpw.CombinedOutput(); err != nil {
			t.Fatalf("chpasswd %s: %v: %s", u, err, out)
		}
	}
	rules := userPassword + " ALL=(root) ALL\n" + userNoPass + " ALL=(root) NOPASSWD: ALL\n"
	tmp := sudoersFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(rules), 0o440); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sudoersFile); os.Remove(tmp) })
	if out, err := exec.Command("visudo", "-cf", tmp).CombinedOutput(); err != nil {
		t.Fatalf("visudo -cf: %v: %s", err, out)
	}
	if err := os.Rename(tmp, sudoersFile); err != nil {
		t.Fatal(err)
	}
}

// Through real sshd and real sudo: NOPASSWD works without asking, a
// password is asked once and fed to sudo, a wrong one and a user without
// rules are refused clearly, and without a terminal the error says what
// to do.
func TestSudoOverSSH(t *testing.T) {
	addSudoUsers(t)
	srv := sshdtest.Start(t, userPassword, userNoPass, userNoSudo)
	bundle, err := OpenBundle(sshdtest.FakePlanBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	ssh := SSH{Config: srv.ClientConf, Port: strconv.Itoa(srv.Port), Identity: []string{srv.Key},
		Options: []string{"UserKnownHostsFile=" + srv.KnownHosts, "IdentitiesOnly=yes", "IdentityAgent=none"}}
	answer := func(pw string, asked *int) func(context.Context, string) ([]byte, error) {
		return func(_ context.Context, prompt string) ([]byte, error) {
			*asked++
			if !strings.Contains(prompt, "password for") {
				t.Errorf("prompt %q does not say what it asks", prompt)
			}
			return []byte(pw), nil
		}
	}
	for _, tc := range []struct {
		name, user string
		password   string // what the operator types; "" means no terminal
		wantErr    error
		wantText   string
		wantAsked  int
	}{
		{"nopasswd", userNoPass, "", nil, "", 0},
		{"password", userPassword, testPassword, nil, "", 1},
		{"wrong password", userPassword, "wrong", ErrSudoRefused, "incorrect password", 1},
		{"no terminal", userPassword, "", ErrSudoNoTerminal, "no terminal", 0},
		{"no sudo rule", userNoSudo, testPassword, ErrSudoRefused, "may not run commands as root", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			asked := 0
			d := &Deployer{SSH: ssh, Source: bundle, Args: protocol.HostArgs{Root: t.TempDir()}, Out: &Printer{W: &out}}
			if tc.password != "" {
				d.Prompt = answer(tc.password, &asked)
			} else {
				d.Prompt = func(context.Context, string) ([]byte, error) { return nil, ErrSudoNoTerminal }
			}
			tg, _ := ParseTarget(srv.Target(tc.user))
			res := d.Deploy(context.Background(), []Target{tg})[0]
			if tc.wantErr == nil {
				if res.Err != nil || res.Summary == nil || res.Summary.Changed != 1 {
					t.Fatalf("Deploy as %s = %+v, %v; want changed=1\n%s", tc.user, res.Summary, res.Err, out.String())
				}
			} else if !errors.Is(res.Err, tc.wantErr) || !strings.Contains(res.Err.Error(), tc.wantText) {
				t.Fatalf("Deploy as %s = %v, want %v mentioning %q\n%s", tc.user, res.Err, tc.wantErr, tc.wantText, out.String())
			}
			if asked != tc.wantAsked {
				t.Errorf("asked for the password %d times, want %d", asked, tc.wantAsked)
			}
			if strings.Contains(out.String(), testPassword) {
				t.Errorf("the password shows in the output:\n%s", out.String())
			}
		})
	}
}
