//go:build linux

package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	printSummary(os.Stdout)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// requireHostTools skips the test (fails it in CI) unless everything a
// booted test host needs is here.
func requireHostTools(t *testing.T) {
	t.Helper()
	if testing.Short() {
		testenv.Skip(t, "boots Debian hosts with systemd-nspawn; not run with -short")
	}
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "debootstrap", "debootstrap")
	testenv.RequireBinary(t, "systemd-nspawn", "systemd-container")
	testenv.RequireBinary(t, "ssh", "openssh-client")
	testenv.RequireBinary(t, "ssh-keygen", "openssh-client")
	testenv.RequireBinary(t, "tar", "tar")
	if _, err := goTool(); err != nil {
		testenv.Skip(t, "needs the Go toolchain to build the binaries under test: %v", err)
	}
}

// Binaries are built once per run, into buildDir.
var (
	buildDir  string
	buildOnce sync.Once
	buildErr  error
)

// goTool is the go command of this test run: go test puts its own
// GOROOT/bin first on the test's PATH.
func goTool() (string, error) { return exec.LookPath("go") }

// moduleRoot is the checkout the binaries are built from.
func moduleRoot() string {
	wd, _ := os.Getwd()
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

func buildAll() error {
	goBin, err := goTool()
	if err != nil {
		return err
	}
	buildDir, err = os.MkdirTemp("", "left4me-e2e-bin-")
	if err != nil {
		return err
	}
	// Static binaries: the test hosts run them whatever libc they have.
	for _, pkgs := range [][]string{{"./cmd/..."}, {"./tests/e2e/standin"}} {
		args := append([]string{"build", "-trimpath", "-o", buildDir + "/"}, pkgs...)
		cmd := exec.Command(goBin, args...)
		cmd.Dir = moduleRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// bin returns the path of a binary built from this checkout.
func bin(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() { buildErr = buildAll() })
	if buildErr != nil {
		t.Fatalf("build the binaries under test: %v", buildErr)
	}
	return filepath.Join(buildDir, name)
}

func standinBinary(t *testing.T) string { return bin(t, "standin") }

// Check results for the summary table, in the order they ran.
type checkResult struct {
	scenario, name, status, note string
}

var (
	resultsMu sync.Mutex
	results   []checkResult
)

func record(r checkResult) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	results = append(results, r)
}

func printSummary(w io.Writer) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(results) == 0 {
		return
	}
	hosts := "booted Debian hosts (bookworm; trixie with sudo-rs in the sudo-rs scenarios)"
	if c := os.Getenv(VMEnv); c != "" {
		hosts = "QEMU guests of " + c
	}
	fmt.Fprintf(w, "\nEnd-to-end checks on %s:\n", hosts)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tCHECK\tRESULT\tNOTE")
	// Scenarios run in parallel; group their checks, each in run order.
	sort.SliceStable(results, func(i, j int) bool { return results[i].scenario < results[j].scenario })
	counts := map[string]int{}
	for _, r := range results {
		counts[r.status]++
		note := r.note
		if i := strings.IndexByte(note, '\n'); i >= 0 {
			note = note[:i] + " ..."
		}
		if len(note) > 160 {
			note = note[:157] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.scenario, r.name, r.status, note)
	}
	tw.Flush()
	fmt.Fprintf(w, "pass=%d fail=%d not-run=%d\n\n", counts["PASS"], counts["FAIL"], counts["NOT RUN"])
}
