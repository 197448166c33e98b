package version

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

func TestFromBuildInfo(t *testing.T) {
	cases := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"no vcs", debug.BuildInfo{GoVersion: "go1.26.8"}, "(devel) commit unknown (go1.26.8)"},
		{"clean", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "84c64f48d21e0b6df352d200d8ebeddfda3b0453"}, {Key: "vcs.modified", Value: "false"}}},
			"v1.2.3 commit 84c64f48d21e (go1.26.8)"},
		{"dirty", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261130045512-84c64f48d21e+dirty"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "84c64f48d21e0b6df352d200d8ebeddfda3b0453"}, {Key: "vcs.modified", Value: "true"}}},
			"v0.0.0-20261130045512-84c64f48d21e+dirty commit 84c64f48d21e+dirty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := FromBuildInfo(&c.bi).String(); got != c.want {
				t.Errorf("FromBuildInfo(%s).String() = %q, want %q", c.name, got, c.want)
			}
		})
	}
}

func TestIsFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"--version"}, true},
		{[]string{"-version"}, false},
		{[]string{"--version", "x"}, false},
		{[]string{"mount", "--version"}, false},
		{nil, false},
	} {
		if got := IsFlag(c.args); got != c.want {
			t.Errorf("IsFlag(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}

var commands = []string{"left4me-deploy", "left4me-overlay", "left4me-systemctl", "left4me-journalctl", "l4d2ctl"}

// TestCommandsPrintVersion builds every command from a git repository made
// of this module's files, once with the flags of scripts/dist and once as
// a plain go build under GOFLAGS=-buildvcs=false (as this machine sets it)
// plus the same flags, and checks that each prints the repository's commit
// for --version, with the same bytes both ways.
func TestCommandsPrintVersion(t *testing.T) {
	testenv.RequireBinary(t, "git", "git")
	gobin := testenv.RequireBinary(t, "go", "golang (the Go toolchain)")
	src := moduleRoot(t)
	repo := t.TempDir()
	copyModule(t, src, repo)
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	if fi, err := os.Stat(filepath.Join(repo, ".git")); err != nil || !fi.IsDir() {
		t.Fatalf("git init %s made no .git directory (%v)", repo, err)
	}
	git("add", "-A")
	git("commit", "-q", "-m", "release")
	head := git("rev-parse", "HEAD")

	// The flags of scripts/dist, read from the script itself.
	script, err := os.ReadFile(filepath.Join(src, "scripts", "dist"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "-buildvcs=true") {
		t.Fatalf("scripts/dist does not pass -buildvcs=true")
	}
	build := func(out string, env ...string) {
		t.Helper()
		cmd := exec.Command(gobin, "build", "-trimpath", "-buildvcs=true", "-ldflags=-s -w -buildid=", "-o", out+"/", "./cmd/...")
		cmd.Dir = repo
		cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, b)
		}
	}
	a, b := t.TempDir(), t.TempDir()
	build(a, "GOFLAGS=")
	build(b, "GOFLAGS=-buildvcs=false")
	want := regexp.MustCompile(`^(\S+) v0\.0\.0-\d{14}-` + head[:12] + ` commit ` + head[:12] + ` \(go[0-9.]+\)\n$`)
	for _, name := range commands {
		out, err := exec.Command(filepath.Join(a, name), "--version").CombinedOutput()
		if err != nil {
			t.Errorf("%s --version: %v\n%s", name, err, out)
			continue
		}
		if m := want.FindStringSubmatch(string(out)); m == nil || m[1] != name {
			t.Errorf("%s --version = %q, want %q", name, out, want)
		}
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		if string(x) != string(y) {
			t.Errorf("%s differs between a build with GOFLAGS= and one with GOFLAGS=-buildvcs=false", name)
		}
	}
	// A modified checkout says so.
	if err := os.WriteFile(filepath.Join(repo, "internal", "instance", "extra.go"), []byte("package instance\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := t.TempDir()
	build(c, "GOFLAGS=")
	out, _ := exec.Command(filepath.Join(c, "l4d2ctl"), "--version").CombinedOutput()
	if !strings.Contains(string(out), "commit "+head[:12]+"+dirty") {
		t.Errorf("l4d2ctl --version from a modified checkout = %q, want commit %s+dirty", out, head[:12])
	}
}

func moduleRoot(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

// copyModule copies the module's source files (no .git, no build output).
func copyModule(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		name := d.Name()
		if d.IsDir() {
			if p != src && (strings.HasPrefix(name, ".") || name == "bin" || name == "dist" || name == "tests") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() || strings.HasPrefix(name, ".") {
			return nil // .git of a worktree is a file: never copy it
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy the module: %v", err)
	}
}
