//go:build linux

package e2e

// rootfsImage is one kind of test host: a Debian suite, the packages
// debootstrap installs into it, and a script that changes the tree before
// it is cached. Everything in it is part of the tarball's cache key.
type rootfsImage struct {
	Name  string // names the tarball: NAME-VARIANT-KEY.tar
	Suite string
	// Extra packages beyond rootfsPackages.
	Extra []string
	// Post, if not empty, runs as "sh -euc Post" chrooted into the tree.
	Post string
}

func (img *rootfsImage) packages() []string {
	return append(append([]string{}, rootfsPackages...), img.Extra...)
}

// bookwormImage is the host most scenarios boot: Debian 12 with sudo 1.9.
var bookwormImage = &rootfsImage{Name: rootfsSuite, Suite: rootfsSuite}

// sudoRSImage is Debian 13 with sudo-rs as its /usr/bin/sudo and
// /usr/sbin/visudo, as Ubuntu 26.04 ships it: Debian's sudo-rs package puts
// its programs in /usr/lib/cargo/bin, and sudo's own are diverted aside
// (dpkg-divert --rename keeps them as sudo.distrib, so a package upgrade
// does not put them back). sudo stays installed: its /etc/sudoers, with
// "@includedir /etc/sudoers.d", is the configuration sudo-rs reads too.
var sudoRSImage = &rootfsImage{
	Name:  "trixie-sudo-rs",
	Suite: "trixie",
	Extra: []string{"sudo-rs"},
	Post: `for p in /usr/bin/sudo /usr/sbin/visudo; do
	dpkg-divert --local --rename --add "$p"
	ln -s "/usr/lib/cargo/bin/${p##*/}" "$p"
done
/usr/bin/sudo --version 2>&1 | grep -q '^sudo-rs '
grep -qx '@includedir /etc/sudoers.d' /etc/sudoers`,
}
