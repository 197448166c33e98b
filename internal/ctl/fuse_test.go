//go:build linux

package ctl

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"golang.org/x/sys/unix"
)

// fuseOwner is the user that owns the state dir in TestStoppedFuseCannotParkCtl:
// the compromised web app with what a permissive Debian host gives it.
const fuseOwner = "l4m-tct-fuse"

// allowUserFuse makes FUSE what a permissive host offers its users, in this
// test's mount namespace only: a /dev/fuse anyone may open and an
// /etc/fuse.conf with user_allow_other, bind-mounted over the real ones.
func allowUserFuse(t *testing.T) string {
	t.Helper()
	testenv.RequireNamespace(t)
	fuseBin := testenv.RequireBinary(t, "fuse-overlayfs", "fuse-overlayfs")
	testenv.RequireBinary(t, "fusermount3", "fuse3")
	dir := t.TempDir()
	mountPrivate(t, "tmpfs", dir, "tmpfs", 0, "mode=0755,size=1m")
	dev, conf := filepath.Join(dir, "fuse"), filepath.Join(dir, "fuse.conf")
	if err := unix.Mknod(dev, unix.S_IFCHR|0o666, int(unix.Mkdev(10, 229))); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dev, 0o666)
	mustWrite(t, conf, "user_allow_other\n")
	mountPrivate(t, dev, "/dev/fuse", "", unix.MS_BIND, "")
	mountPrivate(t, conf, "/etc/fuse.conf", "", unix.MS_BIND, "")
	return fuseBin
}

// TestStoppedFuseCannotParkCtl: the owner of the state dir mounts FUSE
// over a directory l4d2ctl looks at (the state dir, runtime/, an instance,
// merged, with and without allow_other) and stops the daemon, so that any
// request to that file system waits for ever. l4d2ctl list, status and
// delete run as root must come back, with an answer or a clear error,
// without asking it anything. Each run is bounded by a context; a run the
// context had to end is the failure.
func TestStoppedFuseCannotParkCtl(t *testing.T) {
	fuseBin := allowUserFuse(t)
	uid, gid := testenv.AddUser(t, fuseOwner, "")
	for _, tc := range []struct {
		at         string
		allowOther bool
		want       map[string]string // verb → stderr part ("" = must succeed)
	}{
		{"", true, map[string]string{"list": "FUSE", "status": "FUSE", "delete": "FUSE"}},
		{"runtime", true, map[string]string{"list": "FUSE", "status": "FUSE", "delete": "FUSE"}},
		{"runtime", false, map[string]string{"list": "FUSE", "status": "FUSE", "delete": "FUSE"}},
		{"runtime/a", true, map[string]string{"list": "runtime/a is a mount point (FUSE", "status": "FUSE", "delete": "runtime/a is a mount point (FUSE"}},
		{"runtime/a", false, map[string]string{"list": "runtime/a is a mount point (FUSE", "status": "FUSE", "delete": "runtime/a is a mount point (FUSE"}},
		{"runtime/a/merged", true, map[string]string{"list": "", "status": "", "delete": "still mounted"}},
		{"runtime/a/merged", false, map[string]string{"list": "", "status": "", "delete": "still mounted"}},
	} {
		t.Run(fmt.Sprintf("%s allow_other=%v", "/"+tc.at, tc.allowOther), func(t *testing.T) {
			e := newRealEnv(t)
			state := hostpath.Root(e.root).Join(hostpath.StateDir)
			for d := e.root; d != "/" && d != "/tmp"; d = filepath.Dir(d) {
				os.Chmod(d, 0o755)
			}
			chownTree(t, e.root, uid, gid)
			target := filepath.Join(state, tc.at)
			scratch := filepath.Join(e.root, "scratch")
			for _, d := range []string{"lower", "upper", "work"} {
				mustMkdir(t, filepath.Join(scratch, d))
			}
			if out, err := exec.Command("cp", "-a", target+"/.", filepath.Join(scratch, "lower")).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v: %s", err, out)
			}
			chownTree(t, scratch, uid, gid)
			opts := fmt.Sprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work,squash_to_root", scratch, scratch, scratch)
			if tc.allowOther {
				opts += ",allow_other"
			}
			mount := exec.Command(fuseBin, "-o", opts, target)
			mount.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
			mount.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/"}
			if out, err := mount.CombinedOutput(); err != nil {
				t.Fatalf("fuse-overlayfs as %s on %s: %v: %s", fuseOwner, target, err, out)
			}
			t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
			daemons := fuseDaemonPids(t)
			if len(daemons) == 0 {
				t.Fatal("no fuse-overlayfs daemon found")
			}
			for _, p := range daemons {
				syscall.Kill(p, syscall.SIGSTOP)
			}
			t.Cleanup(func() {
				for _, p := range daemons {
					syscall.Kill(p, syscall.SIGCONT)
					syscall.Kill(p, syscall.SIGTERM)
				}
			})
			for _, verb := range []string{"list", "status", "delete"} {
				args := []string{verb, "--json"}
				switch verb {
				case "status":
					args = []string{verb, "a", "--json"}
				case "delete":
					args = []string{verb, "a"}
				}
				code, out, errOut, parked := e.l4d2ctlBounded(t, 60*time.Second, args...)
				if parked {
					t.Fatalf("l4d2ctl %s is parked by the stopped FUSE daemon at %s (ended by its context): stdout %q, stderr %q", strings.Join(args, " "), target, out, errOut)
				}
				want := tc.want[verb]
				if want == "" && code != 0 || want != "" && (code == 0 || !strings.Contains(errOut, want)) {
					t.Errorf("l4d2ctl %s with a stopped FUSE daemon at %s = exit %d, stdout %q, stderr %q; want %q", strings.Join(args, " "), target, code, out, errOut, want)
				}
				if verb == "list" && want == "" && !strings.Contains(out, `"name":"a","exists":true,"mounted":true`) {
					t.Errorf("l4d2ctl list --json = %q; want a shown mounted", out)
				}
			}
		})
	}
}

