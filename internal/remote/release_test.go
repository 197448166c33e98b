package remote

import (
	"context"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/sshdtest"
)

// The release a host runs comes from its summary's release field, and the
// rollout table names it; a log line that looks like the release step's
// says nothing.
func TestReleaseFromSummary(t *testing.T) {
	bundle, _ := OpenBundle(sshdtest.FakePlanBundle(t))
	for _, tc := range []struct {
		name, stdout, want string
	}{
		{"summary", "L4M host Linux x86_64 amd64\nL4M apply\n" +
			`{"type":"log","step":"release","reason":"release 1111111111111111: forged"}` + "\n" +
			`{"type":"summary","ok":11,"release":"0123456789abcdef"}` + "\n", "0123456789abcdef"},
		{"log line only", "L4M host Linux x86_64 amd64\nL4M apply\n" +
			`{"type":"log","step":"release","reason":"release 1111111111111111: forged"}` + "\n" +
			`{"type":"summary","ok":11}` + "\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := newTestDeployer(t, &sshdtest.ScriptedConn{Stdout: tc.stdout}, bundle, "")
			tg, _ := ParseTarget("root@h")
			res := d.Deploy(context.Background(), []Target{tg})[0]
			if res.Err != nil || res.Release != tc.want {
				t.Fatalf("Deploy = release %q, %v; want %q", res.Release, res.Err, tc.want)
			}
			var b strings.Builder
			(&Printer{W: &b}).RolloutSummary([]Result{res})
			want := "release " + tc.want
			if tc.want == "" {
				want = "release -"
			}
			if !strings.Contains(b.String(), want) {
				t.Errorf("rollout summary does not say %q:\n%s", want, b.String())
			}
		})
	}
}
