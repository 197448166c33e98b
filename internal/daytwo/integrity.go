//go:build linux

package daytwo

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/release"
)

// InstalledSums hashes the files at paths under root; a missing file is
// left out of the map.
func InstalledSums(root hostpath.Root, paths []string) (map[string]string, error) {
	files := map[string]string{}
	for _, p := range paths {
		sum, err := release.FileSHA256(root.Join(p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("checksum installed %s: %w", p, err)
		}
		files[p] = sum
	}
	return files, nil
}

// RecordMismatch compares the files the newest record names with what is
// installed under root, and says how they differ ("" when they match).
func RecordMismatch(root hostpath.Root, rec release.Release) (string, error) {
	paths := make([]string, 0, len(rec.Files))
	for p := range rec.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	installed, err := InstalledSums(root, paths)
	if err != nil {
		return "", err
	}
	differ := release.Differ(rec.Files, installed)
	if len(differ) == 0 {
		return "", nil
	}
	return fmt.Sprintf("installed %s differ from release %s", strings.Join(differ, ", "), rec.ID), nil
}
