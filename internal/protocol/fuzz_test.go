package protocol_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/remote"
	"github.com/left4me/left4me-deploy/internal/sshdtest"
)

var hex16 = regexp.MustCompile(`^[0-9a-f]{16}$`)

// FuzzHostOutput feeds whatever a host may print (a broken or hostile one:
// stdout with "L4M " marks and JSON event lines, stderr, an exit code, a
// lost connection) to the deployer, through this package's parsing. It
// must end with a result, never panic, act only on words of the closed
// sets (an architecture, step names, a release id), print text with no
// control character that could drive the operator's terminal, and print
// JSON as one valid object per line.
func FuzzHostOutput(f *testing.F) {
	bundle, err := remote.OpenBundle(sshdtest.FakePlanBundle(f))
	if err != nil {
		f.Fatal(err)
	}
	seeds := []string{
		"L4M host Linux x86_64 amd64\nL4M apply\n{\"type\":\"step\",\"step\":\"packages\",\"status\":\"ok\"}\n{\"type\":\"summary\",\"ok\":1,\"release\":\"0123456789abcdef\"}\n",
		"L4M host Linux x86_64 amd64\nL4M apply\n{\"type\":\"start\",\"step\":\"units\"}\n{\"type\":\"diff\",\"path\":\"/etc/x\",\"diff\":\"+\\u001b[2J\"}\n",
		"L4M host Linux x86_64 amd64/../../x\nL4M offer\n", "L4M host Linux x86_64 amd64\nL4M need ../x\n",
		"L4M \n", "L4M  \n", "L4M host\n", "L4M need\n", "L4M offer\n", "L4M sudo alice\n", "L4M unsafe x\n", "L4M unsupported\n",
		"L4M apply\n{\"type\":\"log\",\"reason\":\"\\u001b]0;pwned\\u0007\"}\n{\"type\":\"\"}\nnot json\r\n",
		"L4M apply\n{\"type\":\"summary\",\"failed\":3}",
		"L4M apply\n{\"type\":\"status\",\"release\":{\"id\":\"../x\"},\"instances\":[{\"name\":\"a  b\"}]}\n{\"type\":\"summary\"}\n",
		"L4M apply\n{\"type\":\"step\",\"step\":\"../x\",\"status\":\"ok\",\"host\":\"other\"}\n",
	}
	for i, s := range seeds {
		f.Add(s, "sudo: a password is required\n", uint8(i%3), i%4 == 0, i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, stdout, stderr string, code uint8, lost, asJSON bool) {
		conn := &sshdtest.ScriptedConn{Stdout: stdout, Stderr: stderr, Code: int(code), IsLost: lost}
		var out strings.Builder
		d := &remote.Deployer{
			Source: bundle,
			Args:   protocol.HostArgs{Root: t.TempDir()},
			Out:    &remote.Printer{W: &out, JSON: asJSON},
			Dial: func(context.Context, string, remote.Target, string) (remote.Conn, error) {
				return conn, nil
			},
		}
		tg, _ := remote.ParseTarget("root@h")
		res := d.Deploy(context.Background(), []remote.Target{tg})[0]
		if asJSON {
			// The text summary table is left out of the check below: it
			// prints the error as it is (see the escaping of hostile
			// strings in output.go).
			d.Out.Summary([]remote.Result{res})
		}
		if res.Err == nil && res.Summary == nil {
			t.Fatalf("Deploy with stdout %q: no error and no summary", stdout)
		}
		if res.Arch != "" && res.Arch != protocol.ArchUnknown && protocol.CheckArch(res.Arch) != nil {
			t.Fatalf("Deploy with stdout %q took the architecture %q", stdout, res.Arch)
		}
		if res.Release != "" && !hex16.MatchString(res.Release) {
			t.Fatalf("Deploy with stdout %q took the release id %q", stdout, res.Release)
		}
		if r := res.Report; r != nil && r.Release != nil && !hex16.MatchString(r.Release.ID) {
			t.Fatalf("Deploy with stdout %q took a status with release id %q", stdout, r.Release.ID)
		}
		for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			if asJSON {
				var ev protocol.Event
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Fatalf("JSON output line %q: %v", line, err)
				}
				if ev.Step != "" && !slices.Contains(protocol.StepNames, ev.Step) && !slices.Contains([]string{"connect", "ship", "stderr"}, ev.Step) {
					t.Fatalf("JSON output line %q: step %q is none of ours", line, ev.Step)
				}
				if ev.Host != "root@h" {
					t.Fatalf("JSON output line %q: host %q, want root@h", line, ev.Host)
				}
				continue
			}
			if i := strings.IndexFunc(line, func(r rune) bool {
				return r != '\t' && (r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0))
			}); i >= 0 {
				t.Fatalf("text output line %q has control character %q", line, line[i:i+1])
			}
		}
	})
}
