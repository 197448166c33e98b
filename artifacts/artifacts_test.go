package artifacts

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func render(t *testing.T, p Params) map[string][]byte {
	t.Helper()
	us, err := Render(p)
	if err != nil {
		t.Fatalf("Render(%+v) = %v", p, err)
	}
	m := map[string][]byte{}
	for _, u := range us {
		m[u.Name] = u.Data
	}
	return m
}

func TestRenderGolden(t *testing.T) {
	us, err := Render(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 3 || us[0].Name != hostpath.WebUnit || us[1].Name != hostpath.ServerUnit || us[2].Name != StateMountUnit {
		t.Fatalf("Render returned units %v, want web, server, state mount", us)
	}
	for _, u := range us {
		golden := filepath.Join("testdata", u.Name+".golden")
		if *update {
			if err := os.WriteFile(golden, u.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(u.Data, want) {
			t.Errorf("%s differs from %s (run go test -update):\n%s", u.Name, golden, u.Data)
		}
	}
}

func TestRenderStableNoTimestamp(t *testing.T) {
	a, b := render(t, DefaultParams()), render(t, DefaultParams())
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Fatalf("two renders of %s differ", name)
		}
		if regexp.MustCompile(`20[0-9]{2}-[0-9]{2}-[0-9]{2}`).Match(a[name]) {
			t.Fatalf("%s holds a date", name)
		}
	}
}

// directives returns the Key= settings of a unit file, in order.
func directives(unit []byte) map[string][]string {
	m := map[string][]string{}
	for _, l := range strings.Split(string(unit), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";") || strings.HasPrefix(l, "[") {
			continue
		}
		k, v, _ := strings.Cut(l, "=")
		m[k] = append(m[k], v)
	}
	return m
}

// impliesNoNewPrivileges are the settings that, per systemd.exec(5)
// (systemd 252), override NoNewPrivileges= and turn it on. The test below
// checks this list against the installed man page.
var impliesNoNewPrivileges = []string{
	"DynamicUser", "LockPersonality", "MemoryDenyWriteExecute", "PrivateDevices",
	"ProtectClock", "ProtectHostname", "ProtectKernelLogs", "ProtectKernelModules",
	"ProtectKernelTunables", "RestrictAddressFamilies", "RestrictNamespaces",
	"RestrictRealtime", "RestrictSUIDSGID", "SystemCallArchitectures",
	"SystemCallFilter", "SystemCallLog",
}

// The web unit runs sudo, which is setuid: nothing may set no_new_privs.
func TestWebUnitContract(t *testing.T) {
	web := directives(render(t, DefaultParams())[hostpath.WebUnit])
	for _, k := range append([]string{"NoNewPrivileges", "MountFlags", "PrivateUsers", "CapabilityBoundingSet", "SecureBits"}, impliesNoNewPrivileges...) {
		if v, ok := web[k]; ok {
			t.Errorf("web unit sets %s=%v; it must not (sudo is setuid, mounts go through left4me-overlay)", k, v)
		}
	}
	if got := web["PrivateTmp"]; len(got) != 1 || got[0] != "true" {
		t.Errorf("web unit PrivateTmp=%v, want true", got)
	}
	if got := web["User"]; len(got) != 1 || got[0] != hostpath.User {
		t.Errorf("web unit User=%v, want %s", got, hostpath.User)
	}
	if got := web["ExecStart"]; len(got) != 1 || got[0] != DefaultWebExec {
		t.Errorf("web unit ExecStart=%v, want %s", got, DefaultWebExec)
	}
	raw := string(render(t, DefaultParams())[hostpath.WebUnit])
	if !strings.Contains(raw, "left4me-overlay") || !strings.Contains(raw, "PID 1's mount") {
		t.Error("web unit lacks the comment on why its mount namespace does not matter")
	}
	custom := directives(render(t, Params{User: "l4m-tin-a", Group: "l4m-tin-a", WebExec: "/opt/web/bin/serve --port 8080"})[hostpath.WebUnit])
	if got := custom["ExecStart"]; len(got) != 1 || got[0] != "/opt/web/bin/serve --port 8080" {
		t.Errorf("custom ExecStart=%v", got)
	}
}

