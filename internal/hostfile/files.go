package hostfile

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/google/renameio/v2"
)

// Owner is a numeric owner and group. -1 in either leaves it unmanaged:
// not compared and not changed.
type Owner struct{ UID, GID int }

// RootOwner is root:root.
var RootOwner = Owner{0, 0}

// Unmanaged leaves ownership as whatever the writer gets.
var Unmanaged = Owner{-1, -1}

// File is a file that should exist at Path (a path on disk, already joined
// onto the root) with exactly Data, Mode and Owner.
type File struct {
	Path  string
	Data  []byte
	Mode  fs.FileMode
	Owner Owner
}

// FileState is what is on disk at a File's path.
type FileState struct {
	Exists bool   // a regular file is there
	Data   []byte // its bytes, when Exists
	Same   bool   // bytes, mode and owner all equal the File
}

// Check reads the file at f.Path and compares it with f. A symlink or other
// non-regular file counts as different, so Write replaces it.
func (f File) Check() (FileState, error) {
	fi, err := os.Lstat(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return FileState{}, nil
	}
	if err != nil {
		return FileState{}, err
	}
	if !fi.Mode().IsRegular() {
		return FileState{}, nil
	}
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return FileState{}, err
	}
	st := FileState{Exists: true, Data: data}
	st.Same = bytes.Equal(data, f.Data) && MetaEqual(fi, f.Mode, f.Owner)
	return st, nil
}

// Write replaces f.Path atomically: it writes a temporary file in the same
// directory, sets mode and owner on it, calls validate (if not nil) with the
// temporary file's path, and renames it into place only if validate
// succeeded. On any error the old file is untouched and the temporary file
// is removed.
func (f File) Write(validate func(tmpPath string) error) error {
	return writeAtomic(f.Path, f.Mode, f.Owner, func(w io.Writer) error {
		_, err := w.Write(f.Data)
		return err
	}, validate)
}

// CopyFile is a file whose content comes from Source (a binary to install),
// compared by SHA-256 checksum rather than read into memory.
type CopyFile struct {
	Source string
	Path   string
	Mode   fs.FileMode
	Owner  Owner
}

// CopyState is what is on disk at a CopyFile's path.
type CopyState struct {
	Exists       bool
	SourceSum    [32]byte
	InstalledSum [32]byte
	Same         bool // checksums, mode and owner all equal
}

// Check hashes the source and the installed file (concurrently: they are
// several megabytes each) and compares them.
func (c CopyFile) Check() (CopyState, error) {
	var st CopyState
	var srcErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.SourceSum, srcErr = fileSum(c.Source)
	}()
	fi, err := os.Lstat(c.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = nil
	case err != nil:
	case fi.Mode().IsRegular():
		st.Exists = true
		st.InstalledSum, err = fileSum(c.Path)
	}
	<-done
	if srcErr != nil {
		return st, srcErr
	}
	if err != nil {
		return st, err
	}
	st.Same = st.Exists && st.InstalledSum == st.SourceSum && MetaEqual(fi, c.Mode, c.Owner)
	return st, nil
}

// Write copies Source to Path atomically with Mode and Owner.
func (c CopyFile) Write() error {
	src, err := os.Open(c.Source)
	if err != nil {
		return err
	}
	defer src.Close()
	return writeAtomic(c.Path, c.Mode, c.Owner, func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	}, nil)
}

func fileSum(path string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("read %s: %w", path, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

func writeAtomic(path string, mode fs.FileMode, owner Owner, fill func(io.Writer) error, validate func(string) error) error {
	// The temporary file lives next to its destination so the rename is
	// atomic; its name starts with a dot, which sudo's includedir ignores.
	t, err := renameio.NewPendingFile(path, renameio.WithTempDir(filepath.Dir(path)), renameio.WithStaticPermissions(0o600))
	if err != nil {
		return err
	}
	defer t.Cleanup()
	if err := fill(t); err != nil {
		return err
	}
	if owner.UID >= 0 || owner.GID >= 0 {
		if err := t.Chown(owner.UID, owner.GID); err != nil {
			return err
		}
	}
	// Chmod after chown: chown clears set-id bits.
	if err := t.Chmod(mode); err != nil {
		return err
	}
	if validate != nil {
		if err := t.Sync(); err != nil {
			return err
		}
		if err := validate(t.Name()); err != nil {
			return err
		}
	}
	// CloseAtomicallyReplace fsyncs the temporary file before renaming it;
	// the directory's fsync makes the rename itself durable.
	if err := t.CloseAtomicallyReplace(); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// MetaEqual reports whether fi has exactly mode (permission and set-id
// bits) and, where managed, owner.
func MetaEqual(fi fs.FileInfo, mode fs.FileMode, owner Owner) bool {
	if fi.Mode().Perm()|(fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)) != mode {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	if owner.UID >= 0 && int(st.Uid) != owner.UID {
		return false
	}
	if owner.GID >= 0 && int(st.Gid) != owner.GID {
		return false
	}
	return true
}
