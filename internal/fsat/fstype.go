//go:build linux

package fsat

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/mountinfo"
)

// localFS are the file systems a hostile tree may live on: disk and memory
// file systems only root can mount, whose owners and modes are what their
// inodes say. Anything else (FUSE, which a user mounts through the set-uid
// fusermount3; overlayfs, whose copy-up runs with its mounter's
// credentials; network file systems) is refused.
var localFS = map[int64]string{
	unix.EXT4_SUPER_MAGIC:  "ext4", // also ext2 and ext3
	unix.XFS_SUPER_MAGIC:   "xfs",
	unix.BTRFS_SUPER_MAGIC: "btrfs",
	unix.TMPFS_MAGIC:       "tmpfs",
	unix.F2FS_SUPER_MAGIC:  "f2fs",
	0x2fc12fc1:             "zfs",
}

// knownFS names other file systems in refusals.
var knownFS = map[int64]string{
	unix.FUSE_SUPER_MAGIC:      "FUSE",
	unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
	unix.NFS_SUPER_MAGIC:       "NFS",
	unix.SMB2_SUPER_MAGIC:      "SMB",
	unix.CIFS_SUPER_MAGIC:      "CIFS",
	unix.SQUASHFS_MAGIC:        "squashfs",
	unix.PROC_SUPER_MAGIC:      "proc",
	unix.SYSFS_MAGIC:           "sysfs",
	unix.RAMFS_MAGIC:           "ramfs",
}

// LocalFSNames lists the allowed file systems, for messages and docs.
const LocalFSNames = "ext2/3/4, xfs, btrfs, tmpfs, f2fs, zfs"

// FSName names a file system magic number.
func FSName(magic int64) string {
	if n, ok := localFS[magic]; ok {
		return n
	}
	if n, ok := knownFS[magic]; ok {
		return n
	}
	if magic == unknownMagic {
		return "a file system this program does not know"
	}
	return fmt.Sprintf("file system %#x", magic)
}

// FSMagic returns the file system type (statfs f_type) of the mount fd is
// on, without calling into that file system, so a FUSE daemon that is
// stopped cannot hold the caller. Where the kernel has statmount(2) (Linux
// 6.8) it asks the mount by its id; on older kernels it looks the mount id
// (statx, Linux 5.8) up in the caller's mount table, which the kernel
// writes from its own records. Only where neither answers does it fall back
// to fstatfs.
func FSMagic(fd int) (int64, error) {
	if m, ok := statmountMagic(fd); ok {
		return m, nil
	}
	if m, ok, err := mountTableMagic(fd); ok || err != nil {
		return m, err
	}
	var sfs unix.Statfs_t
	var err error
	for range Retries {
		if err = unix.Fstatfs(fd, &sfs); err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return 0, err
	}
	return int64(sfs.Type), nil
}

