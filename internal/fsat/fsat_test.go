//go:build linux

package fsat

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

// TestMain re-runs the tests as PID 1 of a private PID+mount namespace when
// root, so that the mounts the tests make never leak onto the machine.
func TestMain(m *testing.M) { testenv.ReexecInNamespace(m) }

func mkdirAll(t testing.TB, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t testing.TB, p, data string) {
	t.Helper()
	mkdirAll(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func openPath(t testing.TB, p string) int {
	t.Helper()
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func openRead(t testing.TB, p string) int {
	t.Helper()
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// mountTmpfs mounts a tmpfs at p for the test (needs the private namespace).
func mountTmpfs(t testing.TB, p string) {
	t.Helper()
	testenv.RequireNamespace(t)
	mkdirAll(t, p)
	if err := unix.Mount("tmpfs", p, "tmpfs", 0, "size=4m"); err != nil {
		t.Fatalf("mount tmpfs at %s: %v", p, err)
	}
	// Unmount through an fd of the mount's root: a test may move it.
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Unmount(fmt.Sprintf("/proc/self/fd/%d", fd), unix.MNT_DETACH)
		unix.Close(fd)
	})
}

// tree makes base/{a/b/c, file, link -> /etc, dotdot -> .., a/up -> ../..}
// and a sibling outside/ that nothing may reach.
func tree(t testing.TB) (base, outside string) {
	dir := t.TempDir()
	base, outside = filepath.Join(dir, "base"), filepath.Join(dir, "outside")
	mkdirAll(t, filepath.Join(base, "a/b/c"))
	write(t, filepath.Join(base, "file"), "x")
	write(t, filepath.Join(outside, "keep"), "k")
	for link, to := range map[string]string{"link": "/etc", "dotdot": "..", "a/up": "../..", "tofile": "file"} {
		if err := os.Symlink(to, filepath.Join(base, link)); err != nil {
			t.Fatal(err)
		}
	}
	return base, outside
}

func TestOpen(t *testing.T) {
	base, _ := tree(t)
	bfd := openPath(t, base)
	for _, tc := range []struct {
		name string
		dir  bool
		want error // nil: opens
	}{
		{"a", true, nil},
		{"a/b/c", true, nil},
		{".", true, nil},
		{"file", false, nil},
		{"file", true, unix.ENOTDIR},
		{"link", true, unix.ELOOP},
		{"link/passwd", false, unix.ELOOP},
		{"tofile", false, unix.ELOOP},
		{"dotdot", true, unix.ELOOP},
		{"a/up/outside", true, unix.ELOOP},
		{"..", true, unix.EXDEV},
		{"a/../../outside", true, unix.EXDEV},
		{"/etc", true, unix.EXDEV},
		{"missing", true, unix.ENOENT},
	} {
		flags := unix.O_RDONLY
		if tc.dir {
			flags = unix.O_PATH | unix.O_DIRECTORY
		}
		fd, err := Open(bfd, tc.name, "/host/"+tc.name, flags, 0, 0)
		if fd >= 0 {
			unix.Close(fd)
		}
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("Open(%q, dir=%v) = %v, want %v", tc.name, tc.dir, err, tc.want)
		}
		var pe *os.PathError
		if err != nil && (!errors.As(err, &pe) || pe.Path != "/host/"+tc.name) {
			t.Errorf("Open(%q) error %v does not carry the path", tc.name, err)
		}
	}
}

func TestOpenNoXdev(t *testing.T) {
	base, _ := tree(t)
	mountTmpfs(t, filepath.Join(base, "a/mnt"))
	mkdirAll(t, filepath.Join(base, "a/mnt/in"))
	bfd := openPath(t, base)
	for _, tc := range []struct {
		name string
		opt  Opt
		want error
	}{
		{"a/mnt/in", 0, nil},
		{"a/mnt", 0, nil},
		{"a/mnt/in", NoXdev, unix.EXDEV},
		{"a/mnt", NoXdev, unix.EXDEV},
		{"a/b", NoXdev, nil},
	} {
		fd, err := OpenDir(bfd, tc.name, tc.name, tc.opt)
		if fd >= 0 {
			unix.Close(fd)
		}
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("OpenDir(%q, %#x) = %v, want %v", tc.name, tc.opt, err, tc.want)
		}
	}
}

