// Package overlayclient is how unprivileged callers such as l4d2ctl reach
// the privileged overlay helper left4me-overlay: the Mounter interface and
// SudoMounter, which runs the helper's entry points through sudo. It holds
// no mount code; that stays in package overlay, which only the helper and
// root's tools link.
package overlayclient

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
