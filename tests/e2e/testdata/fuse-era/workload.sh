#!/bin/sh
# Changes an instance through its fuse-overlayfs mount the ways a game
# server and its operator do, as left4me: $1 is the merged dir, $2 "full"
# or "small". Each change leaves a different mark in the fuse-format upper.
set -eu
cd "$1/left4dead2"
echo modified >>modify-me.txt                  # copy-up
rm delete-me.txt                               # whiteout
rm -rf addons && mkdir addons && echo fresh >addons/fresh.vpk   # opaque dir over two layers
echo 'hostname "changed"' >cfg/server.cfg      # change in the config layer
[ "$2" = full ] || exit 0
echo created >created.txt
mkdir -p newdir/deeper && echo deep >newdir/deeper/f
mv maps maps-renamed                           # dir rename
mv cfg/motd.txt cfg/motd-renamed.txt           # file rename
chmod 0600 chmod-me.txt                        # metadata-only copy-up
ln -s cfg/server.cfg server.cfg.link
ln created.txt created.hardlink
setfattr -n user.e2e -v kept created.txt
rm -rf nested/outer && mkdir -p nested/outer/inner && echo z >nested/outer/inner/z   # nested opaque
# fuse-overlayfs#306: before 1.7 (Debian 11's 1.4) this leaves a whiteout
# "vscripts" inside the opaque "scripts", which kernel overlayfs lists as a
# name it cannot find; the migration drops it.
rm -rf scripts && mkdir -p scripts/vscripts && mv scripts/vscripts vscripts-moved
