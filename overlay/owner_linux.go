//go:build linux

package overlay

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
	"github.com/left4me/left4me-deploy/internal/mountinfo"
)

// checkOwner refuses an instance directory not owned by the owner of the
// state root: every instance dir is the left4me user's, and a directory of
// anyone else's (root's, say) moved in must not become an upper.
func (s *session) checkOwner(fd int, host string) error {
	st, err := fsat.Stat(fd, "")
	if err != nil {
		return fmt.Errorf("stat %s: %w", host, err)
	}
	if st.UID != s.stateUID {
		return fmt.Errorf("refused %s: owned by uid %d, not by the owner of %s (uid %d)", host, st.UID, hostpath.StateDir, s.stateUID)
	}
	return nil
}

// ours reports why the mount whose root fd is pinned is not an overlay this
// helper made ("" when it is): overlayfs by statfs magic, type overlay for
// the kernel, and the helper's source tag left4me-NAME. With exact set,
// the tag must name this instance (mount: an overlay of another instance's
// layers is not "already mounted"); without, any instance's tag will do
// (umount: the owner may have renamed runtime/OTHER to runtime/NAME, and the
// overlay there is still one the helper made, at exactly runtime/NAME/merged).
func ours(fd int, id uint64, name string, exact bool) (string, error) {
	magic, err := fsat.FSMagic(fd)
	if err != nil {
		return "", fmt.Errorf("statfs: %w", err)
	}
	// The mount's type and source, asked of the kernel for exactly the
	// mount fd pins (statmount with the source), else looked up by id in the
	// mount table.
	fsType, source, ok := fsat.MountSource(fd)
	if !ok {
		e, err := mountByID(id)
		if err != nil {
			return "", err
		}
		fsType, source = e.FSType, e.Source
	}
	if magic != unix.OVERLAYFS_SUPER_MAGIC || fsType != "overlay" {
		return fmt.Sprintf("it is a %s mount", fsType), nil
	}
	if source == Source(name) {
		return "", nil
	}
	tagged, ok := strings.CutPrefix(source, "left4me-")
	if !exact && ok && instance.ValidateName(tagged) == nil {
		return "", nil
	}
	if ok && instance.ValidateName(tagged) == nil {
		return fmt.Sprintf("it is the overlay of instance %s (runtime/%s was renamed?): umount it first", tagged, tagged), nil
	}
	return fmt.Sprintf("its source is %q, not %q", source, Source(name)), nil
}

// mountAt returns the mountinfo entry of mount id (read in this thread's
// namespace).
func mountByID(id uint64) (*mountinfo.Entry, error) {
	entries, err := readMountinfo()
	if err != nil {
		return nil, err
	}
	for i := range entries {
		if entries[i].ID == id {
			return &entries[i], nil
		}
	}
	return nil, fmt.Errorf("mount id %d not in /proc/thread-self/mountinfo", id)
}

func readMountinfo() ([]mountinfo.Entry, error) {
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	return mountinfo.Parse(f)
}
