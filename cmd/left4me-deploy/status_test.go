package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/daytwo"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/release"
	"github.com/left4me/left4me-deploy/internal/remote"
	"github.com/left4me/left4me-deploy/internal/sshdtest"
)

// The exit status sums up every host: failure outranks a host unlike its
// record, which outranks drift.
func TestStatusExitCodes(t *testing.T) {
	inSync := &protocol.HostStatus{Web: "active"}
	drift := &protocol.HostStatus{Web: "active", Drift: []protocol.Drift{{Step: "units", Reason: "would install x"}}}
	webDown := &protocol.HostStatus{Web: "failed"}
	diverged := &protocol.HostStatus{Web: "active", Recorded: &protocol.Recorded{StaleUnits: []string{"left4me-web.service"}}}
	cases := []struct {
		name string
		rows []statusRow
		want int
	}{
		{"all in sync", []statusRow{{Status: inSync}, {Status: inSync}}, daytwo.ExitInSync},
		{"one drifted", []statusRow{{Status: inSync}, {Status: drift}}, daytwo.ExitDrift},
		{"one unreachable", []statusRow{{Status: drift}, {Error: "host unreachable"}}, daytwo.ExitHostFailed},
		{"one diverged from its record", []statusRow{{Status: drift}, {Status: diverged}, {Status: inSync}}, daytwo.ExitDiverged},
		{"diverged and unreachable", []statusRow{{Status: diverged}, {Error: "host unreachable"}}, daytwo.ExitHostFailed},
		{"web app not active", []statusRow{{Status: webDown}}, daytwo.ExitHostFailed},
		{"a step could not be checked", []statusRow{{Status: &protocol.HostStatus{Web: "active", Failed: []protocol.Drift{{Step: "preflight"}}}}}, daytwo.ExitHostFailed},
	}
	for _, c := range cases {
		for i := range c.rows {
			c.rows[i].Host = "h"
			c.rows[i].Result = daytwo.Judge(c.rows[i].Status, c.rows[i].Error)
		}
		var out bytes.Buffer
		err := printStatus(&out, c.rows, false)
		got := 0
		var ee exitError
		if errors.As(err, &ee) {
			got = ee.code
		}
		if got != c.want {
			t.Errorf("%s: exit %d, want %d\n%s", c.name, got, c.want, out.String())
		}
	}
}

// A web unit that is not active is named under the table with its reason,
// and without one with its state.
func TestStatusWebReason(t *testing.T) {
	rows := []statusRow{
		{Host: "h1", Status: &protocol.HostStatus{Web: "inactive", WebReason: "left4me-web.service is inactive (dead), result success: a deploy starts it"}},
		{Host: "h2", Status: &protocol.HostStatus{Web: "failed"}},
		{Host: "h3", Status: &protocol.HostStatus{Web: "active"}},
	}
	for i := range rows {
		rows[i].Result = daytwo.Judge(rows[i].Status, rows[i].Error)
	}
	var out bytes.Buffer
	err := printStatus(&out, rows, false)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != daytwo.ExitHostFailed {
		t.Fatalf("printStatus = %v, want exit %d", err, daytwo.ExitHostFailed)
	}
	for _, w := range []string{"h1: web: left4me-web.service is inactive (dead), result success: a deploy starts it\n", "h2: web: left4me-web.service is failed\n"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("status output lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), "h3: web") {
		t.Errorf("status names the web unit of a host where it is active:\n%s", out.String())
	}
}

// statusJSON runs status --json and returns its exit code and rows.
func statusJSON(t *testing.T, args ...string) (int, []statusRow, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"left4me-deploy", "status", "--json"}, args...), strings.NewReader(""), &out, &errb)
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l != "" {
			checkSchema(t, l)
		}
	}
	var rows []statusRow
	dec := json.NewDecoder(&out)
	for dec.More() {
		var r statusRow
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("status --json printed a line that is not a row: %v\n%s", err, out.String())
		}
		rows = append(rows, r)
	}
	return code, rows, errb.String()
}

