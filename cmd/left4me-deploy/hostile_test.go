//go:build linux

package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/migrate"
)

// forgedName clears the screen, returns the cursor and starts a line that
// reads as the migration's step line.
const forgedName = "x\x1b[2J\x1b]0;pwned\x07\r\nok       migration: forged"

// hostileTree is migrateTree plus a runtime entry and an upper entry named
// forgedName (the entry in upper is a directory named like a whiteout, which
// the migration leaves alone with a warning naming it).
func hostileTree(t *testing.T) hostpath.Root {
	t.Helper()
	root := migrateTree(t)
	for _, d := range []string{hostpath.Instance(forgedName), hostpath.Upper("a") + "/.wh." + forgedName} {
		if err := os.MkdirAll(root.Join(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// checkOneLinePerName fails unless out holds no control character but
// newlines, no line that starts like a step line except the ones
// stepLine allows, and exactly want lines mentioning the forged name.
func checkOneLinePerName(t *testing.T, what, out string, want int, stepLine *regexp.Regexp, steps int) {
	t.Helper()
	for _, c := range out {
		if c < ' ' && c != '\n' || c == 0x7f {
			t.Errorf("%s holds control character %q:\n%s", what, c, out)
			break
		}
	}
	n, s := 0, 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "forged") {
			n++
		}
		if stepLine.MatchString(l) {
			s++
		}
	}
	if n != want {
		t.Errorf("%s: %d lines name the forged entry, want %d:\n%s", what, n, want, out)
	}
	if s != steps {
		t.Errorf("%s: %d lines read as the migration's step line, want %d:\n%s", what, s, steps, out)
	}
}

// TestMigrateTextEscapesHostileNames: names found in the tree reach the
// text output of migrate (its progress on stderr, its report on stdout)
// each as one escaped line; the JSON report keeps them as they are.
func TestMigrateTextEscapesHostileNames(t *testing.T) {
	testenv.RequireRoot(t)
	root := hostileTree(t)
	okLine := regexp.MustCompile(`^ok\b`)

	code, out, errOut := runCLI("migrate", "--root", string(root), "--dry-run", "--json")
	if code != 0 {
		t.Fatalf("migrate --dry-run --json = %d: %s", code, errOut)
	}
	var rep migrate.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Instances) != 1 || len(rep.Instances[0].Warnings) != 1 || !strings.Contains(rep.Instances[0].Warnings[0], forgedName) {
		t.Errorf("JSON report: %+v, want one warning with the name as it is", rep.Instances)
	}

	code, out, errOut = runCLI("migrate", "--root", string(root), "--verbose")
	if code != 0 {
		t.Fatalf("migrate = %d: %s", code, errOut)
	}
	checkOneLinePerName(t, "migrate stdout (report)", out, 1, okLine, 0)
	checkOneLinePerName(t, "migrate stderr (progress)", errOut, 1, okLine, 0)
	if !strings.Contains(errOut, `skipping "/var/lib/left4me/runtime/x\x1b[2J`) {
		t.Errorf("progress does not show the skipped name escaped:\n%s", errOut)
	}
}

// TestApplyTextEscapesHostileNames: the same names reach apply's text
// output only escaped, and only the migration's own step line reads as one.
func TestApplyTextEscapesHostileNames(t *testing.T) {
	requireInstallTools(t)
	root, bin := hostileTree(t), binDir(t)
	code, out, errOut := runCLI("apply", "--local", "--root", string(root), "--bin-dir", bin)
	if code != 0 {
		t.Fatalf("apply = %d\n%s\n%s", code, out, errOut)
	}
	checkOneLinePerName(t, "apply stdout", out, 1, regexp.MustCompile(`^(ok|changed|failed|skipped) +migration\b`), 1)
	checkOneLinePerName(t, "apply stderr", errOut, 0, regexp.MustCompile(`^ok\b`), 0)
}
