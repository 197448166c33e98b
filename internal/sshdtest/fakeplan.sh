#!/bin/sh
set -u
if [ "$#" != 4 ] || [ "$1 $2" != "host --bin-dir" ]; then echo "fake plan: want host --bin-dir DIR ARGS, got $*" >&2; exit 2; fi
bindir=$3 args=$4
# ARGS is protocol.HostArgs as JSON: an apply with a root, a dry run, a diff
# and who deploys; anything else is refused.
field() { printf '%s\n' "$args" | sed -n 's/.*"'"$1"'":\("[^"]*"\|true\).*/\1/p' | tr -d '"'; }
root=$(field root) dry=$(field dry_run) diff=$(field diff)
rest=$(printf '%s\n' "$args" | sed -e 's/"verb":"apply",\{0,1\}//' -e 's/"root":"[^"]*",\{0,1\}//' -e 's/"dry_run":true,\{0,1\}//' \
	-e 's/"diff":true,\{0,1\}//' -e 's/"by":"[^"]*",\{0,1\}//' -e 's/,}$/}/')
[ "$rest" = '{}' ] || { echo "fake plan: unknown arguments $rest" >&2; exit 2; }
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
