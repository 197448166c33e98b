//go:build linux

package migrate

import (
	"bytes"
	"context"
	"errors"
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

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/internal/treeview"
	"github.com/left4me/left4me-deploy/overlay"
)

// fuseUser is the unprivileged user that runs the real fuse-overlayfs in
// these tests, as left4me did on the old stack.
const fuseUser = "l4m-tmg-fuse"

// workload is what the old web app might have done to an instance: run as
// the fuse user inside the fuse-overlayfs mount.
const workload = `set -eu
echo changed >> cfg/server.cfg                # modify a lower file (copy-up)
echo new > cfg/new.cfg                         # create
rm cfg/old.cfg                                 # delete a lower file
rm -rf addons/x && mkdir addons/x && echo n > addons/x/n    # rm -rf a lower dir, recreate it
mv maps/a.vpk maps/a2.vpk                      # rename a lower file
mv docs docs2                                  # rename a lower dir
mkdir newdir && echo f > newdir/f && mv newdir newdir2      # rename an upper dir
chmod 0600 bin/run.sh                          # chmod a lower file
chmod 0700 maps/sub                            # chmod a lower dir
mkdir links
ln -s ../cfg/server.cfg links/cfg              # symlinks
ln -s /nonexistent/target links/dangling
ln cfg/new.cfg cfg/new-hard.cfg                # hardlink an upper file
ln maps/b.vpk maps/b-hard.vpk                  # hardlink a lower file
setfattr -n user.l4m -v hello cfg/server.cfg   # user xattrs, on lower and upper files
setfattr -n user.l4m2 -v world maps/b.vpk
setfattr -n user.l4m3 -v dir addons
rm -rf keep/nested && mkdir -p keep/nested/inner && echo a > keep/nested/inner/a   # nested opaque dirs
rm -rf keep/nested/inner && mkdir keep/nested/inner && echo b > keep/nested/inner/b
rm -rf addons/y && mkdir addons/y && mkdir addons/y/z && echo deep > addons/y/z/deep
rmdir logs                                     # remove an empty lower dir
rm -rf gone                                    # remove a lower dir for good
echo again > cfg/old.cfg && rm cfg/old.cfg     # create over a whiteout, delete again
`

var lowerFiles = []string{
	"cfg/server.cfg", "cfg/old.cfg", "cfg/other.cfg",
	"maps/a.vpk", "maps/b.vpk", "maps/sub/c.txt",
	"addons/x/1", "addons/x/2", "addons/y/z/old", "addons/y/w",
	"docs/readme", "docs/more/notes",
	"bin/run.sh",
	"keep/nested/inner/f.txt", "keep/nested/g.txt", "keep/top",
	"gone/a", "gone/b/c",
}

