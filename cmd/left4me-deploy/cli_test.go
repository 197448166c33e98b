//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/left4me/left4me-deploy/internal/sshdtest"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// fakeSSH puts an ssh on PATH that records every call in a file and acts
// as ssh -G would for a name no ssh_config knows; any other call (a
// connection) fails as an unreachable host does. It returns the log.
func fakeSSH(t *testing.T) func() []string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	script := `#!/bin/sh
printf '%s\n' "$*" >>` + log + `
if [ "$1" = -G ]; then
  for a; do name=$a; done
  echo "host $name"; echo "hostname $name"; echo "user root"; echo "port 22"
  exit 0
fi
echo "ssh: connect to host x port 22: Connection refused" >&2
exit 255
`
	if err := os.WriteFile(filepath.Join(dir, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return func() []string {
		b, _ := os.ReadFile(log)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
}

// connections are the recorded ssh calls that are not ssh -G.
func connections(calls []string) []string {
	var out []string
	for _, c := range calls {
		if c != "" && !strings.HasPrefix(c, "-G ") {
			out = append(out, c)
		}
	}
	return out
}

// A mistyped verb, or any word that is not a host, is refused before any
// connection: the ssh on PATH is only ever asked "ssh -G" (which reads the
// configuration and connects to nothing).
func TestTypoReachesNoHost(t *testing.T) {
	calls := fakeSSH(t)
	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, []byte("root@a.example\nstaus\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bundle := sshdtest.FakePlanBundle(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"rolback", "root@h"}, `"rolback" is not a verb; did you mean "rollback"?`},
		{[]string{"help", "rolback"}, `help: "rolback" is not a verb; did you mean "rollback"?`},
		{[]string{"--bundle", bundle, "root@a.example", "stauts"}, `did you mean "status"?`},
		{[]string{"status", "--bundle", bundle, "root@a.example", "rollbak"}, `did you mean "rollback"?`},
		{[]string{"rollback", "--bundle", bundle, "-n", "game"}, `"game" is not a verb, and not a host`},
		{[]string{"--bundle", bundle, "--hosts", hosts}, hosts + `: "staus" is not a verb; did you mean "status"?`},
		{[]string{"aply", "--local"}, `did you mean "apply"?`},
		{[]string{"deploy", "root@h"}, `"deploy" is not a verb: a deploy takes no verb`},
		{[]string{"deplyo", "root@h"}, `"deplyo" is not a verb: a deploy takes no verb`},
		{[]string{"--bundle", bundle, "--hosts", hosts, "--limit", "nosuch"}, `"staus" is not a verb`},
	} {
		code, out, errOut := runCLI(c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 || out != "" {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want 2 and one line with %q", c.args, code, errOut, out, c.want)
		}
		if !strings.Contains(errOut, "--help)") {
			t.Errorf("%q: the usage error does not point to --help: %q", c.args, errOut)
		}
	}
	// help is a verb, also before another verb.
	code, out, errOut := runCLI("help", "status")
	if code != 0 || !strings.Contains(out, "left4me-deploy status - show each host") {
		t.Errorf("help status: exit %d\n%s\n%s", code, out, errOut)
	}
	if conns := connections(calls()); len(conns) != 0 {
		t.Fatalf("ssh was run to connect: %q", conns)
	}
	// The same list without the typo does connect: the check is what
	// stopped them.
	code, _, _ = runCLI("--bundle", bundle, "root@a.example", "b.example")
	if code != 1 || len(connections(calls())) == 0 {
		t.Fatalf("a good host list: exit %d, connections %q; want an attempt that fails", code, connections(calls()))
	}
}

// A bare word the operator's ssh configuration does not know is refused
// (remote.TestSSHAliases has the cases).
func TestSSHConfigAliases(t *testing.T) {
	testenv.RequireBinary(t, "ssh", "openssh-client")
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(cfg, []byte("Host game1\n  HostName 127.0.0.1\nHost *\n  BatchMode yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI("-F", cfg, "game")
	if code != 2 || !strings.Contains(errOut, `"game" is not a verb, and not a host`) {
		t.Errorf("-F cfg game: exit %d, %q", code, errOut)
	}
}

func TestNearestVerb(t *testing.T) {
	for word, want := range map[string]string{
		"rolback": "rollback", "rollbakc": "rollback", "stauts": "status", "statsu": "status", "aply": "apply",
		"hlep": "help", "migrat": "migrate", "rendr": "render", "game1": "", "deploy": "", "hel": "help", "x": "",
	} {
		if got := nearestVerb(word); got != want {
			t.Errorf("nearestVerb(%q) = %q, want %q", word, got, want)
		}
	}
}

// Usage errors: exit 2, one line on stderr naming the fix and the help;
// nothing on stdout.
func TestUsageErrors(t *testing.T) {
	calls := fakeSSH(t)
	for _, args := range [][]string{
		{},
		{"--bogus"},
		{"status", "--bogus", "root@h"},
		{"rollback", "--serial", "x", "root@h"},
		{"--parallel", "0", "root@h"},
		{"--max-fail", "-1", "root@h"},
		{"status"},
		{"apply"},
		{"render"},
		{"migrate", "extra"},
		{"apply", "--local", "extra"},
		{"apply", "--local", "--live", "bogus"},
		{"render", "/"},
		{"rollback", "--local", "root@h"},
		{"help", "a", "b"},
		{"--limit", "[", "root@h"},
	} {
		code, out, errOut := runCLI(args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "left4me-deploy: ") || !strings.HasSuffix(errOut, " --help)\n") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2, nothing on stdout and one line on stderr ending in where the help is", args, code, out, errOut)
		}
	}
	if conns := connections(calls()); len(conns) != 0 {
		t.Fatalf("ssh was run to connect: %q", conns)
	}
}

// The help of every verb: no "(default: false)" on switches, no second
// default, -n for dry-run wherever it is taken, and every flag of the verb
// in its usage lines.
func TestHelpText(t *testing.T) {
	app := newApp(&env{})
	texts := map[string]string{}
	_, out, _ := runCLI("--help")
	texts["deploy"] = out
	for _, c := range app.Commands {
		_, out, _ := runCLI(c.Name, "--help")
		texts[c.Name] = out
		for _, f := range c.Flags {
			if f.Names()[0] == "dry-run" && !strings.Contains(strings.Join(f.Names(), " "), "n") {
				t.Errorf("%s --dry-run has no -n", c.Name)
			}
		}
	}
	for verb, text := range texts {
		for _, bad := range []string{"(default: false)", ") (default: ", "(default: 0)"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s --help has %q:\n%s", verb, bad, text)
			}
		}
	}
	for _, verb := range []string{"status", "rollback"} {
		usage := texts[verb][strings.Index(texts[verb], "USAGE:"):strings.Index(texts[verb], "DESCRIPTION:")]
		for _, f := range []string{"--bundle", "--parallel", "--hosts", "--limit", "--json"} {
			if !strings.Contains(usage, f) {
				t.Errorf("%s usage lines lack %s:\n%s", verb, f, usage)
			}
		}
	}
	for _, f := range app.Flags {
		if f.Names()[0] == "dry-run" && !strings.Contains(texts["deploy"], "--dry-run, -n") {
			t.Errorf("deploy --help lacks -n:\n%s", texts["deploy"])
		}
	}
	var _ cli.Flag = flagDefs["dry-run"]()
}

// The refusal docs/remote.md shows is what the program prints.
func TestDocsShowTheRefusal(t *testing.T) {
	fakeSSH(t)
	b, err := os.ReadFile("../../docs/remote.md")
	if err != nil {
		t.Fatal(err)
	}
	const cmd = "$ left4me-deploy rolback root@game1\n"
	doc := string(b)
	i := strings.Index(doc, cmd)
	if i < 0 {
		t.Fatalf("docs/remote.md lacks %q", cmd)
	}
	shown, _, _ := strings.Cut(doc[i+len(cmd):], "\n```")
	code, out, errOut := runCLI("rolback", "root@game1")
	if got := fmt.Sprintf("%s%s(exit %d)", out, errOut, code); got != shown {
		t.Errorf("docs/remote.md shows\n%s\nthe program prints\n%s", shown, got)
	}
}
