//go:build linux

package overlay

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/overlayclient"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

const (
	sudoTestUser    = "l4m-tov-web"
	sudoTestSudoers = "/etc/sudoers.d/left4me-test-overlay"
)

// asUser runs every command as another user (setpriv), with a fixed
// environment: the hostile web user's view of SudoMounter.
type asUser struct {
	uid, gid int
	env      []string
}

func (a asUser) Run(ctx context.Context, c runner.Cmd) error {
	c.Argv = append([]string{"setpriv", "--reuid=" + strconv.Itoa(a.uid), "--regid=" + strconv.Itoa(a.gid), "--clear-groups", "--"}, c.Argv...)
	c.Env = a.env
	return runner.Exec{}.Run(ctx, c)
}

// TestSudoMounterRealSudo drives SudoMounter through real sudo as an
// unprivileged user, the way l4d2ctl runs it from the web app. The sudoers
// rule deliberately keeps the test-only variables (a misconfiguration the
// helper must survive): LEFT4ME_ROOT points at a decoy tree and print-only is
// on, yet the helper, seeing it runs under sudo, mounts the real
// /var/lib/left4me (a tmpfs in this test's namespace) and ignores both.
func TestSudoMounterRealSudo(t *testing.T) {
	testenv.RequireNamespace(t)
	testenv.RequireBinary(t, "sudo", "sudo")
	visudo := testenv.RequireBinary(t, "visudo", "sudo")
	testenv.RequireBinary(t, "setpriv", "util-linux")
	testenv.RequireBinary(t, "useradd", "passwd")
	helper := helperBin(t)
	if err := os.Chmod(filepath.Dir(helper), 0o755); err != nil {
		t.Fatal(err)
	}

	uid, gid := testenv.AddUser(t, sudoTestUser, "")

	rules := "Defaults:" + sudoTestUser + ` env_keep += "LEFT4ME_ROOT LEFT4ME_OVERLAY_PRINT LEFT4ME_OVERLAY_MOUNTNS"` + "\n" +
		sudoTestUser + " ALL=(root) NOPASSWD: " + helper + "-mount, " + helper + "-umount\n"
	writeEntryPoints(t, helper)
	tmp := filepath.Join(t.TempDir(), "sudoers")
	writeFile(t, tmp, rules)
	if out, err := exec.Command(visudo, "-cf", tmp).CombinedOutput(); err != nil {
		t.Fatalf("visudo -cf: %v\n%s", err, out)
	}
	if err := os.WriteFile(sudoTestSudoers, []byte(rules), 0o440); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sudoTestSudoers) })

	privateHostDirs(t)
	state := "/var/lib/left4me"
	for _, d := range []string{"installation", "runtime/s1/upper", "runtime/s1/work", "runtime/s1/merged",
		"runtime/s2/upper", "runtime/s2/work", "runtime/s2/merged"} {
		mkdir(t, filepath.Join(state, d))
	}
	writeFile(t, filepath.Join(state, "installation/srcds_run"), "game\n")
	writeSentinel(t, state)
	for _, n := range []string{"s1", "s2"} {
		writeFile(t, filepath.Join(state, "runtime", n, "instance.env"), "LOWERDIRS=/var/lib/left4me/installation\n")
	}
	if out, err := exec.Command("chown", "-R", sudoTestUser+":"+sudoTestUser, state).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	if err := os.Chmod(state, 0o750); err != nil {
		t.Fatal(err)
	}
	decoy := newFixture(t)
	decoy.instance("s1", "/var/lib/left4me/installation")

	m := overlayclient.SudoMounter{
		Runner: asUser{int(uid), int(gid), []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LEFT4ME_ROOT=" + decoy.root, "LEFT4ME_OVERLAY_PRINT=1"}},
		Helper: helper,
	}
	ctx := context.Background()
	merged := filepath.Join(state, "runtime/s1/merged")
	if err := m.Mount(ctx, "s1"); err != nil {
		t.Fatalf("SudoMounter.Mount: %v", err)
	}
	if ms := mountsUnder(t, "self", merged); len(ms) != 1 || ms[0].Source != "left4me-s1" {
		t.Fatalf("mounts at %s = %+v, want the helper's overlay", merged, ms)
	}
	if got := readFile(t, filepath.Join(merged, "srcds_run")); got != "game\n" {
		t.Errorf("merged/srcds_run = %q", got)
	}
	if ms := mountsUnder(t, "self", decoy.root); len(ms) != 0 {
		t.Errorf("the decoy LEFT4ME_ROOT was used: %+v", ms)
	}
	if err := m.Unmount(ctx, "s1"); err != nil {
		t.Fatalf("SudoMounter.Unmount: %v", err)
	}
	if ms := mountsUnder(t, "self", merged); len(ms) != 0 {
		t.Fatalf("after Unmount: %+v", ms)
	}

	// A refusal comes back with the helper's own line.
	upper := filepath.Join(state, "runtime/s2/upper")
	os.Remove(upper)
	symlink(t, "/etc", upper)
	err := m.Mount(ctx, "s2")
	var he *overlayclient.HelperError
	if !errors.As(err, &he) || he.Code != 1 || !strings.Contains(he.Stderr, "runtime/s2/upper: it or a directory on its path is a symlink") {
		t.Fatalf("Mount with a symlinked upper = %v, want a HelperError with the helper's reason", err)
	}
	if ms := mountsUnder(t, "self", state); len(ms) != 0 {
		t.Fatalf("refused mount left %+v", ms)
	}
}