// TestTruthRealFuseOverlayfs runs the workload under real fuse-overlayfs,
// records the merged view, migrates the upper dir it wrote, mounts kernel
// overlayfs on the same layers and records again: the views must be equal.
// A plain kernel mount of an unconverted copy must differ, or the test
// could not fail.
func TestTruthRealFuseOverlayfs(t *testing.T) {
	testenv.RequireNamespace(t)
	fuse := selectFuse(t)
	testenv.RequireBinary(t, "fusermount3", "fuse3")
	testenv.RequireBinary(t, "setfattr", "attr")
	uid, gid := addFuseUser(t)
	openDevFuse(t)

	const name = "truth"
	tr := newWorldTree(t, "l4m-tmg-truth-", name)
	base := string(tr.root)
	for _, f := range lowerFiles {
		write(t, filepath.Join(tr.lower(), f), "lower "+f+"\n")
	}
	mkdir(t, filepath.Join(tr.lower(), "logs"))
	if err := os.Chmod(filepath.Join(tr.lower(), "bin/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Everything belongs to the fuse user, as /var/lib/left4me belongs to
	// left4me: rootless copy-up chowns to the lower owner and fails on others.
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", uid, gid), tr.root.Join("/var")).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	self := copySelf(t, base)

	merged := tr.merged(name)
	fm := fuse.mount(t, uid, gid, tr.lower(), tr.upper(name), tr.work(name), merged)
	asUser(t, uid, gid, merged, "sh", "-c", workload)
	// Every name of any layer is probed as well as listed (treeview).
	probes := probeFile(t, base, tr.lower(), tr.upper(name))
	fuseView := treeviewAsUser(t, self, uid, gid, merged, probes)
	// fusermount3 works in this namespace: the user unmounts its own mount.
	fm.unmount(t)

	// A copy of the unconverted upper for the plain kernel mount.
	plain := filepath.Join(base, "plain")
	for _, d := range []string{"work", "merged"} {
		mkdir(t, filepath.Join(plain, d))
	}
	if out, err := exec.Command("cp", "-a", tr.upper(name), filepath.Join(plain, "upper")).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}

	// Before the migration the mount helper refuses: the upper root carries
	// no fuse-overlayfs mark, only the missing sentinel gives it away.
	env := tr.root.Join(hostpath.InstanceEnv(name))
	write(t, env, "LOWERDIRS="+hostpath.InstallationDir+"\n")
	if err := os.Lchown(env, uid, gid); err != nil {
		t.Fatal(err)
	}
	helper := overlay.Config{Root: tr.root, MountNS: overlay.CurrentMountNS}
	if res, err := helper.Mount(name); !errors.Is(err, overlay.ErrNotMigrated) {
		t.Fatalf("left4me-overlay mount before the migration: %+v, %v; want %v", res, err, overlay.ErrNotMigrated)
	}

	rep, err := Run(context.Background(), Options{Root: tr.root, Log: testLog{t}})
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	t.Logf("migration: %s", rep.Summary())
	for _, c := range rep.Instances[0].Changes {
		t.Logf("  %s %s %s", c.Kind, c.Path, c.Detail)
	}

	probes = probeFile(t, base, tr.lower(), tr.upper(name), filepath.Join(plain, "upper"))
	mountOverlay(t, tr.lower(), tr.upper(name), tr.work(name), merged)
	kernelView := treeviewAsUser(t, self, uid, gid, merged, probes)
	unmount(t, merged)

	// The mount helper accepts the migrated upper and shows the same view.
	if res, err := helper.Mount(name); err != nil || !res.Changed {
		t.Fatalf("left4me-overlay mount of the migrated upper: %+v, %v", res, err)
	}
	helperView := treeviewAsUser(t, self, uid, gid, merged, probes)
	if _, err := helper.Unmount(name); err != nil {
		t.Fatalf("left4me-overlay umount: %v", err)
	}
	if d := treeview.Diff(fuseView, helperView); d != "" {
		t.Errorf("the mount helper's overlay of the migrated upper differs from fuse-overlayfs (-fuse +helper):\n%s", d)
	}

	// An unconverted upper arriving after the migration ran (restored from a
	// backup, say) is refused too: the helper's look at the upper's first
	// level finds the directories fuse-overlayfs marked opaque.
	const stale = "unconverted"
	for _, d := range []string{hostpath.Work(stale), hostpath.Merged(stale)} {
		mkdir(t, tr.root.Join(d))
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(plain, "upper"), tr.upper(stale)).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	write(t, tr.root.Join(hostpath.InstanceEnv(stale)), "LOWERDIRS="+hostpath.InstallationDir+"\n")
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", uid, gid), tr.root.Join(hostpath.Instance(stale))).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	if res, err := helper.Mount(stale); !errors.Is(err, overlay.ErrFuseFormat) {
		t.Errorf("left4me-overlay mount of an unconverted upper after the migration: %+v, %v; want %v", res, err, overlay.ErrFuseFormat)
	} else {
		t.Logf("unconverted upper refused: %v", err)
	}

	mountOverlay(t, tr.lower(), filepath.Join(plain, "upper"), filepath.Join(plain, "work"), filepath.Join(plain, "merged"))
	plainView := treeviewAsUser(t, self, uid, gid, filepath.Join(plain, "merged"), probes)
	unmount(t, filepath.Join(plain, "merged"))

	if d := treeview.Diff(fuseView, kernelView); d != "" {
		t.Errorf("kernel overlayfs on the migrated upper differs from fuse-overlayfs %s (-fuse +kernel):\n%s", fuse.version, d)
	}
	if a := treeview.Anomalies(append(append([]string{}, fuseView...), kernelView...)); len(a) != 0 {
		t.Errorf("entries listed but not stat-able, or stat-able but not listed:\n%s", strings.Join(a, "\n"))
	}
	if d := treeview.Diff(fuseView, plainView); d == "" {
		t.Error("a plain kernel mount without migration shows the fuse view too: the test cannot fail")
	} else {
		t.Logf("plain kernel mount without migration (-fuse +plain):\n%s", d)
	}
	if len(fuseView) < len(lowerFiles) {
		t.Fatalf("fuse view has only %d entries: the workload did not run", len(fuseView))
	}
	t.Logf("fuse-overlayfs %s (%s): fuse view, %d entries, equal under kernel overlayfs after migration", fuse.version, fuse.label, len(fuseView))

	rep2, err := Run(context.Background(), Options{Root: tr.root})
	if err != nil || !rep2.Skipped || rep2.Changed() {
		t.Errorf("second run: %v skipped=%v changed=%v, want ok with nothing changed", err, rep2.Skipped, rep2.Changed())
	}
}

