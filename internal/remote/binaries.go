package remote

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/release"
	"github.com/left4me/left4me-deploy/internal/runner"
)

// Binary is one host binary ready to ship: its installed name, where it
// is on this machine, and the SHA-256 of its bytes.
type Binary struct {
	Name   string
	Path   string
	SHA256 string
}

// Source provides the host binaries for a Linux architecture ("amd64",
// "arm64"): a release bundle, or a build from a source checkout.
type Source interface {
	// Binaries returns the binaries for goarch, building them if needed.
	Binaries(ctx context.Context, goarch string) ([]Binary, error)
	// Ready lists what is available without building, by architecture.
	Ready() map[string][]Binary
	// String names the source in progress output.
	String() string
}

// Architectures are the Linux architectures hosts may run, as GOARCH.
var Architectures = protocol.Architectures

// SumsFile lists "SHA256  linux-ARCH/NAME" lines in a bundle and in every
// cached build.
const SumsFile = "SHA256SUMS"

// DeployBinary is the binary that runs the plan on the host; every source
// must provide it.
const DeployBinary = "left4me-deploy"

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	hashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// readSums parses a SHA256SUMS file in dir into binaries by architecture.
// Names and hashes are checked, since they end up in a command line.
func readSums(dir string) (map[string][]Binary, error) {
	f, err := os.Open(filepath.Join(dir, SumsFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]Binary{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		hash, file, ok := strings.Cut(line, " ")
		file = strings.TrimPrefix(strings.TrimSpace(file), "*")
		plat, name, ok2 := strings.Cut(file, "/")
		if _, ws := strings.CutPrefix(plat, "darwin-"); ws && ok && ok2 && hashRE.MatchString(hash) && name == DeployBinary {
			continue // the deployer for macOS workstations; never shipped to a host
		}
		arch, ok3 := strings.CutPrefix(plat, "linux-")
		if !ok || !ok2 || !ok3 || !hashRE.MatchString(hash) || !nameRE.MatchString(name) {
			return nil, fmt.Errorf("%s line %d: want \"SHA256  linux-ARCH/NAME\", got %q", f.Name(), n, line)
		}
		out[arch] = append(out[arch], Binary{Name: name, Path: filepath.Join(dir, "linux-"+arch, name), SHA256: hash})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	for arch, bins := range out {
		if !hasDeploy(bins) {
			return nil, fmt.Errorf("%s: no linux-%s/%s listed", f.Name(), arch, DeployBinary)
		}
	}
	return out, nil
}

func hasDeploy(bins []Binary) bool {
	for _, b := range bins {
		if b.Name == DeployBinary {
			return true
		}
	}
	return false
}

// Bundle is a release bundle (make dist): linux-amd64/ and linux-arm64/
// directories of binaries and a SHA256SUMS file listing them. It needs no
// Go toolchain. The checksums are taken from SHA256SUMS; the host checks
// every shipped file against them.
type Bundle struct {
	Dir  string
	bins map[string][]Binary
}

// OpenBundle reads the bundle in dir.
func OpenBundle(dir string) (*Bundle, error) {
	bins, err := readSums(dir)
	if err != nil {
		return nil, fmt.Errorf("open bundle %s: %w", dir, err)
	}
	return &Bundle{Dir: dir, bins: bins}, nil
}

// Binaries implements Source.
func (b *Bundle) Binaries(_ context.Context, goarch string) ([]Binary, error) {
	bins, ok := b.bins[goarch]
	if !ok {
		return nil, fmt.Errorf("%w: bundle %s has no linux-%s binaries", ErrUnsupported, b.Dir, goarch)
	}
	return bins, nil
}

// Ready implements Source.
func (b *Bundle) Ready() map[string][]Binary { return b.bins }

func (b *Bundle) String() string { return "bundle " + b.Dir }

// Checkout builds the host binaries from a source checkout with the local
// Go toolchain (static, -trimpath, so identical sources give identical
// bytes), caching each build under CacheDir by a key over the sources, the
// toolchain and the architecture. An unchanged checkout reuses its build
// without running go at all.
type Checkout struct {
	Root     string // module root (holds go.mod)
	CacheDir string // e.g. os.UserCacheDir()/left4me-deploy
	Runner   runner.Runner

	mu  sync.Mutex
	key string
}

// modulePath identifies our own checkout when searching upwards for go.mod.
const modulePath = "github.com/left4me/left4me-deploy"

// FindCheckout returns the checkout root at or above dir, or "".
func FindCheckout(dir string) string {
	for d := dir; ; {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module "+modulePath+"\n") {
			if fi, err := os.Stat(filepath.Join(d, "cmd", DeployBinary)); err == nil && fi.IsDir() {
				return d
			}
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

func (c *Checkout) String() string { return "source checkout " + c.Root }

// GoBuildFlags are the flags of every host build, here and in scripts/dist:
// static, reproducible (no paths, no build id) and stamped with the VCS
// commit (-buildvcs=true overrides a GOFLAGS=-buildvcs=false), which every
// binary prints for --version and the host's release record keeps. A build
// outside a git checkout (a source tarball) carries no commit.
var GoBuildFlags = []string{"-trimpath", "-buildvcs=true", "-ldflags=-s -w -buildid="}

// Ready implements Source: the cached builds of the current sources.
func (c *Checkout) Ready() map[string][]Binary {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]Binary{}
	key, err := c.sourceKey()
	if err != nil {
		return out
	}
	for _, arch := range Architectures {
		if bins, err := readBuild(c.buildDir(key, arch), arch); err == nil {
			out[arch] = bins
		}
	}
	return out
}

// Binaries implements Source. goarch must be one of Architectures: it
// becomes part of a path in the cache and of the build's environment.
func (c *Checkout) Binaries(ctx context.Context, goarch string) ([]Binary, error) {
	if err := protocol.CheckArch(goarch); err != nil {
		return nil, fmt.Errorf("%w: build host binaries: %w", ErrUnsupported, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key, err := c.sourceKey()
	if err != nil {
		return nil, err
	}
	dir := c.buildDir(key, goarch)
	if bins, err := readBuild(dir, goarch); err == nil {
		return bins, nil
	}
	if err := c.build(ctx, dir, goarch); err != nil {
		return nil, err
	}
	c.prune(goarch, dir)
	return readBuild(dir, goarch)
}

func (c *Checkout) buildDir(key, goarch string) string {
	return filepath.Join(c.CacheDir, "build", "linux-"+goarch+"-"+key[:24])
}

func readBuild(dir, goarch string) ([]Binary, error) {
	bins, err := readSums(dir)
	if err != nil {
		return nil, err
	}
	if len(bins[goarch]) == 0 {
		return nil, fmt.Errorf("%s: no linux-%s binaries", dir, goarch)
	}
	return bins[goarch], nil
}

// build runs go build for linux/goarch into a temporary directory, writes
// its SHA256SUMS, and renames it to dir, so a cached build is complete or
// absent.
func (c *Checkout) build(ctx context.Context, dir, goarch string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("build host binaries: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-")
	if err != nil {
		return fmt.Errorf("build host binaries: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "linux-"+goarch)
	if err := os.Mkdir(out, 0o755); err != nil {
		return fmt.Errorf("build host binaries: %w", err)
	}
	argv := append([]string{"go", "build"}, GoBuildFlags...)
	argv = append(argv, "-o", out+"/", "./cmd/...")
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	r := c.Runner
	if r == nil {
		r = runner.Exec{}
	}
	if err := r.Run(ctx, runner.Cmd{Argv: argv, Env: env, Dir: c.Root}); err != nil {
		return fmt.Errorf("build host binaries for linux/%s from %s (needs the Go toolchain, or use a release bundle with --bundle): %w", goarch, c.Root, err)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return fmt.Errorf("build host binaries: %w", err)
	}
	var sums strings.Builder
	for _, e := range entries {
		h, err := release.FileSHA256(filepath.Join(out, e.Name()))
		if err != nil {
			return fmt.Errorf("build host binaries: %w", err)
		}
		fmt.Fprintf(&sums, "%s  linux-%s/%s\n", h, goarch, e.Name())
	}
	if err := os.WriteFile(filepath.Join(tmp, SumsFile), []byte(sums.String()), 0o644); err != nil {
		return fmt.Errorf("build host binaries: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, fs.ErrExist) {
		if _, statErr := os.Stat(filepath.Join(dir, SumsFile)); statErr != nil {
			return fmt.Errorf("build host binaries: %w", err)
		}
	}
	return nil
}

// prune removes older cached builds of goarch, keeping the newest three.
func (c *Checkout) prune(goarch, keep string) {
	matches, _ := filepath.Glob(filepath.Join(c.CacheDir, "build", "linux-"+goarch+"-*"))
	type build struct {
		path string
		mod  int64
	}
	var builds []build
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && m != keep {
			builds = append(builds, build{m, fi.ModTime().UnixNano()})
		}
	}
	sort.Slice(builds, func(i, j int) bool { return builds[i].mod > builds[j].mod })
	for i, b := range builds {
		if i >= 2 {
			os.RemoveAll(b.path)
		}
	}
}

// sourceKey hashes everything that can go into a build: the go toolchain
// binary (path, size, mtime), the build settings, and every file of the
// module except tests, test data, documentation (*.md), hidden files and
// build output, so embedded templates count. It is computed once per
// deploy.
func (c *Checkout) sourceKey() (string, error) {
	if c.key != "" {
		return c.key, nil
	}
	h := sha256.New()
	gobin, err := lookGo()
	if err != nil {
		return "", fmt.Errorf("build host binaries from %s: the Go toolchain is not on PATH (install Go, or deploy from a release bundle with --bundle DIR): %w", c.Root, err)
	}
	if fi, err := os.Stat(gobin); err == nil {
		fmt.Fprintf(h, "go %s %d %d\n", gobin, fi.Size(), fi.ModTime().UnixNano())
	}
	for _, k := range []string{"GOFLAGS", "GOEXPERIMENT", "GOAMD64", "GOARM64"} {
		fmt.Fprintf(h, "%s=%s\n", k, os.Getenv(k))
	}
	fmt.Fprintf(h, "flags %q\n", GoBuildFlags)
	// The commit is stamped into the binaries: a new commit of the same
	// files is a new build.
	fmt.Fprintf(h, "commit %s\n", gitHead(c.Root))
	err = filepath.WalkDir(c.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != c.Root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "dist" || name == "tests") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasSuffix(name, "_test.go") || strings.HasSuffix(name, ".md") || strings.HasPrefix(name, ".") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		rel, _ := filepath.Rel(c.Root, p)
		fmt.Fprintf(h, "file %s\n", rel)
		_, err = io.Copy(h, f)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("hash sources in %s: %w", c.Root, err)
	}
	c.key = hex.EncodeToString(h.Sum(nil))
	return c.key, nil
}

// lookGo is exec.LookPath("go"), replaceable in tests.
var lookGo = func() (string, error) { return lookPath("go") }

// gitHead is the commit checked out at root, or "" outside git.
func gitHead(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
