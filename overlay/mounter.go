// Package overlay is the kernel-overlayfs logic shared by the privileged
// helper left4me-overlay and by l4d2ctl: instance.env parsing, validation of
// every layer, the Linux mount/unmount implementation, and the Mounter that
// unprivileged callers use to reach the helper through sudo.
package overlay

import "context"

// Mounter mounts and unmounts the kernel overlay of one instance, by its
// name (the NAME of runtime/NAME, as left4me-overlay mount|umount NAME takes
// it). l4d2ctl reaches the helper through one (SudoMounter, or
// ctl.DirectMounter as root); the migration mounts the servers it starts
// again through one.
type Mounter interface {
	Mount(ctx context.Context, name string) error
	Unmount(ctx context.Context, name string) error
}
