package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

// Every generated file names every verb and every flag of every verb;
// the bash completion is valid bash; generate-docs writes them all.
func TestGeneratedDocsCoverEverything(t *testing.T) {
	app := newApp(&env{})
	files, err := generatedDocs(app)
	if err != nil {
		t.Fatal(err)
	}
	var words []string
	for _, c := range visibleCommands(app) {
		words = append(words, c.Name)
		for _, f := range spellings(c.Flags) {
			words = append(words, strings.TrimLeft(f, "-"))
		}
	}
	for _, f := range spellings(app.Flags) {
		words = append(words, strings.TrimLeft(f, "-"))
	}
	// Every declared flag is on some verb.
	for _, n := range flagNames() {
		found := false
		for _, w := range words {
			found = found || w == n
		}
		if !found {
			t.Errorf("flag %q is declared but no verb takes it", n)
		}
	}
	for name, text := range files {
		for _, w := range words {
			if !strings.Contains(text, w) {
				t.Errorf("%s does not mention %q", name, w)
			}
		}
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		p := filepath.Join(t.TempDir(), "c.bash")
		os.WriteFile(p, []byte(files["bash-completion/completions/left4me-deploy"]), 0o644)
		if out, err := exec.Command(bash, "-n", p).CombinedOutput(); err != nil {
			t.Errorf("bash -n: %v\n%s", err, out)
		}
		// Completing a verb prefix offers the verb.
		script := ". " + p + "; COMP_WORDS=(left4me-deploy rol); COMP_CWORD=1; _left4me_deploy; echo \"${COMPREPLY[*]}\"; " +
			"COMP_WORDS=(left4me-deploy status --li); COMP_CWORD=2; _left4me_deploy; echo \"${COMPREPLY[*]}\""
		out, err := exec.Command(bash, "-c", script).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "rollback") || !strings.Contains(string(out), "--limit") {
			t.Errorf("bash completion: %v\n%s", err, out)
		}
	}
	dir := t.TempDir()
	if code, _, errOut := runCLIAny("generate-docs", dir); code != 0 {
		t.Fatalf("generate-docs: %d %s", code, errOut)
	}
	for name := range files {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}

func runCLIAny(args ...string) (int, string, string) {
	var out, errb strings.Builder
	code := run(append([]string{"left4me-deploy"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// The zsh and fish files parse, and fish (which can be asked what it would
// complete) completes verbs and each verb's flags, ssh's one-letter flags
// with one dash.
func TestCompletionShells(t *testing.T) {
	zsh := testenv.RequireBinary(t, "zsh", "zsh")
	fish := testenv.RequireBinary(t, "fish", "fish")
	dir := t.TempDir()
	if code, _, errOut := runCLIAny("generate-docs", dir); code != 0 {
		t.Fatalf("generate-docs: %d %s", code, errOut)
	}
	zf := filepath.Join(dir, "zsh/site-functions/_left4me-deploy")
	ff := filepath.Join(dir, "fish/vendor_completions.d/left4me-deploy.fish")
	if out, err := exec.Command(zsh, "-n", zf).CombinedOutput(); err != nil {
		t.Errorf("zsh -n: %v\n%s", err, out)
	}
	if out, err := exec.Command(fish, "-n", ff).CombinedOutput(); err != nil {
		t.Errorf("fish -n: %v\n%s", err, out)
	}
	for line, want := range map[string]string{
		"left4me-deploy rol":           "rollback\t",
		"left4me-deploy status --li":   "--limit\t",
		"left4me-deploy --max":         "--max-fail\t",
		"left4me-deploy rollback --se": "--serial\t",
		"left4me-deploy -":             "-p\t",
	} {
		out, err := exec.Command(fish, "--no-config", "-c", "source "+ff+"; complete -C '"+line+"'").CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("fish completes %q: %v\n%s\nwant %q", line, err, out, want)
		}
	}
}