// probeFile writes the names of every entry of the layers (treeview.Probes)
// into a file in dir that the fuse user can read, and returns its path.
func probeFile(t *testing.T, dir string, layers ...string) string {
	t.Helper()
	probes, err := treeview.Probes(layers...)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(dir, "probes-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(probes, "\n")); err != nil {
		t.Fatal(err)
	}
	if err := f.Chmod(0o644); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// addFuseUser creates the test user (removing a leftover of a killed run
// first) and deletes it on cleanup.
func addFuseUser(t *testing.T) (int, int) {
	t.Helper()
	uid, gid := testenv.AddUser(t, fuseUser, "")
	return int(uid), int(gid)
}

// openDevFuse lets the unprivileged user open /dev/fuse for the test and
// restores its mode afterwards.
func openDevFuse(t *testing.T) {
	t.Helper()
	fi, err := os.Stat("/dev/fuse")
	if err != nil {
		testenv.Skip(t, "needs /dev/fuse: %v", err)
	}
	mode := fi.Mode().Perm()
	if err := os.Chmod("/dev/fuse", 0o666); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Chmod("/dev/fuse", mode); err != nil {
			t.Errorf("restore /dev/fuse mode %v: %v", mode, err)
		}
	})
}

// copySelf copies the test binary where the fuse user can run it.
func copySelf(t *testing.T, dir string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	p := filepath.Join(dir, "migrate.test")
	out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func userCmd(uid, gid int, dir string, argv ...string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/nonexistent", "LANG=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	return cmd
}

// asUser runs argv as the fuse user and fails the test if it fails.
func asUser(t *testing.T, uid, gid int, dir string, argv ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := userCmd(uid, gid, dir, argv...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("as %s: %s: %v\n%s", fuseUser, strings.Join(argv, " "), err, out.String())
	}
}

// waitFuseGone waits for the fuse-overlayfs daemon to exit after unmount,
// so it cannot write the upper dir while the migration runs. This process
// is PID 1 of its own namespace: /proc lists only the test's processes.
func waitFuseGone(t *testing.T) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if !fuseRunning() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("fuse-overlayfs still running 5s after unmount")
}

func fuseRunning() bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
		if strings.TrimSpace(string(b)) != "fuse-overlayfs" {
			continue
		}
		// The daemon detached from its parent and was reparented to this
		// process, PID 1 of the namespace: reap it once it has exited.
		pid, _ := strconv.Atoi(e.Name())
		var ws syscall.WaitStatus
		if got, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got != pid {
			return true
		}
	}
	return false
}
