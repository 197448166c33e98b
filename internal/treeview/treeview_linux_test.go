//go:build linux

package treeview

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

func TestMain(m *testing.M) { testenv.ReexecInNamespace(m) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func record(t *testing.T, dir string, o Options) []string {
	t.Helper()
	v, err := Record(dir, o)
	if err != nil {
		t.Fatalf("Record(%s): %v", dir, err)
	}
	return v
}

// TestRecord checks that each property of an entry changes the view, and
// that equal trees give equal views.
func TestRecord(t *testing.T) {
	base := t.TempDir()
	build := func(t *testing.T, mutate func(d string) error) []string {
		d, err := os.MkdirTemp(base, "tree")
		must(t, err)
		must(t, os.MkdirAll(filepath.Join(d, "sub"), 0o755))
		must(t, os.WriteFile(filepath.Join(d, "sub", "f"), []byte("content"), 0o644))
		must(t, os.Symlink("sub/f", filepath.Join(d, "link")))
		must(t, unix.Mkfifo(filepath.Join(d, "fifo"), 0o644))
		if mutate != nil {
			if err := mutate(d); err != nil {
				testenv.Skip(t, "cannot change the tree: %v", err)
			}
		}
		return record(t, d, Options{})
	}
	ref := build(t, nil)
	joined := strings.Join(ref, "\n")
	for _, want := range []string{". dir 0", "sub dir 0755", "sub/f file 0644", "size=7", "link symlink 0777", "-> sub/f", "fifo fifo 0644"} {
		if !strings.Contains(joined, want) {
			t.Errorf("view lacks %q:\n%s", want, joined)
		}
	}
	if d := Diff(ref, build(t, nil)); d != "" {
		t.Errorf("two equal trees give different views:\n%s", d)
	}
	for name, mutate := range map[string]func(d string) error{
		"content":     func(d string) error { return os.WriteFile(filepath.Join(d, "sub", "f"), []byte("CONTENT"), 0o644) },
		"size":        func(d string) error { return os.WriteFile(filepath.Join(d, "sub", "f"), []byte("content+"), 0o644) },
		"mode":        func(d string) error { return os.Chmod(filepath.Join(d, "sub", "f"), 0o600) },
		"owner":       func(d string) error { return os.Lchown(filepath.Join(d, "sub", "f"), 4321, 4321) },
		"dir mode":    func(d string) error { return os.Chmod(filepath.Join(d, "sub"), 0o700) },
		"extra entry": func(d string) error { return os.WriteFile(filepath.Join(d, ".wh..wh..opq"), nil, 0o644) },
		"missing":     func(d string) error { return os.Remove(filepath.Join(d, "fifo")) },
		"type": func(d string) error {
			os.Remove(filepath.Join(d, "fifo"))
			return os.WriteFile(filepath.Join(d, "fifo"), nil, 0o644)
		},
		"link target": func(d string) error {
			os.Remove(filepath.Join(d, "link"))
			return os.Symlink("sub", filepath.Join(d, "link"))
		},
		"user xattr":   func(d string) error { return unix.Setxattr(filepath.Join(d, "sub", "f"), "user.t", []byte("v"), 0) },
		"xattr value":  func(d string) error { return unix.Setxattr(filepath.Join(d, "sub"), "user.t", []byte("w"), 0) },
		"device":       func(d string) error { return unix.Mknod(filepath.Join(d, "dev"), unix.S_IFCHR, 0) },
		"nested entry": func(d string) error { return os.Mkdir(filepath.Join(d, "sub", "deeper"), 0o755) },
	} {
		t.Run(name, func(t *testing.T) {
			if d := Diff(ref, build(t, mutate)); d == "" {
				t.Errorf("view did not change with %s", name)
			}
		})
	}
}

// TestUnstatable mounts kernel overlayfs over an upper whose opaque
// directory holds a whiteout: readdir lists the name, lstat cannot find
// it. The view has it as an unstatable entry, which a walk that skips
// what it cannot stat would miss.
func TestUnstatable(t *testing.T) {
	testenv.RequireNamespace(t)
	base := t.TempDir()
	lower, upper, work, merged := filepath.Join(base, "l"), filepath.Join(base, "u"), filepath.Join(base, "w"), filepath.Join(base, "m")
	for _, d := range []string{lower + "/a/b", upper + "/a", work, merged} {
		must(t, os.MkdirAll(d, 0o755))
	}
	must(t, os.WriteFile(lower+"/a/b/f", []byte("f"), 0o644))
	must(t, unix.Mknod(upper+"/a/b", unix.S_IFCHR, 0))
	must(t, unix.Setxattr(upper+"/a", "trusted.overlay.opaque", []byte("y"), 0))
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		testenv.Skip(t, "mount overlay: %v", err)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)
	v := record(t, merged, Options{})
	a := Anomalies(v)
	if len(a) != 1 || a[0] != "a/b "+Unstatable+" ENOENT" {
		t.Fatalf("anomalies = %q, want a/b unstatable; view:\n%s", a, strings.Join(v, "\n"))
	}
	unix.Unmount(merged, 0)
	must(t, os.Remove(upper+"/a/b"))
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatal(err)
	}
	if a := Anomalies(record(t, merged, Options{})); len(a) != 0 {
		t.Errorf("without the whiteout: anomalies %q", a)
	}
}

// TestUnlisted: a name that lookup finds and readdir does not list (here
// the directory listing is cut by a stand-in) is in the view, marked, if
// it is among the probes; so is a name listed twice.
func TestUnlisted(t *testing.T) {
	d := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(d, "sub"), 0o755))
	for _, f := range []string{"sub/hidden", "sub/shown", "top"} {
		must(t, os.WriteFile(filepath.Join(d, f), []byte(f), 0o644))
	}
	readDir = func(dir string) ([]string, error) {
		names, err := readNames(dir)
		var out []string
		for _, n := range names {
			switch n {
			case "hidden":
			case "top":
				out = append(out, n, n)
			default:
				out = append(out, n)
			}
		}
		return out, err
	}
	defer func() { readDir = readNames }()
	probes, err := Probes(d)
	must(t, err)
	a := Anomalies(record(t, d, Options{Probe: append(probes, "sub/nonexistent", "../escape")}))
	want := []string{"sub/hidden " + Unlisted + " file 0644", "top file 0644"}
	if len(a) != 2 || !strings.HasPrefix(a[0], want[0]) || !strings.HasPrefix(a[1], want[1]) || !strings.HasSuffix(a[1], Duplicate+"=2") {
		t.Fatalf("anomalies = %q, want %q... and a duplicate top", a, want)
	}
	if a := Anomalies(record(t, d, Options{})); len(a) != 1 {
		t.Errorf("without probes the unlisted name cannot be seen, the duplicate can: %q", a)
	}
}

// TestProbes: every name of every layer, and the name a fallback whiteout
// hides.
func TestProbes(t *testing.T) {
	l1, l2 := t.TempDir(), t.TempDir()
	must(t, os.MkdirAll(filepath.Join(l1, "a/b"), 0o755))
	must(t, os.WriteFile(filepath.Join(l2, ".wh.gone"), nil, 0o644))
	must(t, os.Symlink("/", filepath.Join(l2, "root")))
	p, err := Probes(l1, l2, filepath.Join(l2, "missing"))
	must(t, err)
	if got, want := strings.Join(p, " "), ".wh.gone a a/b gone root"; got != want {
		t.Errorf("probes = %q, want %q", got, want)
	}
}
