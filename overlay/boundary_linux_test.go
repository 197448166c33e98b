//go:build linux

package overlay

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

// boundaryUser owns the hostile tree in the boundary tests: it plays the
// compromised web app, left4me.
const boundaryUser = "l4m-tov-owner"

// owner is the hostile tree's owner with the tools a Debian host gives it.
type owner struct {
	t        *testing.T
	uid, gid int
}

// newOwner creates the owner and gives the fixture's tree to it. The path
// down to the fixture root is opened for traversal, as /var/lib is.
func newOwner(t *testing.T, f *fixture) *owner {
	t.Helper()
	uid, gid := testenv.AddUser(t, boundaryUser, "")
	o := &owner{t: t, uid: int(uid), gid: int(gid)}
	for d := f.root; d != "/" && d != "/tmp"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	o.chown(f.root)
	return o
}

func (o *owner) chown(dir string) {
	o.t.Helper()
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", o.uid, o.gid), dir).CombinedOutput(); err != nil {
		o.t.Fatalf("chown: %v: %s", err, out)
	}
}

// cmd is argv run as the owner.
func (o *owner) cmd(argv ...string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.gid)}}
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/"}
	cmd.Dir = "/"
	return cmd
}

func (o *owner) run(argv ...string) {
	o.t.Helper()
	if out, err := o.cmd(argv...).CombinedOutput(); err != nil {
		o.t.Fatalf("as %s: %s: %v\n%s", boundaryUser, strings.Join(argv, " "), err, out)
	}
}

// allowFuse makes FUSE what a permissive host offers its users, in this
// test's mount namespace only: a /dev/fuse anyone may open and an
// /etc/fuse.conf with user_allow_other, both bind-mounted over the real
// ones.
func allowFuse(t *testing.T) (fuseBin, fusermount string) {
	t.Helper()
	testenv.RequireNamespace(t)
	fuseBin = testenv.RequireBinary(t, "fuse-overlayfs", "fuse-overlayfs")
	fusermount = testenv.RequireBinary(t, "fusermount3", "fuse3")
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=0755,size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	dev, conf := filepath.Join(dir, "fuse"), filepath.Join(dir, "fuse.conf")
	if err := unix.Mknod(dev, unix.S_IFCHR|0o666, int(unix.Mkdev(10, 229))); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dev, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("user_allow_other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{dev: "/dev/fuse", conf: "/etc/fuse.conf"} {
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			testenv.Skip(t, "bind %s over %s: %v", src, dst, err)
		}
		t.Cleanup(func() { unix.Unmount(dst, unix.MNT_DETACH) })
	}
	return fuseBin, fusermount
}