// CheckLocalFS fails unless fd is on one of the allowed local file systems;
// what names fd's role in the message ("layer", "state root").
func CheckLocalFS(fd int, path, what string) error {
	m, err := FSMagic(fd)
	if err != nil {
		return &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	if _, ok := localFS[m]; !ok {
		return fmt.Errorf("refused %s %s: it is on %s; only %s are allowed (file systems only root mounts, which show owners as they are)", what, path, FSName(m), LocalFSNames)
	}
	return nil
}

const (
	statxMntIDUnique  = 0x4000 // STATX_MNT_ID_UNIQUE, Linux 6.8
	statmountSBBasic  = 0x1    // STATMOUNT_SB_BASIC
	mntIDReqSize0     = 24     // MNT_ID_REQ_SIZE_VER0
	statmountBufBytes = 4096
)

type mntIDReq struct {
	size  uint32
	spare uint32
	id    uint64
	param uint64
}

// statmountHead is the start of struct statmount up to sb_magic.
type statmountHead struct {
	size      uint32
	mntOpts   uint32
	mask      uint64
	sbDevMaj  uint32
	sbDevMin  uint32
	sbMagic   uint64
	sbFlags   uint32
	fsType    uint32
	mntID     uint64
	mntParent uint64
}

// statmountMagic asks statmount(2) for the super block magic of fd's mount.
// ok is false where the kernel lacks it (or a seccomp filter hides it).
func statmountMagic(fd int) (int64, bool) {
	var sx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC, statxMntIDUnique, &sx); err != nil {
		return 0, false
	}
	if sx.Mask&statxMntIDUnique == 0 {
		return 0, false
	}
	req := mntIDReq{size: mntIDReqSize0, id: sx.Mnt_id, param: statmountSBBasic}
	var buf [statmountBufBytes]byte
	_, _, errno := unix.Syscall6(unix.SYS_STATMOUNT, uintptr(unsafe.Pointer(&req)), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	if errno != 0 {
		return 0, false
	}
	h := (*statmountHead)(unsafe.Pointer(&buf[0]))
	if h.mask&statmountSBBasic == 0 {
		return 0, false
	}
	return int64(h.sbMagic), true
}

// MountOnPath finds where the walk of rel below dirfd first crosses a mount
// (the lookup that made a NoXdev open fail with EXDEV): it returns the
// components up to and including that mount point and the file system
// mounted there. Only the mount point itself is opened, never anything
// inside the mount, so a FUSE daemon is not asked. ok is false when no
// crossing is found (the tree changed meanwhile).
func MountOnPath(dirfd int, rel string) (at string, magic int64, ok bool) {
	cur := dirfd
	defer func() {
		if cur != dirfd {
			unix.Close(cur)
		}
	}()
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		if p == "" || p == "." {
			continue
		}
		fd, err := OpenRaw(cur, p, unix.O_PATH|unix.O_DIRECTORY, 0, NoXdev)
		if err == unix.EXDEV {
			mfd, err := OpenRaw(cur, p, unix.O_PATH|unix.O_DIRECTORY, 0, 0)
			if err != nil {
				return "", 0, false
			}
			defer unix.Close(mfd)
			m, err := FSMagic(mfd)
			if err != nil {
				return "", 0, false
			}
			return strings.Join(parts[:i+1], "/"), m, true
		}
		if err != nil {
			return "", 0, false
		}
		if cur != dirfd {
			unix.Close(cur)
		}
		cur = fd
	}
	return "", 0, false
}

// UniqueMountID returns the 64-bit mount id that is never reused
// (STATX_MNT_ID_UNIQUE, Linux 6.8) of name in dirfd, or of dirfd itself
// with name "", without following a link; ok is false where the kernel
// lacks it.
func UniqueMountID(dirfd int, name string) (id uint64, ok bool) {
	flags := unix.AT_SYMLINK_NOFOLLOW | unix.AT_NO_AUTOMOUNT | unix.AT_STATX_DONT_SYNC
	if name == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	var sx unix.Statx_t
	if err := unix.Statx(dirfd, name, flags, statxMntIDUnique, &sx); err != nil || sx.Mask&statxMntIDUnique == 0 {
		return 0, false
	}
	return sx.Mnt_id, true
}

