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
if [ "$mode" != S ]; then exec sudo -n -- sh -c "$script" sh "$@"; fi
# sudo -S: sudo-rs (0.2.5) reads stdin ahead of the password line and would
# swallow what follows it (a binary being sent). So this shell takes the
# password line itself (read takes no byte past the newline), gives sudo
# only that, and passes the rest of stdin to the root script through a FIFO
# in a directory only this user can enter.
IFS= read -r pw || pw=
dir=$(mktemp -d) || exit 1
trap 'rm -rf -- "$dir"' EXIT
mkfifo -m 0600 "$dir/in" || exit 1
# An asynchronous command's stdin is /dev/null unless it says otherwise.
exec 3<&0
cat <&3 >"$dir/in" &
feeder=$!
exec 3<&-
# shellcheck disable=SC2016 # the root shell expands these
printf '%s\n' "$pw" | sudo -k -S -p '' -- sh -c 'exec <"$1" || exit 1; s=$2; shift 2; exec sh -c "$s" sh "$@"' sh "$dir/in" "$script" "$@"
status=$?
# A feeder still waiting for a reader (sudo refused) is not needed any more.
kill "$feeder" 2>/dev/null
wait "$feeder" 2>/dev/null
exit "$status"