// fuseMount has the owner mount fuse-overlayfs at mnt showing lower, with
// squash_to_root (every file appears root's) and allow_other (root sees it
// too): the user-made file system the helper must never trust.
func (o *owner) fuseMount(fuseBin, lower, mnt string) {
	o.t.Helper()
	scratch, err := os.MkdirTemp(filepath.Dir(lower), "fuse-")
	if err != nil {
		o.t.Fatal(err)
	}
	for _, d := range []string{"upper", "work"} {
		mkdir(o.t, filepath.Join(scratch, d))
	}
	o.chown(scratch)
	o.run(fuseBin, "-o", fmt.Sprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work,squash_to_root,allow_other", lower, scratch, scratch), mnt)
	o.t.Cleanup(func() {
		unix.Unmount(mnt, unix.MNT_DETACH)
		reapOrphans()
	})
}

// reapOrphans waits for exited daemons reparented to this process, PID 1
// of the test's namespace.
func reapOrphans() {
	for range 50 {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err != nil || pid <= 0 {
			if err == syscall.ECHILD {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// fuseLayer is a directory the owner fills with a set-uid program of its
// own: through the owner's fuse-overlayfs it shows as root:root 4755.
func fuseLayer(t *testing.T, o *owner, f *fixture) string {
	t.Helper()
	src := filepath.Join(f.root, "src", "evil")
	writeFile(t, filepath.Join(src, "suid"), "#!/bin/sh\nid\n")
	o.chown(filepath.Dir(src))
	if err := unix.Chmod(filepath.Join(src, "suid"), 0o4755); err != nil {
		t.Fatal(err)
	}
	return src
}

// mustRefuse runs mount NAME and wants exit 1 with want in stderr and no
// new mount below the state root.
func mustRefuse(t *testing.T, f *fixture, name, want string) {
	t.Helper()
	before := len(mountsUnder(t, "self", f.state))
	_, errs, code := f.helper(f.helperEnv(), "mount", name)
	if code != 1 || !strings.Contains(errs, want) {
		t.Errorf("mount %s = exit %d, stderr %q; want exit 1 and %q", name, code, errs, want)
	}
	if after := mountsUnder(t, "self", f.state); len(after) != before {
		t.Errorf("mount %s changed the mounts below the state root: %+v", name, after)
	}
}

// TestFuseShowsRootSetuid proves the threat the refusals below are for:
// with user_allow_other, the unprivileged owner's fuse-overlayfs shows its
// own file to root as a root-owned set-uid program.
func TestFuseShowsRootSetuid(t *testing.T) {
	fuseBin, _ := allowFuse(t)
	f := newFixture(t)
	o := newOwner(t, f)
	src := fuseLayer(t, o, f)
	ev := filepath.Join(f.state, "overlays/evil")
	mkdir(t, ev)
	o.chown(ev)
	o.fuseMount(fuseBin, src, ev)
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(ev, "suid"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 || st.Gid != 0 || st.Mode&0o7777 != 0o4755 {
		t.Fatalf("through FUSE: uid %d gid %d mode %#o; want root:root 04755 (the threat)", st.Uid, st.Gid, st.Mode&0o7777)
	}
	f.instance("a", "/var/lib/left4me/overlays/evil")
	o.chown(f.state)
	mustRefuse(t, f, "a", "refused /var/lib/left4me/overlays/evil: crosses a mount point at /var/lib/left4me/overlays/evil (FUSE)")
}

// TestRefusesMountsOnThePath: no FUSE or other mount anywhere from the state
// root down to upper, work and the layers: the state root itself, runtime/,
// runtime/NAME, a layer's base directory, a directory above a layer.
func TestRefusesMountsOnThePath(t *testing.T) {
	fuseBin, _ := allowFuse(t)
	for _, tc := range []struct {
		name  string
		at    string // below the state root; "" is the state root itself
		fuse  bool   // the owner's fuse-overlayfs, else a root tmpfs
		layer string
		want  string
	}{
		{"fuse state root", "", true, "installation", "refused state root /var/lib/left4me: it is on FUSE"},
		{"fuse runtime", "runtime", true, "installation", "refused /var/lib/left4me/runtime: crosses a mount point at /var/lib/left4me/runtime (FUSE)"},
		{"fuse instance", "runtime/a", true, "installation", "refused /var/lib/left4me/runtime/a: crosses a mount point at /var/lib/left4me/runtime/a (FUSE)"},
		{"fuse overlays", "overlays", true, "overlays/l1", "refused /var/lib/left4me/overlays: crosses a mount point at /var/lib/left4me/overlays (FUSE)"},
		{"fuse above a layer", "overlays/l1/sub", true, "overlays/l1/sub/deeper", "refused /var/lib/left4me/overlays/l1/sub/deeper: crosses a mount point at /var/lib/left4me/overlays/l1/sub (FUSE)"},
		{"tmpfs runtime", "runtime", false, "installation", "refused /var/lib/left4me/runtime: crosses a mount point at /var/lib/left4me/runtime (tmpfs)"},
		{"tmpfs layer", "overlays/l1", false, "overlays/l1", "refused /var/lib/left4me/overlays/l1: crosses a mount point at /var/lib/left4me/overlays/l1 (tmpfs)"},
		{"tmpfs upper", "runtime/a/upper", false, "installation", "refused /var/lib/left4me/runtime/a/upper: crosses a mount point at /var/lib/left4me/runtime/a/upper (tmpfs)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			mkdir(t, filepath.Join(f.state, "overlays/l1/sub/deeper"))
			writeFile(t, filepath.Join(f.state, "installation/game"), "g\n")
			f.instance("a", "/var/lib/left4me/"+tc.layer)
			o := newOwner(t, f)
			at := filepath.Join(f.state, tc.at)
			if tc.fuse {
				// The FUSE shows a copy of what was there, so only the
				// mount itself differs.
				src := filepath.Join(f.root, "src", "copy")
				mkdir(t, filepath.Dir(src))
				if out, err := exec.Command("cp", "-a", at, src).CombinedOutput(); err != nil {
					t.Fatalf("cp: %v: %s", err, out)
				}
				o.chown(filepath.Dir(src))
				o.fuseMount(fuseBin, src, at)
			} else {
				if err := unix.Mount("tmpfs", at, "tmpfs", 0, "mode=0755,size=1m"); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { unix.Unmount(at, unix.MNT_DETACH) })
				mkdir(t, filepath.Join(at, "deeper"))
				o.chown(at)
			}
			mustRefuse(t, f, "a", tc.want)
		})
	}
}

// nsShell is a shell of the owner's in a user+mount namespace it made
// before the helper mounted anything: there, the helper's later mounts do
// not exist, so their mount points are plain directories it may rename.
type nsShell struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Reader
	cmd *exec.Cmd
}

func (o *owner) nsShell() *nsShell {
	o.t.Helper()
	testenv.RequireBinary(o.t, "unshare", "util-linux")
	cmd := o.cmd("unshare", "--user", "--map-root-user", "--mount", "--propagation", "private", "--",
		"sh", "-c", `echo ready; while read -r cmd; do sh -c "$cmd" 2>&1 && echo OK || echo FAILED; done`)
	in, err := cmd.StdinPipe()
	if err != nil {
		o.t.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		o.t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		o.t.Fatal(err)
	}
	sh := &nsShell{t: o.t, in: in, out: bufio.NewReader(outp), cmd: cmd}
	o.t.Cleanup(func() { in.Close(); cmd.Wait() })
	if line, err := sh.out.ReadString('\n'); err != nil || line != "ready\n" {
		testenv.Skip(o.t, "unprivileged user namespaces: unshare said %q, %v", line, err)
	}
	return sh
}

// do runs a shell command in the namespace and fails the test unless it
// works.
func (sh *nsShell) do(cmd string) {
	sh.t.Helper()
	fmt.Fprintln(sh.in, cmd)
	var out strings.Builder
	for {
		line, err := sh.out.ReadString('\n')
		if err != nil {
			sh.t.Fatalf("namespace shell: %v after %q", err, out.String())
		}
		switch line {
		case "OK\n":
			return
		case "FAILED\n":
			sh.t.Fatalf("in the owner's namespace: %s: %s", cmd, out.String())
		}
		out.WriteString(line)
	}
}

// TestRefusesOverlayAsLayer is the nested-overlay half of the escalation:
// the owner moves a mounted instance, from its own namespace, into
// overlays/ and lists its merged as another instance's layer. Copy-up
// through such a stack would run with the helper's credentials.
func TestRefusesOverlayAsLayer(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	writeFile(t, filepath.Join(f.state, "installation/game"), "g\n")
	f.instance("x", "/var/lib/left4me/installation")
	f.instance("y", "/var/lib/left4me/overlays/x/merged")
	o := newOwner(t, f)
	sh := o.nsShell()
	f.mustHelper("mount", "x")
	sh.do(fmt.Sprintf("mv %s %s", filepath.Join(f.state, "runtime/x"), filepath.Join(f.state, "overlays/x")))
	if ms := mountsUnder(t, "self", filepath.Join(f.state, "overlays/x/merged")); len(ms) != 1 || ms[0].Source != "left4me-x" {
		t.Fatalf("after the owner's rename: mounts at overlays/x/merged = %+v, want instance x's overlay", ms)
	}
	mustRefuse(t, f, "y", "refused /var/lib/left4me/overlays/x/merged: crosses a mount point at /var/lib/left4me/overlays/x/merged (overlayfs)")
}

// TestUmountAfterOwnerMovedMerged: from a user+mount namespace made before
// the mount, the owner renames a mounted merged. umount then refuses,
// saying where the overlay went, and unmounts nothing else; the owner can
// also remove the moved mount point, which detaches the overlay, and that
// is all.
func TestUmountAfterOwnerMovedMerged(t *testing.T) {
	testenv.RequireNamespace(t)
	f := newFixture(t)
	writeFile(t, filepath.Join(f.state, "installation/game"), "g\n")
	f.instance("a", "/var/lib/left4me/installation")
	f.instance("b", "/var/lib/left4me/installation")
	o := newOwner(t, f)
	sh := o.nsShell()
	f.mustHelper("mount", "a")
	f.mustHelper("mount", "b")
	moved := filepath.Join(f.state, "runtime/a/moved")
	sh.do(fmt.Sprintf("mv %s %s", f.merged("a"), moved))
	if ms := mountsUnder(t, "self", moved); len(ms) != 1 || ms[0].Source != "left4me-a" {
		t.Fatalf("after the owner's rename: mounts at %s = %+v, want instance a's overlay (the owner could not move it?)", moved, ms)
	}

	out, errs, code := f.helper(f.helperEnv(), "umount", "a")
	want := fmt.Sprintf("a is not mounted at /var/lib/left4me/runtime/a/merged, but its overlay is mounted at %q: its owner moved the mount point; nothing was unmounted", moved)
	if code != 1 || !strings.Contains(errs, want) {
		t.Errorf("umount a after the owner moved merged = exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errs, want)
	}
	if ms := mountsUnder(t, "self", moved); len(ms) != 1 {
		t.Errorf("a's overlay at %s: %+v, want it still there", moved, ms)
	}
	if ms := mountsUnder(t, "self", f.merged("b")); len(ms) != 1 || ms[0].Source != "left4me-b" {
		t.Errorf("b's overlay: %+v, want it untouched", ms)
	}

	// A new merged made by the owner is a plain directory: mount a works
	// again beside the moved overlay (the owner's own two views).
	sh.do("mkdir " + f.merged("a"))
	// What the owner can do to the moved mount point: remove it, which
	// detaches the overlay there. Nothing else of root's is affected.
	sh.do("rmdir " + moved)
	if ms := mountsUnder(t, "self", moved); len(ms) != 0 {
		t.Errorf("after the owner removed the moved mount point: %+v, want it detached", ms)
	}
	if out := f.mustHelper("umount", "a"); !strings.Contains(out, "a is not mounted") {
		t.Errorf("umount a after the detach = %q", out)
	}
	if out := f.mustHelper("umount", "b"); !strings.Contains(out, "unmounted b") {
		t.Errorf("umount b = %q", out)
	}
}

// fuseDaemons lists the fuse-overlayfs processes of this test's PID
// namespace.
func fuseDaemons(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, _ := os.ReadFile("/proc/" + e.Name() + "/comm"); strings.TrimSpace(string(b)) == "fuse-overlayfs" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestStoppedFuseCannotParkHelper: the owner mounts FUSE where the helper
// looks first (over the state root, at merged) and stops its daemon, so
// any request to that file system would wait forever. The helper must
// answer without asking it: the checks use statx without sync and
// statmount(2), never the file system itself.
func TestStoppedFuseCannotParkHelper(t *testing.T) {
	fuseBin, _ := allowFuse(t)
	// Linux 6.8+ answers the file system checks from statmount(2), older
	// kernels from the mount table: neither asks the daemon.
	for _, at := range []string{"", "runtime/a/merged"} {
		t.Run("fuse at /"+at, func(t *testing.T) {
			f := newFixture(t)
			f.instance("a", "/var/lib/left4me/installation")
			o := newOwner(t, f)
			target := filepath.Join(f.state, at)
			src := filepath.Join(f.root, "src", "copy")
			mkdir(t, filepath.Dir(src))
			if out, err := exec.Command("cp", "-a", target, src).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v: %s", err, out)
			}
			o.chown(filepath.Dir(src))
			o.fuseMount(fuseBin, src, target)
			daemons := fuseDaemons(t)
			if len(daemons) == 0 {
				t.Fatal("no fuse-overlayfs daemon found")
			}
			for _, p := range daemons {
				syscall.Kill(p, syscall.SIGSTOP)
			}
			t.Cleanup(func() {
				for _, p := range daemons {
					syscall.Kill(p, syscall.SIGCONT)
				}
			})
			for _, verb := range []string{"mount", "umount"} {
				done := make(chan string, 1)
				cmd := exec.Command(helperBin(t), verb, "a")
				cmd.Env = f.helperEnv()
				go func() {
					o, err := cmd.CombinedOutput()
					done <- fmt.Sprintf("%v: %s", err, o)
				}()
				select {
				case got := <-done:
					if !strings.HasPrefix(got, "exit status 1: ") || !strings.Contains(strings.ToLower(got), "fuse") {
						t.Errorf("%s a with a stopped FUSE daemon at %s = %q, want a refusal naming FUSE", verb, target, got)
					}
				case <-time.After(30 * time.Second):
					for _, p := range daemons {
						syscall.Kill(p, syscall.SIGCONT)
					}
					t.Fatalf("%s a is parked by the stopped FUSE daemon at %s: %s", verb, target, <-done)
				}
			}
		})
	}
}
