//go:build linux

package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// deepChain makes upper/ of instance a a chain of depth directories with
// names of nameLen bytes and one fallback whiteout file (.wh.NAME) per
// level, through fds: the deep paths are far longer than PATH_MAX.
func deepChain(t *testing.T, tr *tree, depth, nameLen int) {
	t.Helper()
	fd, err := unix.Open(tr.upper("a"), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < depth; i++ {
		wh := fmt.Sprintf(".wh.%s%08d", strings.Repeat("w", nameLen-12), i)
		f, err := unix.Openat(fd, wh, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			t.Fatalf("level %d: %v", i, err)
		}
		unix.Close(f)
		d := fmt.Sprintf("%s%08d", strings.Repeat("d", nameLen-8), i)
		if err := unix.Mkdirat(fd, d, 0o755); err != nil {
			t.Fatalf("level %d: %v", i, err)
		}
		next, err := openDirAt(fd, d)
		unix.Close(fd)
		if err != nil {
			t.Fatalf("level %d: %v", i, err)
		}
		fd = next
	}
	unix.Close(fd)
}

// measured is what the helper process reports.
type measured struct {
	MaxRSSKiB int64  `json:"max_rss_kib"`
	Error     string `json:"error,omitempty"`
}

// measureMigrate migrates the tree at root (--root semantics) and prints
// its peak resident set size; it runs in a process of its own so the
// figure is the migration's alone.
func measureMigrate(root string) int {
	var out measured
	if _, err := Run(context.Background(), Options{Root: hostpath.Root(root)}); err != nil {
		out.Error = err.Error()
	}
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	out.MaxRSSKiB = ru.Maxrss
	json.NewEncoder(os.Stdout).Encode(out)
	return 0
}

// TestDeepChainBounded: a deep chain of long names with one .wh. file per
// level (quadratic in depth when every change is listed with its full
// path) migrates with exact counts, a report bounded whatever the depth,
// and memory that does not grow with the square of the depth.
func TestDeepChainBounded(t *testing.T) {
	testenv.RequireNamespace(t)
	const depth, nameLen = 3000, 255
	tr := newTree(t, "a")
	deepChain(t, tr, depth, nameLen)

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "L4M_TMG_MEASURE="+string(tr.root))
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("migration process: %v", err)
	}
	var got measured
	if err := json.Unmarshal(b, &got); err != nil || got.Error != "" {
		t.Fatalf("migration process printed %q (%v)", b, err)
	}
	// For scale: listing every change with its full path needs about
	// depth² × nameLen bytes (2.3 GB here); the whole tree is 12 MB.
	t.Logf("depth %d, names of %d bytes: peak RSS of the migration %d KiB", depth, nameLen, got.MaxRSSKiB)
	if got.MaxRSSKiB > 256<<10 {
		t.Errorf("peak RSS %d KiB, want well under 256 MiB", got.MaxRSSKiB)
	}

	kept, err := os.ReadFile(tr.root.Join(ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	// Bound: MaxListed entries of at most MaxShownPath bytes, plus JSON.
	if bound := MaxListed * (MaxShownPath + 512); len(kept) > bound {
		t.Errorf("report of %d bytes, want at most %d", len(kept), bound)
	}
	t.Logf("report: %d bytes", len(kept))
	var rep Report
	if err := json.Unmarshal(kept, &rep); err != nil {
		t.Fatal(err)
	}
	ir := rep.Instances[0]
	if ir.Counts[KindWhiteout] != depth || ir.Counts[KindMarker] != depth {
		t.Errorf("counts %v, want whiteout=%d marker=%d exactly", ir.Counts, depth, depth)
	}
	if !rep.Truncated || ir.Omitted[KindWhiteout] != depth-MaxListedPerKind || ir.Omitted[KindMarker] != depth-MaxListedPerKind {
		t.Errorf("truncated=%v omitted=%v, want %d of each kind left out", rep.Truncated, ir.Omitted, depth-MaxListedPerKind)
	}
	for _, c := range ir.Changes {
		if len(c.Path) > MaxShownPath+32 {
			t.Errorf("listed path of %d bytes", len(c.Path))
		}
	}
	var text strings.Builder
	rep.WriteText(&text, true)
	if !strings.Contains(text.String(), "report truncated") || !strings.Contains(text.String(), "not listed: whiteout=2900 marker=2900") {
		t.Errorf("text report does not say it is truncated:\n%.2000s", text.String())
	}
	// And the conversion itself is complete: a rerun changes nothing.
	os.Remove(tr.root.Join(hostpath.Sentinel))
	again, err := Run(context.Background(), Options{Root: tr.root})
	if err != nil {
		t.Fatal(err)
	}
	if n := again.Instances[0].Total(); n != 0 {
		t.Errorf("rerun made %d changes, want none", n)
	}
}

// TestEntryPathShortened: the path of an entry deep in a chain renders as
// shorten renders the full path, built without the full path.
func TestEntryPathShortened(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 300; i++ {
		var dir *relPath
		full := "/var/lib/left4me/runtime/a/upper"
		for d := rng.Intn(40); d > 0; d-- {
			n := strings.Repeat(string(rune('a'+rng.Intn(26))), 1+rng.Intn(120))
			dir = dir.child(n)
			full += "/" + n
		}
		name := ""
		if rng.Intn(3) > 0 {
			name = strings.Repeat("n", 1+rng.Intn(300))
			full += "/" + name
		}
		p := entryPath{host: "/var/lib/left4me/runtime/a/upper", dir: dir, name: name}
		if got, want := p.String(), shorten(full); got != want {
			t.Fatalf("entryPath of %d bytes = %q, want %q", len(full), got, want)
		}
	}
}
