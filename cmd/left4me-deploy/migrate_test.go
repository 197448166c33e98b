//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/migrate"
)

// migrateTree lays out one instance whose upper holds a fallback whiteout.
func migrateTree(t *testing.T) hostpath.Root {
	t.Helper()
	root := hostpath.Root(t.TempDir())
	for _, d := range []string{hostpath.Upper("a"), hostpath.Work("a"), hostpath.Merged("a")} {
		if err := os.MkdirAll(root.Join(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(root.Join(hostpath.Upper("a")+"/.wh.gone"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestMigrateCommand(t *testing.T) {
	testenv.RequireRoot(t)
	root := migrateTree(t)
	var out, errOut bytes.Buffer

	if code := run([]string{"left4me-deploy", "migrate", "--root", string(root), "--dry-run"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("migrate --dry-run = %d, stderr %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "would migrate 1 instance(s): whiteout=1 marker=1") {
		t.Errorf("dry-run output:\n%s", out.String())
	}
	if _, err := os.Lstat(root.Join(hostpath.Upper("a") + "/.wh.gone")); err != nil {
		t.Fatalf("dry run changed the tree: %v", err)
	}

	out.Reset()
	if code := run([]string{"left4me-deploy", "migrate", "--root", string(root), "--json"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("migrate --json = %d, stderr %s", code, errOut.String())
	}
	var rep migrate.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("migrate --json printed %q: %v", out.String(), err)
	}
	if len(rep.Instances) != 1 || rep.Instances[0].Counts[migrate.KindWhiteout] != 1 || !rep.Sentinel {
		t.Errorf("report = %+v", rep)
	}
	if got := rep.Instances[0].Changes[0].Path; !strings.HasPrefix(got, hostpath.Upper("a")) {
		t.Errorf("change path %q should be a host path", got)
	}
	if fi, err := os.Lstat(root.Join(hostpath.Upper("a") + "/gone")); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("gone should be a whiteout: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(string(root), migrate.ReportFile)); err != nil {
		t.Errorf("report not kept: %v", err)
	}

	out.Reset()
	if code := run([]string{"left4me-deploy", "migrate", "--root", string(root)}, nil, &out, &errOut); code != 0 {
		t.Fatalf("second migrate = %d, stderr %s", code, errOut.String())
	}
	if got := strings.TrimSpace(out.String()); got != "sentinel present, nothing to do" {
		t.Errorf("second run printed %q", got)
	}
}

func TestMigrateCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"extra argument", []string{"migrate", "now"}, "migrate takes no arguments"},
		{"no state dir", []string{"migrate", "--root", "/nonexistent/l4m-tmg"}, "open state dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"left4me-deploy"}, tc.args...), nil, &out, &errOut)
			if code == 0 || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("run(%q) = %d, stderr %q, want failure mentioning %q", tc.args, code, errOut.String(), tc.want)
			}
		})
	}
}

// The top-level usage shows the migrate command as its own usage does,
// every flag included.
func TestUsageListsMigrate(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"left4me-deploy", "--help"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("--help = %d, stderr %s", code, errOut.String())
	}
	want := migrateCommand(&env{}).UsageText
	if !strings.Contains(out.String(), want) {
		t.Errorf("left4me-deploy --help lacks %q:\n%s", want, out.String())
	}
}
