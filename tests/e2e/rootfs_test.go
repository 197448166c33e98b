//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The Debian host every scenario boots. rootfsPackages are what a bare
// left4me host has before the first deploy, plus what the test itself uses
// inside it (fuse-overlayfs to build the fuse-era host; attr for setfattr in
// its workload). The deploy must not need to install anything else.
const (
	rootfsSuite   = "bookworm"
	rootfsVariant = "minbase"
	// rootfsFormat changes whenever the post-processing below changes, so
	// an old cached tarball is not reused.
	rootfsFormat = "2"
)

var rootfsPackages = []string{
	"systemd", "systemd-sysv", "dbus", // systemd as PID 1
	"openssh-server",      // the operator's way in
	"sudo",                // the helpers' privilege boundary
	"util-linux", "mount", // findmnt, nsenter, runuser
	"procps",                  // ps, for diagnostics
	"fuse-overlayfs", "fuse3", // the old stack, for the fuse-era host
	"attr", // setfattr in the fuse-era workload
}

// cacheDir is where rootfs tarballs persist between runs.
func cacheDir() string {
	if d := os.Getenv("LEFT4ME_E2E_CACHE"); d != "" {
		return d
	}
	return "/var/cache/left4me-e2e"
}

// rootfsKey names the bookworm tarball by everything that goes into it.
func rootfsKey() string { return bookwormImage.key() }

// key names the tarball of img by everything that goes into it.
func (img *rootfsImage) key() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n", img.Suite, rootfsVariant, strings.Join(img.packages(), ","), rootfsFormat)
	if img.Post != "" {
		fmt.Fprintf(h, "post\n%s", img.Post)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// aptMirror returns the Debian mirror this machine's apt uses for the
// bookworm rootfs, so debootstrap goes where apt already may go. Set
// LEFT4ME_E2E_MIRROR to override.
func aptMirror() string { return aptMirrorFor(rootfsSuite) }

// aptMirrorFor is aptMirror for suite; a suite this machine's apt does
// not name gets the mirror of deb.debian.org.
func aptMirrorFor(suite string) string {
	if m := os.Getenv("LEFT4ME_E2E_MIRROR"); m != "" {
		return m
	}
	if m := mirrorFromSources(suite); m != "" {
		return m
	}
	return "http://deb.debian.org/debian"
}

func mirrorFromSources(rootfsSuite string) string {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// deb822: stanzas separated by blank lines.
		for _, stanza := range strings.Split(string(b), "\n\n") {
			var uris, suites []string
			for _, line := range strings.Split(stanza, "\n") {
				k, v, ok := strings.Cut(line, ":")
				if !ok || strings.HasPrefix(line, "#") {
					continue
				}
				switch strings.TrimSpace(k) {
				case "URIs":
					uris = strings.Fields(v)
				case "Suites":
					suites = strings.Fields(v)
				}
			}
			for _, s := range suites {
				if s == rootfsSuite {
					for _, u := range uris {
						if strings.HasPrefix(u, "http") {
							return u
						}
					}
				}
			}
		}
	}
	f, err := os.Open("/etc/apt/sources.list")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// deb [opts] URI SUITE COMPONENTS...
		if len(fields) < 3 || fields[0] != "deb" {
			continue
		}
		rest := fields[1:]
		if strings.HasPrefix(rest[0], "[") {
			for len(rest) > 0 && !strings.HasSuffix(rest[0], "]") {
				rest = rest[1:]
			}
			if len(rest) > 0 {
				rest = rest[1:]
			}
		}
		if len(rest) >= 2 && rest[1] == rootfsSuite && strings.HasPrefix(rest[0], "http") {
			return rest[0]
		}
	}
	return ""
}

// rootfsMaxAge bounds how long a cached rootfs is used. Its apt lists age
// with it, and the deploy's package step installs from them: past this age
// the mirror may no longer have the versions they name.
const rootfsMaxAge = 7 * 24 * time.Hour