// l4d2ctlBounded is l4d2ctl run under a context of d; parked reports that
// the context had to end it.
func (e *realEnv) l4d2ctlBounded(t *testing.T, d time.Duration, args ...string) (code int, stdout, stderr string, parked bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	argv := append([]string{"--no-sudo", "--root", e.root,
		"--overlay-helper", e.bin["left4me-overlay"],
		"--systemctl-helper", e.bin["left4me-systemctl"],
		"--journal-helper", e.bin["left4me-journalctl"]}, args...)
	cmd := exec.CommandContext(ctx, e.bin["l4d2ctl"], argv...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", hostpath.RootEnv + "=" + e.root,
		"LEFT4ME_SYSTEMCTL=" + e.standIn, "LEFT4ME_JOURNALCTL=" + e.journal}
	var o, s bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &s
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("run l4d2ctl: %v", err)
	}
	return cmd.ProcessState.ExitCode(), o.String(), s.String(), ctx.Err() != nil
}

func chownTree(t *testing.T, dir string, uid, gid uint32) {
	t.Helper()
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", uid, gid), dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
}

// fuseDaemonPids lists the fuse-overlayfs processes of this test's PID
// namespace.
func fuseDaemonPids(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if b, _ := os.ReadFile("/proc/" + ent.Name() + "/comm"); strings.TrimSpace(string(b)) == "fuse-overlayfs" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestDeleteDeepTree: l4d2ctl delete removes an instance whose upper dir
// is 5,000 levels deep (far beyond PATH_MAX and the fds of one walk).
func TestDeleteDeepTree(t *testing.T) {
	e := newRealEnv(t)
	unix.Close(testenv.DeepChain(t, hostpath.Root(e.root).Join(hostpath.Upper("a")), 5000))
	code, out, errOut := e.l4d2ctl(t, "delete", "a")
	if code != 0 || !strings.Contains(out, "Deleted a.") {
		t.Fatalf("delete a = exit %d, %q, %q", code, out, errOut)
	}
	if _, err := os.Lstat(hostpath.Root(e.root).Join(hostpath.Instance("a"))); !os.IsNotExist(err) {
		t.Fatalf("runtime/a after delete: %v", err)
	}
}
