package remote

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/sshdtest"
)

// TestHostileHostOverSSH: a compromised host, behind a real sshd, answers
// root.sh with words of its choosing. A word outside the protocol is
// refused before any use, with an error that names the host and the word
// (escaped); nothing is created outside the build cache; a host that talks
// without end is cut off at its bound.
func TestHostileHostOverSSH(t *testing.T) {
	srv := sshdtest.Start(t)
	ssh := SSH{Config: srv.ClientConf, Port: strconv.Itoa(srv.Port), Identity: []string{srv.Key},
		Options: []string{"UserKnownHostsFile=" + srv.KnownHosts, "IdentitiesOnly=yes", "IdentityAgent=none"}}
	// The checksum of the plan's hash, a "go" to hash and a build that
	// must never run: the deployer builds from a checkout for an offer.
	goBin, _ := filepath.Abs("/bin/sh")
	oldLook := lookGo
	lookGo = func() (string, error) { return goBin, nil }
	t.Cleanup(func() { lookGo = oldLook })

	for _, tc := range []struct {
		name, script string
		want         []string // in the error, in this order
		wantErr      error
	}{
		{"architecture as a path", "echo 'L4M host Linux x86_64 amd64/../../../escape/x'\necho 'L4M offer'\n",
			[]string{"root@127.0.0.1", "refused architecture", "amd64/../../../escape/x"}, ErrProtocol},
		{"architecture with escapes", "printf 'L4M host Linux x86_64 arm64/\\033[2J\\n'\necho 'L4M offer'\n",
			[]string{"root@127.0.0.1", "refused architecture", `"arm64/\x1b[2J"`}, ErrProtocol},
		{"offer before any host line", "echo 'L4M offer'\n",
			[]string{"root@127.0.0.1", "refused mark", "offer"}, ErrProtocol},
		{"checksum as a path", "echo 'L4M host Linux x86_64 amd64'\necho 'L4M need ../../../etc/passwd'\n",
			[]string{"root@127.0.0.1", "refused checksum", "../../../etc/passwd"}, ErrProtocol},
		{"unknown mark", "echo 'L4M host Linux x86_64 amd64'\necho 'L4M exec rm -rf /'\n",
			[]string{"root@127.0.0.1", "refused mark", "exec"}, ErrProtocol},
		{"step name", "echo 'L4M host Linux x86_64 amd64'\necho 'L4M apply'\necho '{\"type\":\"step\",\"step\":\"../../x\",\"status\":\"ok\"}'\n",
			[]string{"root@127.0.0.1", "refused step name", "../../x"}, ErrProtocol},
		{"release id", "echo 'L4M host Linux x86_64 amd64'\necho 'L4M apply'\necho '{\"type\":\"summary\",\"ok\":1,\"release\":\"$(touch /tmp/x)\"}'\n",
			[]string{"root@127.0.0.1", "refused release id", `"$(touch\x20/tmp/x)"`}, ErrProtocol},
		{"status report", "echo 'L4M host Linux x86_64 amd64'\necho 'L4M apply'\necho '{\"type\":\"status\",\"release\":{\"id\":\"../x\"}}'\n",
			[]string{"root@127.0.0.1", "refused release id", "../x"}, ErrProtocol},
		{"endless line", "echo 'L4M host Linux x86_64 amd64'\necho 'L4M apply'\nexec head -c 200000000 /dev/zero\n",
			[]string{"root@127.0.0.1 sent more than 64 MiB on stdout"}, nil},
		{"endless stderr", "echo 'L4M host Linux x86_64 amd64'\nexec head -c 200000000 /dev/zero >&2\n",
			[]string{"root@127.0.0.1 sent more than 16 MiB on stderr"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Impersonate(t, "root", tc.script)
			top := t.TempDir()
			cache := filepath.Join(top, "cache")
			checkout := filepath.Join(top, "src")
			if err := os.MkdirAll(checkout, 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(checkout, "go.mod"), []byte("module "+modulePath+"\n"), 0o644)
			built := false
			src := &Checkout{Root: checkout, CacheDir: cache, Runner: noBuild{&built}}
			var out strings.Builder
			d := &Deployer{SSH: ssh, Source: src, Out: &Printer{W: &out}}
			tg, _ := ParseTarget(srv.Target("root"))
			res := d.Deploy(context.Background(), []Target{tg})[0]
			ents, _ := os.ReadDir(top)
			for _, e := range ents {
				if e.Name() != "cache" && e.Name() != "src" {
					t.Errorf("the deploy created %s outside its cache", filepath.Join(top, e.Name()))
				}
			}
			if res.Err == nil {
				t.Fatalf("Deploy = no error, want a refusal\n%s", out.String())
			}
			if tc.wantErr != nil && !errors.Is(res.Err, tc.wantErr) {
				t.Errorf("Deploy = %v, want %v", res.Err, tc.wantErr)
			}
			msg, at := res.Err.Error(), 0
			for _, w := range tc.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("Deploy error %q does not say %q (after %q)", msg, w, msg[:at])
				}
				at += i + len(w)
			}
			if strings.ContainsAny(msg, "\x1b\r\n") {
				t.Errorf("Deploy error %q holds a control character", msg)
			}
			if built {
				t.Errorf("the deployer ran a build for the host's word")
			}
		})
	}
}

// noBuild is a runner that records that it was asked to run anything.
type noBuild struct{ ran *bool }

func (n noBuild) Run(context.Context, runner.Cmd) error {
	*n.ran = true
	return errors.New("no build in this test")
}
