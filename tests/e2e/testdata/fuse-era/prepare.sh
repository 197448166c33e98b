#!/bin/sh
# Prepares a bare test host as the fuse-overlayfs era of left4me left it:
# the left4me user and state root, the game installation and a config
# layer, two instances, and the old units (web unit with MountFlags=shared).
# Runs as root on the test host.
set -eu
L=/var/lib/left4me
E=/usr/local/lib/left4me-e2e/fuse-era

# /dev/fuse for this container only: nspawn gives the container its own
# /dev, so this node does not change the machine's.
[ -e /dev/fuse ] || mknod -m 0666 /dev/fuse c 10 229

groupadd --system left4me
useradd --system --gid left4me --home-dir $L --shell /usr/sbin/nologin left4me
install -d -o left4me -g left4me -m 0750 $L
runuser -u left4me -- sh -eu $E/layout.sh

# The old web unit sits in /etc/systemd/system, where it shadows the unit
# the deploy installs in /usr/local/lib/systemd/system.
install -m 0644 $E/left4me-web.service /etc/systemd/system/
install -d -m 0755 /usr/local/lib/systemd/system
install -m 0644 $E/left4me-server@.service /usr/local/lib/systemd/system/
systemctl daemon-reload
systemctl enable --now left4me-web.service
