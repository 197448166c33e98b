// Package overlay is the kernel-overlayfs logic of the privileged helper
// left4me-overlay: its configuration and the Linux mount/unmount
// implementation, on the layers internal/instanceenv reads and validates.
// Unprivileged callers reach the helper through package
// internal/overlayclient.
package overlay
