package remote

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/sshdtest"
)

// FuzzHostOutput feeds whatever a host may print (a broken or hostile one:
// stdout with "L4M " marks and JSON event lines, stderr, an exit code, a
// lost connection) to the deployer. It must end with a result, never
// panic, print text with no control character that could drive the
// operator's terminal, and print JSON as one valid object per line.
func FuzzHostOutput(f *testing.F) {
	bundle, err := OpenBundle(sshdtest.FakePlanBundle(f))
	if err != nil {
		f.Fatal(err)
	}
	seeds := []string{
		"L4M host Linux x86_64 amd64\nL4M apply\n{\"type\":\"step\",\"step\":\"packages\",\"status\":\"ok\"}\n{\"type\":\"summary\",\"ok\":1}\n",
		"L4M host Linux x86_64 amd64\nL4M apply\n{\"type\":\"start\",\"step\":\"units\"}\n{\"type\":\"diff\",\"path\":\"/etc/x\",\"diff\":\"+\\u001b[2J\"}\n",
		"L4M \n", "L4M  \n", "L4M host\n", "L4M need\n", "L4M offer\n", "L4M sudo alice\n", "L4M unsafe x\n", "L4M unsupported\n",
		"L4M apply\n{\"type\":\"log\",\"reason\":\"\\u001b]0;pwned\\u0007\"}\n{\"type\":\"\"}\nnot json\r\n",
		"L4M apply\n{\"type\":\"summary\",\"failed\":3}",
	}
	for i, s := range seeds {
		f.Add(s, "sudo: a password is required\n", uint8(i%3), i%4 == 0, i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, stdout, stderr string, code uint8, lost, asJSON bool) {
		conn := &scriptedConn{stdout: stdout, stderr: stderr, code: int(code), lost: lost}
		d, out := newTestDeployer(t, conn, bundle, "")
		d.Out.JSON = asJSON
		tg, _ := ParseTarget("root@h")
		res := d.Deploy(context.Background(), []Target{tg})[0]
		if asJSON {
			// The text summary table is left out of the check below: it
			// prints the error as it is (see the escaping of hostile
			// strings in output.go).
			d.Out.Summary([]Result{res})
		}
		if res.Err == nil && res.Summary == nil {
			t.Fatalf("Deploy with stdout %q: no error and no summary", stdout)
		}
		for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			if asJSON {
				var ev map[string]any
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Fatalf("JSON output line %q: %v", line, err)
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
