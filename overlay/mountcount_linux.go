//go:build linux

package overlay

import (
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/instance"
)

// The instance overlays of the calling thread's mount namespace are counted
// by asking the kernel for each mount's type and source (listmount(2) and
// statmount(2)) where it can say, else from the namespace's mount table.
// Both see the same mounts: those of the thread's namespace reachable from
// its root. The kernel's answer skips rendering and parsing the whole table
// (an instance overlay's line alone holds every layer path), which the
// mount lock is held across.

const (
	lsmtRoot            = ^uint64(0) // LSMT_ROOT: every mount below the caller's root
	mntIDReqSize        = 24         // MNT_ID_REQ_SIZE_VER0
	statmountFSTypeBit  = 0x20       // STATMOUNT_FS_TYPE
	statmountSourceBit  = 0x200      // STATMOUNT_SB_SOURCE
	statmountStrings    = 512        // sizeof(struct statmount): its strings follow
	statmountOffFSType  = 36         // struct statmount.fs_type
	statmountOffSource  = 124        // struct statmount.sb_source
	statmountBufferSize = 1 << 10    // the usual answer; the kernel allocates as much
	statmountBufferMax  = 16 << 10   // a source is at most a page
	listmountBatch      = 256
)

// mntIDRequest is struct mnt_id_req, version 0.
type mntIDRequest struct {
	size  uint32
	spare uint32
	id    uint64
	param uint64
}

// statmountStart is the start of struct statmount up to fs_type.
type statmountStart struct {
	size    uint32
	mntOpts uint32
	mask    uint64
	devMaj  uint32
	devMin  uint32
	magic   uint64
	sbFlags uint32
	fsType  uint32
}

// countInstanceOverlays counts the mounts of type overlay whose source is
// left4me-NAME for a valid instance NAME: the kernel's answer where it
// gives one, else the mount table's.
func countInstanceOverlays() (int, error) {
	if n, ok := countInstanceOverlaysKernel(); ok {
		return n, nil
	}
	return countInstanceOverlaysTable()
}

// isInstanceOverlay is the test both counts apply to one mount.
func isInstanceOverlay(fsType, source string) bool {
	tag, ok := strings.CutPrefix(source, "left4me-")
	return ok && fsType == "overlay" && instance.ValidateName(tag) == nil
}

// countInstanceOverlaysTable counts from the mount table.
func countInstanceOverlaysTable() (int, error) {
	entries, err := readMountinfo()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if isInstanceOverlay(e.FSType, e.Source) {
			n++
		}
	}
	return n, nil
}

// countInstanceOverlaysKernel counts with listmount(2) and statmount(2).
// ok is false whenever the kernel cannot answer for every mount: no such
// calls (before Linux 6.8, or hidden by a seccomp filter), no source in
// statmount (before STATMOUNT_SB_SOURCE), or an answer that does not fit.
// A mount that is gone between the list and its statmount is not counted,
// as a mount table read a moment later would not show it.
func countInstanceOverlaysKernel() (n int, ok bool) {
	var ids [listmountBatch]uint64
	buf := make([]byte, statmountBufferSize)
	last := uint64(0)
	for {
		req := mntIDRequest{size: mntIDReqSize, id: lsmtRoot, param: last}
		r, _, errno := unix.Syscall6(unix.SYS_LISTMOUNT, uintptr(unsafe.Pointer(&req)), uintptr(unsafe.Pointer(&ids[0])), uintptr(len(ids)), 0, 0, 0)
		if errno != 0 || int(r) > len(ids) {
			return 0, false
		}
		if r == 0 {
			return n, true
		}
		for _, id := range ids[:r] {
			fsType, source, gone, ok := statmountTypeSource(id, buf)
			if !ok {
				return 0, false
			}
			if !gone && isInstanceOverlay(fsType, source) {
				n++
			}
		}
		if int(r) < len(ids) {
			return n, true // the kernel ran out of mounts
		}
		last = ids[r-1]
	}
}

// statmountTypeSource returns the file system type and source of the mount
// with unique id, as the mount table shows them (unescaped). gone is true
// when no such mount exists any more. ok is false when the kernel cannot
// say: a mount of type overlay must come with its source, since the kernel
// leaves out an empty one and one it does not know alike.
func statmountTypeSource(id uint64, buf []byte) (fsType, source string, gone, ok bool) {
	req := mntIDRequest{size: mntIDReqSize, id: id, param: statmountFSTypeBit | statmountSourceBit}
	_, _, errno := unix.Syscall6(unix.SYS_STATMOUNT, uintptr(unsafe.Pointer(&req)), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	if errno == unix.EOVERFLOW && len(buf) < statmountBufferMax {
		return statmountTypeSource(id, make([]byte, statmountBufferMax))
	}
	if errno == unix.ENOENT {
		return "", "", true, true
	}
	if errno != 0 {
		return "", "", false, false
	}
	h := (*statmountStart)(unsafe.Pointer(&buf[0]))
	size := int(h.size)
	if size > len(buf) || size < statmountStrings || h.mask&statmountFSTypeBit == 0 {
		return "", "", false, false
	}
	str := func(off int) (string, bool) {
		o := statmountStrings + int(*(*uint32)(unsafe.Pointer(&buf[off])))
		if o >= size {
			return "", false
		}
		end := o
		for end < size && buf[end] != 0 {
			end++
		}
		return string(buf[o:end]), end < size
	}
	fsType, ok = str(statmountOffFSType)
	if !ok {
		return "", "", false, false
	}
	if h.mask&statmountSourceBit == 0 {
		// An empty source, or a kernel that cannot tell: either way only an
		// overlay could matter, and for one the mount table decides.
		if fsType == "overlay" {
			return "", "", false, false
		}
		return fsType, "", false, true
	}
	source, ok = str(statmountOffSource)
	if !ok {
		return "", "", false, false
	}
	return fsType, source, false, true
}