func TestStat(t *testing.T) {
	base, _ := tree(t)
	mountTmpfs(t, filepath.Join(base, "mnt"))
	if err := os.Chown(filepath.Join(base, "file"), 4242, 4343); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(base, "wh"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	bfd := openPath(t, base)
	self, err := StatMount(bfd, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		typ       uint32
		mountRoot bool
		check     func(Entry) string
	}{
		{"a", unix.S_IFDIR, false, nil},
		{"link", unix.S_IFLNK, false, nil},
		{"file", unix.S_IFREG, false, func(e Entry) string {
			if e.UID != 4242 || e.GID != 4343 {
				return fmt.Sprintf("owner %d:%d", e.UID, e.GID)
			}
			return ""
		}},
		{"wh", unix.S_IFCHR, false, func(e Entry) string {
			if !e.IsWhiteout() {
				return "not a whiteout"
			}
			return ""
		}},
		{"mnt", unix.S_IFDIR, true, func(e Entry) string {
			if e.MountID == self.MountID {
				return "same mount id as its parent"
			}
			return ""
		}},
	} {
		e, err := StatMount(bfd, tc.name)
		if err != nil {
			t.Errorf("StatMount(%q) = %v", tc.name, err)
			continue
		}
		if e.Type() != tc.typ || e.MountRoot != tc.mountRoot {
			t.Errorf("StatMount(%q) = type %#o mount root %v, want %#o %v", tc.name, e.Type(), e.MountRoot, tc.typ, tc.mountRoot)
		}
		if tc.check != nil {
			if why := tc.check(e); why != "" {
				t.Errorf("StatMount(%q): %s", tc.name, why)
			}
		}
	}
	if _, err := Stat(bfd, "missing"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Stat(missing) = %v, want ENOENT", err)
	}
}

func TestFSType(t *testing.T) {
	base, _ := tree(t)
	mnt := filepath.Join(base, "mnt")
	mountTmpfs(t, mnt)
	if err := CheckLocalFS(openPath(t, mnt), mnt, "layer"); err != nil {
		t.Errorf("CheckLocalFS(tmpfs) = %v", err)
	}
	for _, p := range []string{"/proc", "/sys"} {
		err := CheckLocalFS(openPath(t, p), p, "layer")
		if err == nil || !strings.Contains(err.Error(), "refused layer "+p) {
			t.Errorf("CheckLocalFS(%s) = %v, want a refusal", p, err)
		}
	}
	// statmount, the mount table and fstatfs agree where they exist: the
	// mount table is what kernels before 6.8 answer from.
	for _, p := range []string{mnt, base, "/proc", "/sys"} {
		fd := openPath(t, p)
		var sfs unix.Statfs_t
		if err := unix.Fstatfs(fd, &sfs); err != nil {
			t.Fatalf("fstatfs %s: %v", p, err)
		}
		want := int64(sfs.Type)
		if m, ok := statmountMagic(fd); ok && m != want {
			t.Errorf("%s: statmount magic %#x, fstatfs %#x", p, m, want)
		}
		m, ok, err := mountTableMagic(fd)
		if !ok || err != nil {
			t.Fatalf("mountTableMagic(%s) = %#x, %v, %v; want an answer", p, m, ok, err)
		}
		if m != want {
			t.Errorf("%s: mount table gives %s (%#x), fstatfs %s (%#x)", p, FSName(m), m, FSName(want), want)
		}
	}
}

func TestMagicOfTypeName(t *testing.T) {
	for name, want := range map[string]int64{
		"ext4": unix.EXT4_SUPER_MAGIC, "ext3": unix.EXT4_SUPER_MAGIC, "tmpfs": unix.TMPFS_MAGIC,
		"fuse": unix.FUSE_SUPER_MAGIC, "fuse.sshfs": unix.FUSE_SUPER_MAGIC, "fuseblk": unix.FUSE_SUPER_MAGIC,
		"overlay": unix.OVERLAYFS_SUPER_MAGIC, "9p": unknownMagic, "": unknownMagic, "ext4x": unknownMagic,
	} {
		if got := magicOfTypeName(name); got != want {
			t.Errorf("magicOfTypeName(%q) = %#x, want %#x", name, got, want)
		}
		if _, local := localFS[magicOfTypeName(name)]; local && want == unknownMagic {
			t.Errorf("magicOfTypeName(%q) is on the allow-list", name)
		}
	}
}

func TestNames(t *testing.T) {
	dir := t.TempDir()
	for i := range 50 {
		write(t, filepath.Join(dir, fmt.Sprintf("n%02d", 49-i)), "")
	}
	fd := openRead(t, dir)
	for _, tc := range []struct {
		max     int
		want    int
		wantErr error
	}{{100, 50, nil}, {50, 50, nil}, {49, 0, ErrTooMany}, {0, 0, ErrTooMany}} {
		names, err := Names(fd, tc.max)
		if !errors.Is(err, tc.wantErr) || len(names) != tc.want {
			t.Errorf("Names(max %d) = %d names, %v; want %d, %v", tc.max, len(names), err, tc.want, tc.wantErr)
		}
		if err == nil && (names[0] != "n00" || names[49] != "n49") {
			t.Errorf("Names(max %d) not sorted: %q", tc.max, names)
		}
	}
	if names, err := FirstNames(fd, 7); err != nil || len(names) != 7 {
		t.Errorf("FirstNames(7) = %d names, %v", len(names), err)
	}
}

func TestXattr(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	write(t, f, "")
	var want []string
	for i := range 30 { // over the first 256-byte buffer: the list grows
		n := fmt.Sprintf("user.%s%02d", strings.Repeat("x", 40), i)
		if err := unix.Setxattr(f, n, []byte("v"), 0); err != nil {
			t.Skipf("user xattrs on %s: %v", dir, err)
		}
		want = append(want, n)
	}
	big := strings.Repeat("v", 1000)
	if err := unix.Setxattr(f, "user.big", []byte(big), 0); err != nil {
		t.Fatal(err)
	}
	want = append(want, "user.big")
	fd, err := unix.Open(f, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	dfd := openPath(t, dir)
	for what, list := range map[string]func() ([]string, error){
		"ListXattr":  func() ([]string, error) { return ListXattr(fd) },
		"LListXattr": func() ([]string, error) { return LListXattr(ProcPath(dfd, "f")) },
	} {
		got, err := list()
		if err != nil || len(got) != len(want) {
			t.Errorf("%s = %d names, %v; want %d", what, len(got), err, len(want))
		}
	}
	for what, get := range map[string]func(string) ([]byte, bool, error){
		"GetXattr":  func(a string) ([]byte, bool, error) { return GetXattr(fd, a) },
		"LGetXattr": func(a string) ([]byte, bool, error) { return LGetXattr(ProcPath(dfd, "f"), a) },
	} {
		if v, ok, err := get("user.big"); err != nil || !ok || string(v) != big {
			t.Errorf("%s(user.big) = %d bytes, %v, %v", what, len(v), ok, err)
		}
		if _, ok, err := get("user.none"); err != nil || ok {
			t.Errorf("%s(user.none) = %v, %v; want not set", what, ok, err)
		}
	}
	// A symlink is not followed.
	if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	if got, err := LListXattr(ProcPath(dfd, "l")); err != nil || len(got) != 0 {
		t.Errorf("LListXattr(symlink) = %q, %v; want the link's own (none)", got, err)
	}
}

func TestRemoveAll(t *testing.T) {
	for _, tc := range []struct {
		name    string
		build   func(t *testing.T, victim string)
		wantErr error
		gone    bool
	}{
		{"missing", func(*testing.T, string) {}, nil, true},
		{"file", func(t *testing.T, v string) { write(t, v, "x") }, nil, true},
		{"symlink to outside", func(t *testing.T, v string) {
			if err := os.Symlink("../outside", v); err != nil {
				t.Fatal(err)
			}
		}, nil, true},
		{"tree with links out", func(t *testing.T, v string) {
			mkdirAll(t, filepath.Join(v, "a/b"))
			write(t, filepath.Join(v, "a/b/f"), "x")
			os.Symlink("../../../../outside", filepath.Join(v, "a/b/up"))
			os.Symlink("/", filepath.Join(v, "root"))
			os.Chmod(filepath.Join(v, "a"), 0) // root removes it anyway
		}, nil, true},
		{"wide", func(t *testing.T, v string) {
			for i := range 2500 { // over removeBatch: read in batches
				write(t, filepath.Join(v, fmt.Sprintf("%04d", i)), "")
			}
		}, nil, true},
		{"deep", func(t *testing.T, v string) {
			mkdirAll(t, filepath.Join(v, strings.Repeat("d/", HoldDepth+1)))
		}, nil, true},
		{"5000 levels", func(t *testing.T, v string) { deepTree(t, v, 5000) }, nil, true},
		{"20000 levels, files and a link out at the bottom", func(t *testing.T, v string) {
			fd := deepTree(t, v, 20000)
			defer unix.Close(fd)
			if err := unix.Symlinkat("/", fd, "root"); err != nil {
				t.Fatal(err)
			}
			if err := unix.Symlinkat(strings.Repeat("../", 30)+"outside", fd, "up"); err != nil {
				t.Fatal(err)
			}
			f, err := unix.Openat(fd, "f", unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			unix.Close(f)
		}, nil, true},
		{"names like the moved ones", func(t *testing.T, v string) {
			mkdirAll(t, filepath.Join(v, movedPrefix+"1", strings.Repeat("d/", HoldDepth+2)))
			write(t, filepath.Join(v, movedPrefix+"2"), "x")
			mkdirAll(t, filepath.Join(v, strings.Repeat("d/", 2*HoldDepth+3)))
		}, nil, true},
		{"mount below the held depth", func(t *testing.T, v string) {
			mountTmpfs(t, filepath.Join(v, strings.Repeat("d/", 2*HoldDepth+5), "mnt"))
			write(t, filepath.Join(v, strings.Repeat("d/", 2*HoldDepth+5), "mnt/keep"), "k")
		}, ErrMountPoint, false},
		{"mount inside", func(t *testing.T, v string) {
			mountTmpfs(t, filepath.Join(v, "x/mnt"))
			write(t, filepath.Join(v, "x/mnt/keep"), "k")
		}, ErrMountPoint, false},
		{"mount itself", func(t *testing.T, v string) {
			mountTmpfs(t, v)
			write(t, filepath.Join(v, "keep"), "k")
		}, ErrMountPoint, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			outside := filepath.Join(dir, "outside")
			write(t, filepath.Join(outside, "keep"), "k")
			base := filepath.Join(dir, "base")
			mkdirAll(t, base)
			victim := filepath.Join(base, "victim")
			tc.build(t, victim)
			err := RemoveAll(openRead(t, base), "victim", "/host/victim")
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("RemoveAll = %v, want %v", err, tc.wantErr)
			}
			var pe *os.PathError
			if err != nil && (!errors.As(err, &pe) || !strings.HasPrefix(pe.Path, "/host/victim")) {
				t.Errorf("error %v does not carry the path", err)
			}
			if _, serr := os.Lstat(victim); (serr == nil) == tc.gone {
				t.Errorf("after RemoveAll: victim exists = %v, want %v", serr == nil, !tc.gone)
			}
			if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
				t.Errorf("RemoveAll reached outside: %v", err)
			}
			if tc.wantErr == ErrMountPoint {
				found := false
				filepath.Walk(victim, func(p string, fi os.FileInfo, err error) error {
					found = found || err == nil && fi.Name() == "keep"
					return nil
				})
				if !found {
					t.Errorf("RemoveAll removed a file inside a mount")
				}
			}
		})
	}
}

