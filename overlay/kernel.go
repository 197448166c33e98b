package overlay

// KernelSupported reports whether a kernel of this release (as printed by
// uname -r) can run the helper's mount path; the installer's preflight calls
// it. A fuller rule replaces this permissive default.
func KernelSupported(release string) error { return nil }