// The list above is the man page's: parse the sentence of systemd.exec(5)
// that names the settings overriding NoNewPrivileges=.
func TestImpliesListMatchesManPage(t *testing.T) {
	const page = "/usr/share/man/man5/systemd.exec.5.gz"
	f, err := os.Open(page)
	if err != nil {
		testenv.Skip(t, "needs %s (Debian package systemd): %v", page, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	text := string(raw)
	start := strings.Index(text, "certain settings override this")
	if start < 0 {
		t.Fatal("man page lacks the NoNewPrivileges= override sentence")
	}
	end := strings.Index(text[start:], "are specified")
	if end < 0 {
		t.Fatal("man page override sentence has no end")
	}
	var fromMan []string
	for _, m := range regexp.MustCompile(`\\fI([A-Za-z]+)=\\fR`).FindAllStringSubmatch(text[start:start+end], -1) {
		fromMan = append(fromMan, m[1])
	}
	want := append([]string(nil), impliesNoNewPrivileges...)
	sort.Strings(fromMan)
	sort.Strings(want)
	if strings.Join(fromMan, ",") != strings.Join(want, ",") {
		t.Fatalf("systemd.exec(5) lists %v, the test checks %v", fromMan, want)
	}
}

func TestServerUnitContract(t *testing.T) {
	s := directives(render(t, DefaultParams())[hostpath.ServerUnit])
	want := map[string]string{
		"User":                   hostpath.User,
		"Group":                  hostpath.Group,
		"WorkingDirectory":       hostpath.RuntimeDir + "/%i/merged",
		"ExecStart":              hostpath.L4d2ctl + " run %i",
		"AssertPathIsMountPoint": hostpath.RuntimeDir + "/%i/merged",
		"Restart":                "on-failure",
	}
	for k, v := range want {
		if got := s[k]; len(got) != 1 || got[0] != v {
			t.Errorf("server unit %s=%v, want %s", k, got, v)
		}
	}
	// systemd would read an EnvironmentFile= on the hostile tree as root,
	// following symlinks.
	if got, ok := s["EnvironmentFile"]; ok {
		t.Errorf("server unit EnvironmentFile=%v: instance.env must be read as the unit's user", got)
	}
	if _, ok := s["MountFlags"]; ok {
		t.Error("server unit sets MountFlags=")
	}
}

func TestRenderRejects(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		want error
	}{
		{"relative web exec", Params{User: "a", Group: "a", WebExec: "web --x"}, ErrBadWebExec},
		{"empty web exec", Params{User: "a", Group: "a", WebExec: " "}, ErrBadWebExec},
		{"newline in web exec", Params{User: "a", Group: "a", WebExec: "/bin/web\nExecStartPre=/bin/sh"}, ErrBadWebExec},
		{"bad user", Params{User: "a b", Group: "a", WebExec: "/bin/web"}, ErrBadAccount},
		{"newline in group", Params{User: "a", Group: "a\nUser=root", WebExec: "/bin/web"}, ErrBadAccount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Render(tt.p); !errors.Is(err, tt.want) {
				t.Fatalf("Render(%+v) = %v, want %v", tt.p, err, tt.want)
			}
		})
	}
}

func writeUnits(t *testing.T, p Params) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for name, data := range render(t, p) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	sort.Strings(paths)
	return paths
}