// MountExists reports whether the mount with unique id (from
// UniqueMountID) is still mounted in the caller's mount namespace; ok is
// false where the kernel cannot say (no statmount(2)).
func MountExists(id uint64) (exists, ok bool) {
	req := mntIDReq{size: mntIDReqSize0, id: id, param: statmountSBBasic}
	var buf [statmountBufBytes]byte
	_, _, errno := unix.Syscall6(unix.SYS_STATMOUNT, uintptr(unsafe.Pointer(&req)), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	switch errno {
	case 0:
		return true, true
	case unix.ENOENT:
		return false, true
	}
	return false, false
}

const (
	statmountFSType   = 0x20  // STATMOUNT_FS_TYPE, Linux 6.8
	statmountSBSource = 0x200 // STATMOUNT_SB_SOURCE
	statmountStrBase  = 512   // sizeof(struct statmount): its strings follow
	offFSType         = 36    // struct statmount.fs_type
	offSBSource       = 124   // struct statmount.sb_source
)

// MountSource returns the file system type and the source of the mount
// whose root or inside fd pins, as the mount table shows them, asking the
// kernel by the mount's unique id (statmount(2) with STATMOUNT_SB_SOURCE,
// which 6.18 has and 6.8 lacks) instead of reading the mount table; ok is
// false where the kernel cannot say.
func MountSource(fd int) (fsType, source string, ok bool) {
	id, ok := UniqueMountID(fd, "")
	if !ok {
		return "", "", false
	}
	req := mntIDReq{size: mntIDReqSize0, id: id, param: statmountFSType | statmountSBSource}
	buf := make([]byte, 16<<10)
	_, _, errno := unix.Syscall6(unix.SYS_STATMOUNT, uintptr(unsafe.Pointer(&req)), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	if errno != 0 {
		return "", "", false
	}
	h := (*statmountHead)(unsafe.Pointer(&buf[0]))
	if h.mask&(statmountFSType|statmountSBSource) != statmountFSType|statmountSBSource || int(h.size) > len(buf) {
		return "", "", false
	}
	str := func(off int) (string, bool) {
		o := statmountStrBase + int(*(*uint32)(unsafe.Pointer(&buf[off])))
		if o >= int(h.size) {
			return "", false
		}
		end := o
		for end < int(h.size) && buf[end] != 0 {
			end++
		}
		return string(buf[o:end]), end < int(h.size)
	}
	fsType, ok1 := str(offFSType)
	source, ok2 := str(offSBSource)
	return fsType, source, ok1 && ok2
}

// mountTableFile is the calling thread's mount table: a thread that
// entered another mount namespace (the mount helper's, with setns) sees
// that namespace's mounts there, not its process's.
const mountTableFile = "/proc/thread-self/mountinfo"

// magicByName maps mount-table type names to statfs magic numbers, for the
// file systems FSName knows. Anything else maps to unknownMagic, which no
// allow-list holds.
var magicByName = map[string]int64{
	"ext2": unix.EXT4_SUPER_MAGIC, "ext3": unix.EXT4_SUPER_MAGIC, "ext4": unix.EXT4_SUPER_MAGIC,
	"xfs": unix.XFS_SUPER_MAGIC, "btrfs": unix.BTRFS_SUPER_MAGIC, "tmpfs": unix.TMPFS_MAGIC,
	"f2fs": unix.F2FS_SUPER_MAGIC, "zfs": 0x2fc12fc1,
	"fuse": unix.FUSE_SUPER_MAGIC, "fuseblk": unix.FUSE_SUPER_MAGIC, "fusectl": unix.FUSE_SUPER_MAGIC,
	"overlay": unix.OVERLAYFS_SUPER_MAGIC, "nfs": unix.NFS_SUPER_MAGIC, "nfs4": unix.NFS_SUPER_MAGIC,
	"smb3": unix.SMB2_SUPER_MAGIC, "cifs": unix.CIFS_SUPER_MAGIC, "squashfs": unix.SQUASHFS_MAGIC,
	"proc": unix.PROC_SUPER_MAGIC, "sysfs": unix.SYSFS_MAGIC, "ramfs": unix.RAMFS_MAGIC,
}

// unknownMagic stands for a type name magicByName lacks.
const unknownMagic = -1

// magicOfTypeName is magicByName with FUSE subtypes ("fuse.sshfs").
func magicOfTypeName(t string) int64 {
	if m, ok := magicByName[t]; ok {
		return m
	}
	if strings.HasPrefix(t, "fuse.") || strings.HasPrefix(t, "fuseblk.") {
		return unix.FUSE_SUPER_MAGIC
	}
	return unknownMagic
}

// errFound ends the mount-table walk at the entry sought.
var errFound = errors.New("found")

// mountTableMagic finds fd's mount by its statx mount id in the caller's
// mount table. ok is false where statx gives no mount id or the table
// cannot be read; an id missing from the table (the mount went away
// meanwhile) is an error.
func mountTableMagic(fd int) (magic int64, ok bool, err error) {
	var sx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC, unix.STATX_MNT_ID, &sx); err != nil || sx.Mask&unix.STATX_MNT_ID == 0 {
		return 0, false, nil
	}
	f, err := os.Open(mountTableFile)
	if err != nil {
		return 0, false, nil
	}
	defer f.Close()
	var fsType string
	err = mountinfo.Each(f, func(e mountinfo.Entry) error {
		if e.ID == sx.Mnt_id {
			fsType = e.FSType
			return errFound
		}
		return nil
	})
	switch {
	case err == errFound:
		return magicOfTypeName(fsType), true, nil
	case err != nil:
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("mount %d is not in %s (unmounted meanwhile)", sx.Mnt_id, mountTableFile)
}
