// Package treeview records what a program sees of a directory tree, for
// the migration's truth checks: the view of a fuse-overlayfs mount before
// the migration must equal the view of kernel overlayfs after it.
//
// A view is built the way the kernel shows a tree, not the way a tree
// walker reports it: every name that readdir returns is listed, and each
// is looked up with lstat on its own. A name that readdir lists but lstat
// cannot find (kernel overlayfs shows a whiteout in an opaque directory
// that way) is an entry of the view, not an error to skip; so is a name
// that lstat finds but readdir does not list, found by probing every name
// that exists in any layer of the overlay (Probes). Each entry records
// type, permission bits, owner, size (not of directories: a directory's
// size is the file system's business), symlink target, device numbers,
// SHA-256 of the content and the user.* xattrs (every xattr with All).
// Link counts and times are left out: copy-up changes them.
package treeview
