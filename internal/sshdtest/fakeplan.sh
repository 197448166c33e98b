#!/bin/sh
set -u
[ "$1 $2" = "apply --local" ] || { echo "fake plan: want apply --local, got $*" >&2; exit 2; }
shift 2
root='' dry='' diff='' bindir=''
while [ $# -gt 0 ]; do
	case $1 in
	--root) root=$2; shift;;
	--bin-dir) bindir=$2; shift;;
	--dry-run) dry=1;;
	--diff) diff=1;;
	--json) ;;
	--by) shift;;
	*) echo "fake plan: unknown flag $1" >&2; exit 2;;
	esac
	shift
done
want=$(sha256sum <"$bindir/l4d2ctl")
f=$root/etc/fake-plan
echo '{"type":"step","step":"preflight","status":"ok"}'
if [ -e "$root/slow" ]; then
	i=0
	while [ $i -lt 150 ]; do echo '{"type":"log","reason":"working"}' || exit 141; sleep 0.2; i=$((i+1)); done
fi
if [ -f "$f" ] && [ "$(cat "$f")" = "$want" ]; then
	echo '{"type":"step","step":"binaries","status":"ok"}'
	echo '{"type":"summary","ok":2,"changed":0,"failed":0,"skipped":0}'
	exit 0
fi
[ -n "$diff" ] && echo '{"type":"diff","path":"/etc/fake-plan","diff":"+'"${want%% *}"'"}'
if [ -z "$dry" ]; then mkdir -p "$root/etc" && echo "$want" >"$f.tmp" && mv "$f.tmp" "$f"; fi
echo '{"type":"step","step":"binaries","status":"changed","reason":"checksum differs"}'
echo '{"type":"summary","ok":1,"changed":1,"failed":0,"skipped":0}'
