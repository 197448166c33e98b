#!/bin/sh
# The fuse-era state root, written as left4me: lower layers and two
# instances, alpha and beta, over the same layers.
set -eu
L=/var/lib/left4me
I=$L/installation
mkdir -p $I/left4dead2/addons/sub $I/left4dead2/maps $I/left4dead2/nested/outer/inner
cp /usr/local/lib/left4me-e2e/srcds_run $I/srcds_run
echo '"GameInfo" { game "Left 4 Dead 2" }' >$I/left4dead2/gameinfo.txt
echo 'delete me' >$I/left4dead2/delete-me.txt
echo 'original' >$I/left4dead2/modify-me.txt
echo 'chmod me' >$I/left4dead2/chmod-me.txt
echo a >$I/left4dead2/addons/a.vpk
echo b >$I/left4dead2/addons/b.vpk
echo c >$I/left4dead2/addons/sub/c.vpk
echo m1 >$I/left4dead2/maps/c1m1.bsp
echo m2 >$I/left4dead2/maps/c1m2.bsp
echo x >$I/left4dead2/nested/outer/inner/x
echo y >$I/left4dead2/nested/outer/y
mkdir -p $I/left4dead2/scripts/vscripts
echo nut >$I/left4dead2/scripts/vscripts/a.nut

C=$L/overlays/cfg
mkdir -p $C/left4dead2/cfg $C/left4dead2/addons
echo 'hostname "fuse era"' >$C/left4dead2/cfg/server.cfg
echo 'welcome' >$C/left4dead2/cfg/motd.txt
echo cfg >$C/left4dead2/addons/cfg-addon.vpk

for i in alpha beta; do
	mkdir -p $L/runtime/$i/upper $L/runtime/$i/work $L/runtime/$i/merged
	printf 'LOWERDIRS=%s\n' "$C:$I" >$L/runtime/$i/instance.env
done
