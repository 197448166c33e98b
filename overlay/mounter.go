// Package overlay is the kernel-overlayfs logic shared by the privileged
// helper left4me-overlay and by l4d2ctl: instance.env parsing, validation of
// every layer, the Linux mount/unmount implementation, and the Mounter that
// unprivileged callers use to reach the helper through sudo.
package overlay

import "context"

// Mounter mounts and unmounts the overlay of one instance, identified by its
// merged directory (runtime/NAME/merged; NAME is taken from the parent).
type Mounter interface {
	Mount(ctx context.Context, merged string) error
	Unmount(ctx context.Context, merged string) error
}
