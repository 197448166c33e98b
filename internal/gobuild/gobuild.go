// Package gobuild builds this module's commands for tests that must run the
// real binaries (as a sudo target, or from another process), once per test
// process.
package gobuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// PrebuiltEnv names a directory of this module's commands, built
// beforehand (CGO_ENABLED=0), that Binary returns instead of building.
const PrebuiltEnv = "LEFT4ME_TEST_PREBUILT"

var (
	mu    sync.Mutex
	built = map[string]string{}
	dir   string
)

// Binary builds github.com/left4me/left4me-deploy/cmd/NAME and returns the
// path of the executable, in a directory shared by the test process and
// removed at exit by Cleanup. The directory and binary are mode 0755 so other
// users (a sudo test user) can run them.
func Binary(t testing.TB, name string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	// A test binary run where no Go toolchain is (a booted test VM) is
	// handed the commands, built beforehand, in this directory.
	if d := os.Getenv(PrebuiltEnv); d != "" {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: cmd/%s was not built beforehand: %v", PrebuiltEnv, d, name, err)
		}
		built[name] = p
		return p
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "left4me-gobuild-")
		if err != nil {
			t.Fatalf("make build dir: %v", err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatalf("chmod build dir: %v", err)
		}
		dir = d
	}
	out := filepath.Join(dir, name)
	// go test puts its own GOROOT/bin first on the test's PATH.
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go build cmd/%s: %v", name, err)
	}
	cmd := exec.Command(gobin, "build", "-o", out, "github.com/left4me/left4me-deploy/cmd/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/%s: %v\n%s", name, err, strings.TrimSpace(string(b)))
	}
	built[name] = out
	return out
}

// Cleanup removes what Binary built; call it from TestMain after m.Run.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
}
