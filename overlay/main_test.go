package overlay

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/gobuild"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/mountinfo"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// TestMain re-runs the tests as PID 1 of a private PID+mount namespace when
// root, so that the helper's default target, /proc/1/ns/mnt, is the test's
// own namespace and no mount can leak onto the machine.
func TestMain(m *testing.M) {
	if prog := os.Getenv(seccompExecEnv); prog != "" {
		execWithoutFsopen(prog, os.Args[1:]) // never returns
	}
	if os.Geteuid() == 0 && !testenv.InNamespace() {
		testenv.ReexecInNamespace(m) // exits
	}
	code := m.Run()
	gobuild.Cleanup()
	os.Exit(code)
}

// helperBin is cmd/left4me-overlay, built once per test binary: end-to-end
// tests run the real helper, not the library.
func helperBin(t testing.TB) string {
	t.Helper()
	return gobuild.Binary(t, "left4me-overlay")
}

// fixture is a scratch LEFT4ME_ROOT with the state layout of docs/design.md §2.
type fixture struct {
	t     testing.TB
	root  string
	state string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{t: t, root: root, state: filepath.Join(root, "var/lib/left4me")}
	for _, d := range []string{"installation", "overlays", "runtime"} {
		mkdir(t, filepath.Join(f.state, d))
	}
	writeSentinel(t, f.state)
	// Registered after TempDir, so it runs first: nothing stays mounted
	// under the root when the directory is removed.
	t.Cleanup(func() { detachUnder(t, root) })
	return f
}

// writeSentinel marks the state root as migrated to the kernel format, as
// left4me-deploy does after converting every upper: without it the helper
// refuses to mount.
func writeSentinel(t testing.TB, state string) {
	t.Helper()
	writeFile(t, filepath.Join(state, filepath.Base(hostpath.Sentinel)), "converted to kernel overlayfs\n")
}

func mkdir(t testing.TB, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, p, data string) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// real maps a host path onto the fixture root.
func (f *fixture) real(host string) string { return filepath.Join(f.root, host) }

// layer creates overlays/ID with files (name → content) and returns its host path.
func (f *fixture) layer(id string, files map[string]string) string {
	host := "/var/lib/left4me/overlays/" + id
	mkdir(f.t, f.real(host))
	for n, c := range files {
		writeFile(f.t, filepath.Join(f.real(host), n), c)
	}
	return host
}

// instance creates runtime/NAME with upper, work, merged and instance.env.
func (f *fixture) instance(name string, layers ...string) string {
	dir := filepath.Join(f.state, "runtime", name)
	for _, d := range []string{"upper", "work", "merged"} {
		mkdir(f.t, filepath.Join(dir, d))
	}
	writeFile(f.t, filepath.Join(dir, "instance.env"), "# written by the test\nGAME=l4d2\nLOWERDIRS="+strings.Join(layers, ":")+"\n")
	return dir
}

func (f *fixture) merged(name string) string {
	return filepath.Join(f.state, "runtime", name, "merged")
}
func (f *fixture) upper(name string) string { return filepath.Join(f.state, "runtime", name, "upper") }

// helperEnv is the environment the helper runs with: the fixture root and
// extra settings, and nothing inherited, so a SUDO_* variable of whoever
// started the tests cannot switch the test settings off.
func (f *fixture) helperEnv(extra ...string) []string {
	return append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LEFT4ME_ROOT=" + f.root}, extra...)
}

// helper runs the real helper binary and returns stdout, stderr, exit code.
func (f *fixture) helper(env []string, args ...string) (string, string, int) {
	f.t.Helper()
	cmd := exec.Command(helperBin(f.t), args...)
	cmd.Env = env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			f.t.Fatalf("run helper %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// mustHelper runs the helper and fails the test unless it exits 0.
func (f *fixture) mustHelper(args ...string) string {
	f.t.Helper()
	out, errs, code := f.helper(f.helperEnv(), args...)
	if code != 0 {
		f.t.Fatalf("left4me-overlay %v = exit %d, stderr %q", args, code, errs)
	}
	return out
}

// mountsUnder lists the mount table entries of this namespace at or below dir.
func mountsUnder(t testing.TB, pid string, dir string) []mountinfo.Entry {
	t.Helper()
	fh, err := os.Open("/proc/" + pid + "/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	all, err := mountinfo.Parse(bufio.NewReader(fh))
	if err != nil {
		t.Fatal(err)
	}
	var out []mountinfo.Entry
	for _, e := range all {
		if e.MountPoint == dir || strings.HasPrefix(e.MountPoint, dir+"/") {
			out = append(out, e)
		}
	}
	return out
}

// detachUnder lazily unmounts everything at or below dir, deepest first.
func detachUnder(t testing.TB, dir string) {
	ms := mountsUnder(t, "self", dir)
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID > ms[j].ID })
	for _, m := range ms {
		if err := unix.Unmount(m.MountPoint, unix.MNT_DETACH); err != nil {
			t.Errorf("cleanup: unmount %s: %v", m.MountPoint, err)
		}
	}
}

// seccompExecEnv makes the test binary a wrapper: it executes the program
// the variable names, with the remaining arguments, under a seccomp filter
// that fails fsopen(2) with ENOSYS, as a container manager's filter might.
const seccompExecEnv = "LEFT4ME_TEST_EXEC_WITHOUT_FSOPEN"

func execWithoutFsopen(prog string, args []string) {
	runtime.LockOSThread()
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_FSOPEN},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "no_new_privs:", err)
		os.Exit(3)
	}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "seccomp:", err)
		os.Exit(3)
	}
	err := unix.Exec(prog, append([]string{prog}, args...), os.Environ())
	fmt.Fprintln(os.Stderr, "exec:", err)
	os.Exit(3)
}
