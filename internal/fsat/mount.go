//go:build linux

package fsat

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/mountinfo"
)

// MountEntry returns the caller's mount table entry of the mount with the
// (reusable, mount table) id from MountAt, and of the mount it is mounted
// on; ok is false when the id is not in the table (unmounted meanwhile).
// Only the table is read: no file system is asked anything.
func MountEntry(id uint64) (m, parent mountinfo.Entry, ok bool, err error) {
	f, err := os.Open(mountTableFile)
	if err != nil {
		return m, parent, false, fmt.Errorf("read the mount table: %w", err)
	}
	defer f.Close()
	byID := map[uint64]mountinfo.Entry{}
	if err := mountinfo.Each(f, func(e mountinfo.Entry) error {
		byID[e.ID] = e
		return nil
	}); err != nil {
		return m, parent, false, fmt.Errorf("read the mount table: %w", err)
	}
	m, ok = byID[id]
	if !ok {
		return m, parent, false, nil
	}
	parent = byID[m.ParentID]
	return m, parent, true, nil
}

// IsFUSE reports a FUSE file system type as the mount table names it
// ("fuse", "fuseblk", or either with a ".subtype" its mounter chose): the
// only kind of mount an unprivileged user can make in the host's mount
// namespace (through the set-uid fusermount3).
func IsFUSE(fsType string) bool {
	for _, t := range []string{"fuse", "fuseblk"} {
		if fsType == t || strings.HasPrefix(fsType, t+".") {
			return true
		}
	}
	return false
}

// Detach lazily unmounts (MNT_DETACH) exactly the mount whose root fd
// pins, through the fd's /proc link, so that no other mount stacked at
// the same path since fd was opened is taken down instead. path names the
// mount point in errors.
func Detach(fd int, path string) error {
	if _, root, err := MountAt(fd, ""); err != nil || !root {
		if err == nil {
			err = fmt.Errorf("not the root of a mount")
		}
		return &os.PathError{Op: "umount", Path: path, Err: err}
	}
	var err error
	for range Retries {
		if err = unix.Unmount(ProcFD(fd), unix.MNT_DETACH); err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return &os.PathError{Op: "umount", Path: path, Err: err}
	}
	return nil
}
