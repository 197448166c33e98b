# Runs as root on the host: "$1" is the verb (run or put), "$2" the state
# directory. It first makes sure the state directory is a root-owned 0700
# directory that no other user can have planted or changed.
#
#   run ARCH:NAME:SHA256... -- HOST-ARGS
#       reports the host's OS and architecture; stops with "L4M offer" when
#       no binaries were offered for it and "L4M need HASH..." when the
#       cache lacks some; else stages the binaries in a fresh 0700 directory
#       (under a lock, removing what a killed run left), runs the plan from
#       there ("left4me-deploy host HOST-ARGS", one argument: the
#       workstation's protocol.HostArgs) and removes the staging directory.
#   put SHA256
#       stores stdin in the cache under its checksum, checked on the host.
#
# POSIX sh; every input is an argument. It talks back on stdout with lines
# starting "L4M "; everything else on stdout is the plan's own JSON events.
# shellcheck shell=sh
set -u
export LC_ALL=C PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
verb=$1 base=$2
shift 2
say() { echo "L4M $*"; }
parent=$(dirname -- "$base")
[ -d "$parent" ] || (umask 022 && mkdir -p -- "$parent") || exit 1
if [ -L "$base" ]; then say unsafe "$base is a symbolic link"; exit 0; fi
[ -e "$base" ] || mkdir -m 0700 -- "$base" || exit 1
if [ ! -d "$base" ]; then say unsafe "$base is not a directory"; exit 0; fi
owner=$(stat -c %u -- "$base") || exit 1
if [ "$owner" != 0 ]; then say unsafe "$base is owned by uid $owner, not root"; exit 0; fi
chmod 0700 -- "$base" || exit 1
if [ -L "$base/cache" ] || { [ -e "$base/cache" ] && [ ! -d "$base/cache" ]; }; then rm -f -- "$base/cache"; fi
[ -d "$base/cache" ] || mkdir -m 0700 -- "$base/cache" || exit 1

case $verb in
put)
	h=$1
	case $h in *[!0-9a-f]*|'') echo "bad checksum $h" >&2; exit 2;; esac
	t=$(mktemp "$base/cache/.in.XXXXXX") || exit 1
	if ! cat >"$t"; then rm -f -- "$t"; exit 1; fi
	got=$(sha256sum <"$t") || { rm -f -- "$t"; exit 1; }
	got=${got%% *}
	if [ "$got" != "$h" ]; then rm -f -- "$t"; echo "checksum mismatch after upload: got $got, want $h" >&2; exit 1; fi
	chmod 0755 -- "$t" && mv -f -- "$t" "$base/cache/$h"
	exit
	;;
run) ;;
*) echo "unknown verb $verb" >&2; exit 2;;
esac

os=$(uname -s) m=$(uname -m)
case $m in x86_64|amd64) arch=amd64;; aarch64|arm64) arch=arm64;; *) arch=unknown;; esac
say host "$os" "$m" "$arch"
if [ "$os" != Linux ] || [ "$arch" = unknown ]; then say unsupported; exit 0; fi
pairs='' need=''
while [ $# -gt 0 ]; do
	a=$1
	shift
	[ "$a" = -- ] && break
	case $a in "$arch":*) ;; *) continue;; esac
	nh=${a#*:}
	n=${nh%%:*} h=${nh#*:}
	pairs="$pairs $n:$h"
	[ -f "$base/cache/$h" ] || need="$need $h"
done
if [ -z "$pairs" ]; then say offer; exit 0; fi
# One word per missing checksum: $need is split on purpose.
# shellcheck disable=SC2086
if [ -n "$need" ]; then say need $need; exit 0; fi

exec 9>>"$base/lock"
if command -v flock >/dev/null 2>&1; then
	if ! flock -w 300 9; then echo "another deploy has held $base/lock for 5 minutes" >&2; exit 1; fi
	rm -rf -- "$base"/staging.*
else
	# Without flock a concurrent run may own a staging dir: only old ones go.
	find "$base" -maxdepth 1 -name 'staging.*' -mmin +1440 -exec rm -rf -- {} + 2>/dev/null
fi
find "$base/cache" -name '.in.*' -mmin +60 -exec rm -f -- {} + 2>/dev/null
stage=$(mktemp -d "$base/staging.XXXXXX") || exit 1
trap 'rm -rf -- "$stage"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM
for p in $pairs; do
	n=${p%%:*} h=${p#*:}
	ln -- "$base/cache/$h" "$stage/$n" 2>/dev/null || cp -- "$base/cache/$h" "$stage/$n" || exit 1
done
say apply
"$stage/left4me-deploy" host --bin-dir "$stage" "$@"
