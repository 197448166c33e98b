package remote

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// FindSource picks where the host binaries come from: --bundle DIR; else
// the release bundle this program sits in (DIR/linux-ARCH/left4me-deploy
// or DIR/left4me-deploy next to DIR/SHA256SUMS); else the source checkout
// around the working directory or this program, built with Go.
func FindSource(bundle string) (Source, error) {
	if bundle != "" {
		return OpenBundle(bundle)
	}
	exe, _ := os.Executable()
	if exe != "" {
		if p, err := filepath.EvalSymlinks(exe); err == nil {
			exe = p
		}
		for _, dir := range []string{filepath.Dir(exe), filepath.Dir(filepath.Dir(exe))} {
			if _, err := os.Stat(filepath.Join(dir, SumsFile)); err == nil {
				return OpenBundle(dir)
			}
		}
	}
	var roots []string
	if wd, err := os.Getwd(); err == nil {
		roots = append(roots, wd)
	}
	if exe != "" {
		roots = append(roots, filepath.Dir(exe))
	}
	for _, r := range roots {
		if root := FindCheckout(r); root != "" {
			cache, err := os.UserCacheDir()
			if err != nil {
				return nil, fmt.Errorf("find a cache directory for host builds: %w", err)
			}
			return &Checkout{Root: root, CacheDir: filepath.Join(cache, "left4me-deploy")}, nil
		}
	}
	return nil, errors.New("no host binaries: this program is not part of a release bundle and not run from a source checkout; pass --bundle DIR (a directory made by make dist), or run it inside a checkout with Go installed")
}
