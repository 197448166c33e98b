package overlay

import (
	"context"
	"errors"
)

// SudoMounter is the Mounter for unprivileged callers such as l4d2ctl: it runs
// sudo -n /usr/local/libexec/left4me/left4me-overlay VERB NAME. Not yet
// implemented.
type SudoMounter struct{}

// Mount implements Mounter.
func (SudoMounter) Mount(ctx context.Context, merged string) error {
	return errors.New("overlay: SudoMounter not implemented yet")
}

// Unmount implements Mounter.
func (SudoMounter) Unmount(ctx context.Context, merged string) error {
	return errors.New("overlay: SudoMounter not implemented yet")
}
