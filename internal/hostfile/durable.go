package hostfile

import (
	"fmt"
	"os"
)

// SyncDir flushes the directory dir to disk, so that an entry just
// created or renamed in it survives a power loss. After a rename, the
// file's own data must already be on disk (fsync before the rename): then
// a crash leaves either the old entry or the new one, each naming
// complete data.
func SyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