// Every rendered unit passes the real systemd-analyze verify without a
// single complaint when the web app exists, but for l4d2ctl, which the
// server unit runs, where this machine has not installed it.
func TestVerifyRealSystemdAnalyze(t *testing.T) {
	testenv.RequireBinary(t, SystemdAnalyze, "systemd")
	p := DefaultParams()
	p.WebExec = "/bin/true --serve"
	ctlMissing := MissingProgram(hostpath.ServerUnit, hostpath.L4d2ctl)
	warnings, err := Verify(context.Background(), runner.Exec{}, writeUnits(t, p), ctlMissing)
	if err != nil {
		t.Fatalf("Verify(rendered units) = %q, %v; want no complaint", warnings, err)
	}
	if _, err := os.Stat(hostpath.L4d2ctl); err == nil && len(warnings) != 0 {
		t.Fatalf("Verify(rendered units) with %s installed = %q; want no complaint", hostpath.L4d2ctl, warnings)
	}
}

func TestMissingProgram(t *testing.T) {
	const tail = ": Command /usr/local/bin/l4d2ctl is not executable: No such file or directory"
	tmpl := MissingProgram("left4me-server@.service", "/usr/local/bin/l4d2ctl")
	plain := MissingProgram("left4me-web.service", "/usr/local/bin/l4d2ctl")
	for _, tt := range []struct {
		line        string
		tmpl, plain bool
	}{
		{"left4me-server@i.service" + tail, true, false},
		{"left4me-server@.service" + tail, true, false},
		{"left4me-serverX@i.service" + tail, false, false},
		{"left4me-web.service" + tail, false, true},
		{"left4me-server@i.service: Command /bin/sh is not executable: No such file or directory", false, false},
		{"left4me-server@i.service" + tail + " and more", false, false},
	} {
		if got := tmpl(tt.line); got != tt.tmpl {
			t.Errorf("MissingProgram(template)(%q) = %v, want %v", tt.line, got, tt.tmpl)
		}
		if got := plain(tt.line); got != tt.plain {
			t.Errorf("MissingProgram(web)(%q) = %v, want %v", tt.line, got, tt.plain)
		}
	}
}

// With the default web app not installed, the only complaint is about that
// program, and MissingProgram tolerates exactly it.
func TestVerifyToleratesOnlyMissingWebApp(t *testing.T) {
	testenv.RequireBinary(t, SystemdAnalyze, "systemd")
	if _, err := os.Stat(DefaultWebExec); err == nil {
		t.Skipf("%s exists on this machine", DefaultWebExec)
	}
	paths := writeUnits(t, DefaultParams())
	if _, err := Verify(context.Background(), runner.Exec{}, paths, nil); err == nil {
		t.Fatal("Verify without tolerance accepted a unit whose program is missing")
	}
	ctlMissing := MissingProgram(hostpath.ServerUnit, hostpath.L4d2ctl)
	warnings, err := Verify(context.Background(), runner.Exec{}, paths, AnyOf(MissingProgram(hostpath.WebUnit, DefaultWebExec), ctlMissing))
	web := 0
	for _, w := range warnings {
		if !ctlMissing(w) {
			web++
		}
	}
	if err != nil || web != 1 {
		t.Fatalf("Verify(tolerating the web app) = %q, %v; want one warning about it", warnings, err)
	}
}

// A unit systemd-analyze only warns about (an unknown key, exit 0) fails.
func TestVerifyFailsOnWarning(t *testing.T) {
	testenv.RequireBinary(t, SystemdAnalyze, "systemd")
	path := filepath.Join(t.TempDir(), "left4me-bad.service")
	os.WriteFile(path, []byte("[Service]\nExecStart=/bin/true\nNoSuchKey=1\n"), 0o644)
	if out, _ := exec.Command(SystemdAnalyze, "verify", path).CombinedOutput(); !strings.Contains(string(out), "NoSuchKey") {
		t.Fatalf("systemd-analyze did not complain about NoSuchKey: %s", out)
	}
	if _, err := Verify(context.Background(), runner.Exec{}, []string{path}, nil); err == nil || !strings.Contains(err.Error(), "NoSuchKey") {
		t.Fatalf("Verify(unknown key) = %v, want the complaint", err)
	}
}
