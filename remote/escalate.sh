# Runs as the login user on the host: runs the script in $2 as root,
# directly when the login is root, else through sudo in the mode $1 names
# ("n": sudo -n; "S": password on stdin, cached credentials ignored so the
# password line is always consumed by sudo). POSIX sh; every input is an
# argument, never spliced into the script text.
# shellcheck shell=sh
export LC_ALL=C
mode=$1 script=$2
shift 2
if [ "$(id -u)" = 0 ]; then exec sh -c "$script" sh "$@"; fi
if ! command -v sudo >/dev/null 2>&1; then echo "L4M nosudo $(id -un)"; exit 0; fi
echo "L4M sudo $(id -un)"
if [ "$mode" = S ]; then exec sudo -k -S -p '' -- sh -c "$script" sh "$@"; fi
exec sudo -n -- sh -c "$script" sh "$@"
