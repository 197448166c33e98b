// Package overlay is the kernel-overlayfs logic of the privileged helper
// left4me-overlay: instance.env parsing, validation of every layer, and
// the Linux mount/unmount implementation. Unprivileged callers reach the
// helper through package internal/overlayclient.
package overlay

import "github.com/left4me/left4me-deploy/internal/overlayclient"

// Mounter is overlayclient.Mounter, for callers that name it here.
type Mounter = overlayclient.Mounter