// deepTree makes victim and a chain of depth directories below it, fd by fd
// (the path is far longer than PATH_MAX), and returns an fd of the deepest.
func deepTree(t *testing.T, victim string, depth int) int {
	t.Helper()
	mkdirAll(t, victim)
	return testenv.DeepChain(t, victim, depth)
}

func TestMountOnPath(t *testing.T) {
	base, _ := tree(t)
	mountTmpfs(t, filepath.Join(base, "a/mnt"))
	mkdirAll(t, filepath.Join(base, "a/mnt/in/deeper"))
	bfd := openPath(t, base)
	for _, tc := range []struct {
		rel    string
		wantAt string
		ok     bool
	}{
		{"a/mnt/in/deeper", "a/mnt", true},
		{"a/mnt", "a/mnt", true},
		{"a/b/c", "", false},
		{"link/x", "", false},
	} {
		at, magic, ok := MountOnPath(bfd, tc.rel)
		if at != tc.wantAt || ok != tc.ok || ok && FSName(magic) != "tmpfs" {
			t.Errorf("MountOnPath(%q) = %q, %s, %v; want %q, tmpfs, %v", tc.rel, at, FSName(magic), ok, tc.wantAt, tc.ok)
		}
	}
}

func TestMountExists(t *testing.T) {
	base, _ := tree(t)
	mnt := filepath.Join(base, "mnt")
	// Not mountTmpfs: its O_PATH fd of the mount's root would keep the
	// mount busy, and this test unmounts it for real (no MNT_DETACH).
	testenv.RequireNamespace(t)
	mkdirAll(t, mnt)
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=4m"); err != nil {
		t.Fatalf("mount tmpfs at %s: %v", mnt, err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	bfd := openPath(t, base)
	id, ok := UniqueMountID(bfd, "mnt")
	if !ok {
		// STATX_MNT_ID_UNIQUE and statmount(2) came in Linux 6.8: before
		// that both must say they cannot answer, so callers fall back.
		if kernelAtLeast(t, 6, 8) {
			t.Fatal("UniqueMountID: no unique mount id on Linux 6.8+")
		}
		if _, ok := MountExists(1); ok {
			t.Fatal("MountExists answers on a kernel without statmount(2)")
		}
		return
	}
	if self, _ := UniqueMountID(bfd, ""); self == id {
		t.Fatalf("UniqueMountID(mnt) = %d, the same as its parent's", id)
	}
	if exists, ok := MountExists(id); !ok || !exists {
		t.Fatalf("MountExists(mounted) = %v, %v", exists, ok)
	}
	if err := unix.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	if exists, ok := MountExists(id); !ok || exists {
		t.Fatalf("MountExists(unmounted) = %v, %v", exists, ok)
	}
}

// TestMountSource: statmount's type and source of a mount are what the
// mount table shows.
func TestMountSource(t *testing.T) {
	base, _ := tree(t)
	mnt := filepath.Join(base, "mnt")
	testenv.RequireNamespace(t)
	mkdirAll(t, mnt)
	if err := unix.Mount("l4m-src,with:odd chars", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	fsType, source, ok := MountSource(openPath(t, mnt))
	if !ok {
		// The source came to statmount(2) after it appeared in 6.8; where
		// it is missing, MountSource says so and callers read the table.
		if !kernelAtLeast(t, 6, 18) {
			t.Logf("no statmount(2) source on this kernel: MountSource reports it cannot answer")
			return
		}
		t.Fatal("MountSource: no answer on Linux 6.18+")
	}
	if fsType != "tmpfs" || source != "l4m-src,with:odd chars" {
		t.Errorf("MountSource = %q, %q; want tmpfs, %q", fsType, source, "l4m-src,with:odd chars")
	}
	if fsType, _, ok := MountSource(openPath(t, "/proc")); !ok || fsType != "proc" {
		t.Errorf("MountSource(/proc) = %q, %v", fsType, ok)
	}
}

// kernelAtLeast reports whether the running kernel is major.minor or newer.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release %q: %v", unix.ByteSliceToString(u.Release[:]), err)
	}
	return ma > major || ma == major && mi >= minor
}

// TestMountAt: the mount id and mount-root flag with an empty statx
// request agree with Stat's.
func TestMountAt(t *testing.T) {
	base, _ := tree(t)
	mnt := filepath.Join(base, "mnt")
	mountTmpfs(t, mnt)
	bfd := openPath(t, base)
	for _, name := range []string{"mnt", "a", ""} {
		id, root, err := MountAt(bfd, name)
		if err != nil {
			t.Fatalf("MountAt(%q) = %v", name, err)
		}
		e, err := StatMount(bfd, name)
		if err != nil {
			t.Fatal(err)
		}
		if id != e.MountID || root != e.MountRoot {
			t.Errorf("MountAt(%q) = %d, %v; Stat says %d, %v", name, id, root, e.MountID, e.MountRoot)
		}
	}
	if _, root, _ := MountAt(bfd, "mnt"); !root {
		t.Error("MountAt(mnt) is not a mount root")
	}
	if _, _, err := MountAt(bfd, "missing"); err != unix.ENOENT {
		t.Errorf("MountAt(missing) = %v, want ENOENT", err)
	}
}
