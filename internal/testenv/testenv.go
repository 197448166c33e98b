// Package testenv holds the rules every privileged or real-component test
// follows: outside CI such a test may skip, saying why; with CI=true a skip
// is a failure. It also re-executes a test binary as PID 1 of a private PID
// and mount namespace, so that "PID 1's mount namespace" is the test's own
// and no mount can leak onto the machine.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Skip skips t outside CI and fails it in CI, where every privileged or
// real-component test must run.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("CI=true forbids skipping: %s", msg)
	}
	t.Skip(msg)
}

// RequireRoot skips (fails in CI) unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root: running as uid %d", os.Geteuid())
	}
}

// RequireBinary returns the path of a program on PATH, or skips (fails in
// CI) naming the Debian package that provides it.
func RequireBinary(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(t, "needs %s (Debian package %s): %v", name, pkg, err)
	}
	return p
}

const nsMarker = "LEFT4ME_TEST_IN_NS"

// InNamespace reports whether this process is the PID 1 of the private
// namespaces ReexecInNamespace set up.
func InNamespace() bool { return os.Getenv(nsMarker) == "1" && os.Getpid() == 1 }

// ReexecInNamespace is for TestMain. As root, and not yet inside, it runs the
// test binary again as PID 1 of new PID and mount namespaces with private
// propagation (unshare --pid --fork --mount-proc --mount --propagation
// private) and exits with its status. Otherwise (not root, unshare missing,
// already inside) it runs m directly; tests then see InNamespace() false and
// skip or fail through Skip.
func ReexecInNamespace(m *testing.M) {
	if os.Getenv(nsMarker) == "1" || os.Geteuid() != 0 {
		os.Exit(m.Run())
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		os.Exit(m.Run())
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(2)
	}
	args := append([]string{"--pid", "--fork", "--mount-proc", "--mount", "--propagation", "private", "--", self}, os.Args[1:]...)
	cmd := exec.Command(unshare, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), nsMarker+"=1")
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			os.Exit(ee.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "testenv: re-exec in namespace:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// RequireNamespace skips (fails in CI) unless the test runs as root inside
// the private namespaces of ReexecInNamespace.
func RequireNamespace(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	if !InNamespace() {
		Skip(t, "needs a private PID+mount namespace (unshare from util-linux); TestMain must call testenv.ReexecInNamespace")
	}
}

// AddUser creates the system user name with a group of its own, no home
// and the given login shell ("" means /usr/sbin/nologin), and removes both
// when the test ends. A leftover of a killed run is removed first, so test
// user names must be unique to their package. It skips (fails in CI)
// without root or useradd.
func AddUser(t testing.TB, name, shell string) (uid, gid uint32) {
	t.Helper()
	RequireRoot(t)
	useradd := RequireBinary(t, "useradd", "passwd")
	userdel := RequireBinary(t, "userdel", "passwd")
	if shell == "" {
		shell = "/usr/sbin/nologin"
	}
	exec.Command(userdel, name).Run()
	exec.Command("groupdel", name).Run()
	out, err := exec.Command(useradd, "--system", "--user-group", "--no-create-home",
		"--home-dir", "/nonexistent", "--shell", shell, name).CombinedOutput()
	if err != nil {
		t.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(userdel, name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v: %s", name, err, out)
		}
		if _, err := user.LookupGroup(name); err == nil {
			exec.Command("groupdel", name).Run()
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("look up new user %s: %v", name, err)
	}
	id, err1 := strconv.ParseUint(u.Uid, 10, 32)
	g, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("user %s has ids %q:%q", name, u.Uid, u.Gid)
	}
	return uint32(id), uint32(g)
}