func fresh(tarball string) bool {
	fi, err := os.Stat(tarball)
	return err == nil && time.Since(fi.ModTime()) < rootfsMaxAge
}

// cachedRootfsOf returns the path of the rootfs tarball of img, building it
// first if the cache does not have it. Concurrent test runs serialise on a
// lock file, so only one of them builds.
func cachedRootfsOf(t *testing.T, img *rootfsImage) string {
	t.Helper()
	dir := cacheDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create rootfs cache dir: %v", err)
	}
	tarball := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.tar", img.Name, rootfsVariant, img.key()))
	if fresh(tarball) {
		return tarball
	}

	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("open rootfs cache lock: %v", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatalf("lock rootfs cache: %v", err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	if fresh(tarball) {
		return tarball // another run built it while we waited
	}
	// Holding the lock, any leftover build dir is from a run that died.
	stale, _ := filepath.Glob(filepath.Join(dir, "build-*"))
	for _, s := range stale {
		os.RemoveAll(s)
	}

	start := time.Now()
	if err := buildRootfs(t, img, dir, tarball); err != nil {
		t.Fatalf("build the %s rootfs: %v", img.Name, err)
	}
	t.Logf("built and cached the %s rootfs in %s: %s", img.Name, time.Since(start).Round(time.Second), tarball)
	// Tarballs of other package lists are from older versions of this test.
	old, _ := filepath.Glob(filepath.Join(dir, img.Name+"-"+rootfsVariant+"-*.tar"))
	for _, o := range old {
		if o != tarball {
			os.Remove(o)
		}
	}
	return tarball
}

func buildRootfs(t *testing.T, img *rootfsImage, cache, tarball string) error {
	build, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(build)
	root := filepath.Join(build, "rootfs")
	mirror := aptMirrorFor(img.Suite)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	args := []string{"--variant=" + rootfsVariant, "--include=" + strings.Join(img.packages(), ","), img.Suite, root, mirror}
	t.Logf("debootstrap %s (mirror %s)", strings.Join(args[:2], " "), mirror)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "debootstrap", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		logTail := tail(out.String(), 20)
		if b, rerr := os.ReadFile(filepath.Join(root, "debootstrap", "debootstrap.log")); rerr == nil {
			logTail += "\n--- debootstrap.log:\n" + tail(string(b), 20)
		}
		return fmt.Errorf("debootstrap %s: %w\n%s", strings.Join(args, " "), err, logTail)
	}

	if img.Post != "" {
		out.Reset()
		post := exec.CommandContext(ctx, "chroot", root, "sh", "-euc", img.Post)
		post.Stdout, post.Stderr = &out, &out
		if err := post.Run(); err != nil {
			return fmt.Errorf("prepare the %s rootfs (chroot %s sh -euc ...): %w\n%s", img.Name, root, err, out.String())
		}
	}

	// Per-boot identity is made fresh for every test host: no SSH host
	// keys and no machine id in the cached image.
	keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/machine-id"), nil, 0o444); err != nil {
		return err
	}
	os.RemoveAll(filepath.Join(root, "var/cache/apt/archives"))
	os.MkdirAll(filepath.Join(root, "var/cache/apt/archives/partial"), 0o755)

	tmp := tarball + ".tmp"
	out.Reset()
	tar := exec.CommandContext(ctx, "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", root, "-cf", tmp, ".")
	tar.Stdout, tar.Stderr = &out, &out
	if err := tar.Run(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tar the rootfs into %s: %w: %s", tmp, err, out.String())
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err == nil {
		err = os.Rename(tmp, tarball)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store %s: %w", tarball, err)
	}
	return nil
}

// extractRootfs unpacks the cached tarball into a new directory for one
// test host.
func extractRootfs(t *testing.T, tarball, dir string) {
	t.Helper()
	out, err := exec.Command("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", dir, "-xpf", tarball).CombinedOutput()
	if err != nil {
		t.Fatalf("extract %s into %s: %v: %s", tarball, dir, err, out)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