// status over real sshd: drift before the deploy, the release after it,
// drift after a hand edit, in sync after a redeploy, one connection per
// host; an unreachable host; rollback with one release only.
func testStatusAndRollback(t *testing.T, bundle string) {
	srv := sshdtest.Start(t)
	root := t.TempDir()
	host := srv.Target("root")
	base := append(srv.SSHFlags(), "--bundle", bundle, "--root", root)

	code, rows, stderr := statusJSON(t, append(base, host)...)
	if code != daytwo.ExitDrift || len(rows) != 1 || rows[0].Status == nil || len(rows[0].Status.Drift) == 0 || rows[0].Status.Release != nil {
		t.Fatalf("status of a fresh root: exit %d, %+v\n%s", code, rows, stderr)
	}
	if files := filesUnder(t, root); len(files) != 0 {
		t.Fatalf("status wrote %v", files)
	}

	if r := deployJSON(t, []*sshdtest.Server{srv}, append(base, host)...); r.code != 0 {
		t.Fatalf("deploy: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	before := srv.Connections(t)
	code, rows, stderr = statusJSON(t, append(base, host)...)
	if srv.Connections(t)-before != 1 {
		t.Errorf("status opened %d connections, want 1", srv.Connections(t)-before)
	}
	st := rows[0].Status
	if code != daytwo.ExitInSync || st == nil || st.Release == nil || len(st.Drift) != 0 {
		t.Fatalf("status after the deploy: exit %d, %+v\n%s", code, rows, stderr)
	}
	if st.Release.By != workstation() || st.Release.Kind != release.KindDeploy || len(st.Release.Files) < 7 {
		t.Errorf("recorded release %+v, want by %s with every file", st.Release, workstation())
	}

	f, err := os.OpenFile(filepath.Join(root, hostpath.SudoersFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("# hand edit\n")
	f.Close()
	var out, errb bytes.Buffer
	code = run(append([]string{"left4me-deploy", "status"}, append(base, host)...), strings.NewReader(""), &out, &errb)
	// Both questions: the host no longer runs what it recorded (exit 5
	// outranks drift), and a deploy from here would change the file.
	if code != daytwo.ExitDiverged || !strings.Contains(out.String(), host+": drift: sudoers: would install "+hostpath.SudoersFile) ||
		!strings.Contains(out.String(), host+": recorded: installed files differ from the newest record: "+hostpath.SudoersFile) {
		t.Fatalf("status after a hand edit: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	// The history no longer says what is installed: rollback refuses.
	out.Reset()
	errb.Reset()
	code = run(append([]string{"left4me-deploy", "rollback"}, append(base, host)...), strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "not the newest recorded release") || !strings.Contains(out.String(), hostpath.SudoersFile) {
		t.Fatalf("rollback after a hand edit: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if r := deployJSON(t, []*sshdtest.Server{srv}, append(base, host)...); r.code != 0 {
		t.Fatalf("redeploy: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if code, rows, stderr = statusJSON(t, append(base, host)...); code != daytwo.ExitInSync {
		t.Fatalf("status after the redeploy: exit %d, %+v\n%s", code, rows, stderr)
	}

	// One release only (the repair recorded the same one): rollback has
	// nowhere to go and changes nothing.
	hist := filepath.Join(root, release.HistoryFile)
	was, _ := os.ReadFile(hist)
	out.Reset()
	errb.Reset()
	code = run(append([]string{"left4me-deploy", "rollback"}, append(base, host)...), strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "no previous release") || !strings.Contains(out.String(), "nothing changed") {
		t.Fatalf("rollback with one release: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if now, _ := os.ReadFile(hist); !bytes.Equal(now, was) {
		t.Fatalf("a refused rollback wrote the history")
	}
	// Failed summaries name the release the host runs, not "-": the
	// refused rollback, and a deploy whose plan fails (a directory where
	// the sudoers file goes).
	running := "release " + st.Release.ID
	if !strings.Contains(out.String(), running) || strings.Contains(out.String(), "release -") {
		t.Errorf("the refused rollback's summary does not name %s:\n%s", running, out.String())
	}
	sudoers := filepath.Join(root, hostpath.SudoersFile)
	if err := os.Remove(sudoers); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(sudoers, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code = run(append([]string{"left4me-deploy"}, append(base, host)...), strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "FAILED") || !strings.Contains(out.String(), running) || strings.Contains(out.String(), "release -") {
		t.Errorf("a failed deploy: exit %d, want 1 and a summary naming %s:\n%s", code, running, out.String())
	}
	r := deployJSON(t, []*sshdtest.Server{srv}, append(base, host)...)
	if s := r.summary(t, host); r.code != 1 || !strings.Contains(r.stdout, `"release":"`+st.Release.ID+`"`) || s.Status != "failed" {
		t.Errorf("a failed deploy in JSON: exit %d, want 1 and release %s in its summary:\n%s", r.code, st.Release.ID, r.stdout)
	}
	if err := os.RemoveAll(sudoers); err != nil {
		t.Fatal(err)
	}
	if r := deployJSON(t, []*sshdtest.Server{srv}, append(base, host)...); r.code != 0 {
		t.Fatalf("the deploy after the repair: exit %d\n%s", r.code, r.stdout)
	}

	// A host nobody listens on: exit 4, and the other host still reported.
	code, rows, _ = statusJSON(t, append(base, host, "root@127.0.0.1:1")...)
	if code != daytwo.ExitHostFailed || len(rows) != 2 || rows[0].Result != "in-sync" || rows[1].Result != "failed" || !strings.Contains(rows[1].Error, remote.ErrUnreachable.Error()) {
		t.Fatalf("status with an unreachable host: exit %d, %+v", code, rows)
	}
}

// ssh flags before the verb count as after it.
func TestStatusTopLevelFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-p", "1", "-F", "/dev/null", "-o", "ConnectTimeout=2", "status", "--json", "--bundle", sshdtest.FakePlanBundle(t), "root@127.0.0.1"},
		{"status", "-p1", "-F/dev/null", "--json", "--bundle", sshdtest.FakePlanBundle(t), "root@127.0.0.1"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"left4me-deploy"}, args...), strings.NewReader(""), &out, &errb)
		if code != daytwo.ExitHostFailed || !strings.Contains(out.String(), "port 1") {
			t.Errorf("run %q = %d, want %d and a refused connection to port 1\n%s\n%s", args, code, daytwo.ExitHostFailed, out.String(), errb.String())
		}
	}
}
