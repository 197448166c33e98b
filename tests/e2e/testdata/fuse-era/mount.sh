#!/bin/sh
# Mounts instance $1 with fuse-overlayfs as the old stack did, as left4me.
set -eu
R=/var/lib/left4me/runtime/$1
# shellcheck source=/dev/null
. "$R/instance.env"
fuse-overlayfs -o "lowerdir=$LOWERDIRS,upperdir=$R/upper,workdir=$R/work" "$R/merged" </dev/null >"/tmp/fuse-$1.log" 2>&1 ||
	{ cat "/tmp/fuse-$1.log" >&2; exit 1; }
