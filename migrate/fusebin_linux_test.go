//go:build linux

package migrate

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

// RootfsEnv selects the fuse-overlayfs the truth tests run: the directory
// that tests/fuse/rootfs printed for a Debian release (holding root/, the
// release's root file system with its fuse-overlayfs, and version). Unset,
// they run this machine's /usr/bin/fuse-overlayfs.
const RootfsEnv = "LEFT4ME_FUSE_ROOTFS"

// fuseOverlayfs is one release's fuse-overlayfs binary.
type fuseOverlayfs struct {
	argv    []string // the command, before its own arguments
	version string   // as it reports itself: "1.4", "1.10", ...
	label   string   // where it comes from, for the logs
}

// selectFuse is the fuse-overlayfs RootfsEnv names, or this machine's.
func selectFuse(t *testing.T) fuseOverlayfs {
	t.Helper()
	if dir := os.Getenv(RootfsEnv); dir != "" {
		return rootfsFuse(t, dir)
	}
	bin := testenv.RequireBinary(t, "fuse-overlayfs", "fuse-overlayfs")
	return probeFuse(t, []string{bin}, bin)
}

// releaseFuse is the fuse-overlayfs of Debian release suite: this
// machine's if it runs that release (a VM tier guest), else the one in
// the rootfs RootfsEnv names if that is the suite's, else the one in the
// rootfs tests/fuse/rootfs builds (once, cached; debootstrap needs the
// mirror).
func releaseFuse(t *testing.T, suite string) fuseOverlayfs {
	t.Helper()
	if b, err := os.ReadFile("/etc/os-release"); err == nil && regexp.MustCompile(`(?m)^VERSION_CODENAME=`+suite+`$`).Match(b) {
		if bin, err := exec.LookPath("fuse-overlayfs"); err == nil {
			return probeFuse(t, []string{bin}, bin+" (this "+suite+" machine's)")
		}
	}
	if dir := os.Getenv(RootfsEnv); dir != "" && strings.Contains(dir, "/"+suite+"/") {
		return rootfsFuse(t, dir)
	}
	script, err := filepath.Abs("../tests/fuse/rootfs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(script); err != nil {
		testenv.Skip(t, "needs %s (or %s naming a %s rootfs): %v", script, RootfsEnv, suite, err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(script, suite)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		testenv.Skip(t, "tests/fuse/rootfs %s: %v\n%s", suite, err, stderr.String())
	}
	return rootfsFuse(t, strings.TrimSpace(string(out)))
}

// rootfsFuse runs the fuse-overlayfs of the root file system in dir/root
// with that root file system's own dynamic loader and libraries, on this
// kernel: the release's binary and libfuse, not this machine's. It mounts
// through this machine's fusermount3 (libfuse's mount protocol with it is
// stable across these releases).
func rootfsFuse(t *testing.T, dir string) fuseOverlayfs {
	t.Helper()
	root := filepath.Join(dir, "root")
	ld := filepath.Join(root, "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
	bin := filepath.Join(root, "usr/bin/fuse-overlayfs")
	for _, p := range []string{ld, bin} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v (a directory printed by tests/fuse/rootfs, on amd64)", RootfsEnv, dir, err)
		}
	}
	libs := filepath.Join(root, "lib/x86_64-linux-gnu") + ":" + filepath.Join(root, "usr/lib/x86_64-linux-gnu")
	pkg, _ := os.ReadFile(filepath.Join(dir, "version"))
	return probeFuse(t, []string{ld, "--library-path", libs, bin}, fmt.Sprintf("%s (Debian package %s)", bin, strings.TrimSpace(string(pkg))))
}

var fuseVersionRE = regexp.MustCompile(`fuse-overlayfs: version ([0-9][0-9.]*)`)

func probeFuse(t *testing.T, argv []string, label string) fuseOverlayfs {
	t.Helper()
	out, err := exec.Command(argv[0], append(argv[1:], "--version")...).CombinedOutput()
	m := fuseVersionRE.FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("%s --version: %v\n%s", label, err, out)
	}
	return fuseOverlayfs{argv: argv, version: string(m[1]), label: label}
}

// fuseMount is a running fuse-overlayfs, in the foreground as a child of
// the test, so its end is known.
type fuseMount struct {
	cmd        *exec.Cmd
	out        *bytes.Buffer
	merged     string
	uid, gid   int
	fusermount string
	exited     chan struct{} // closed when the daemon has exited, with err
	err        error
}

// mount runs f as the fuse user over the layers and waits for the mount.
func (f fuseOverlayfs) mount(t *testing.T, uid, gid int, lower, upper, work, merged string) *fuseMount {
	t.Helper()
	fm := &fuseMount{merged: merged, uid: uid, gid: gid, out: &bytes.Buffer{}, exited: make(chan struct{}),
		fusermount: testenv.RequireBinary(t, "fusermount3", "fuse3")}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	argv := append(append([]string{}, f.argv...), "-f", "-o", opts, merged)
	fm.cmd = userCmd(uid, gid, "/", argv...)
	fm.cmd.Stdout, fm.cmd.Stderr = fm.out, fm.out
	if err := fm.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", f.label, err)
	}
	go func() { fm.err = fm.cmd.Wait(); close(fm.exited) }()
	t.Cleanup(func() {
		select {
		case <-fm.exited:
		default:
			exec.Command(fm.fusermount, "-u", "-z", merged).Run()
			fm.cmd.Process.Kill()
			<-fm.exited
		}
	})
	for i := 0; ; i++ {
		if fsType(t, merged) == "fuse.fuse-overlayfs" {
			return fm
		}
		select {
		case <-fm.exited:
			t.Fatalf("%s exited before mounting: %v\n%s", f.label, fm.err, fm.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if i > 1000 {
			t.Fatalf("%s did not mount %s in 20s:\n%s", f.label, merged, fm.out.String())
		}
	}
}

// unmount takes the mount down as its user and waits for the daemon to
// exit, so that it writes nothing more to the upper dir.
func (fm *fuseMount) unmount(t *testing.T) {
	t.Helper()
	asUser(t, fm.uid, fm.gid, "", fm.fusermount, "-u", fm.merged)
	select {
	case <-fm.exited:
		if fm.err != nil {
			t.Fatalf("fuse-overlayfs: %v\n%s", fm.err, fm.out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("fuse-overlayfs still running 20s after unmount:\n%s", fm.out.String())
	}
}
