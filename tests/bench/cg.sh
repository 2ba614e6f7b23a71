#!/usr/bin/env bash
# tests/bench/cg.sh - coapd's user-space instructions per request, counted
# by valgrind's callgrind: one worker serving a 5-byte static file to
# build/coapd-bench (closed loop).  Instruction counts do not depend on
# what else the machine runs, so before/after comparisons of a hot-path
# change are repeatable where req/s and CPU time are not.  The kernel's
# share (UDP, io_uring) is not counted.
#
# usage: tests/bench/cg.sh [SECONDS]	(default 3; at most 60)
# Environment: CG_ARGS (coapd-bench load, default "-t con -c 64 -n 8"),
# CG_OUT (keep the profile there, for callgrind_annotate).
#
# The server runs under timeout(1) and is stopped by its PID; only
# loopback is used.
set -u
cd "$(dirname "$0")/../.." || exit 1
secs=${1:-3}
case $secs in ''|*[!0-9]*) echo "cg: SECONDS must be a number" >&2; exit 2 ;; esac
[ "$secs" -ge 1 ] && [ "$secs" -le 60 ] || secs=3
args=${CG_ARGS:--t con -c 64 -n 8}
command -v valgrind >/dev/null || { echo "cg: valgrind missing" >&2; exit 1; }
for f in build/coapd build/coapd-bench; do
	[ -x "$f" ] || { echo "cg: $f missing (make $f)" >&2; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/coapd-cg.XXXXXX") || exit 1
TPID=""
cleanup() {
	[ -n "$TPID" ] && kill "$TPID" 2>/dev/null && wait "$TPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
port=$(python3 tests/integ/coap.py freeport) || exit 1
printf hello > "$T/hello.txt"
cat > "$T/c.conf" <<EOF
listen = ( { address = "127.0.0.1"; port = $port; } );
workers = 1;
routes = ( { path = "/hello"; static = "$T/hello.txt"; } );
log = { level = "warn"; };
EOF
timeout -k 5 $((secs + 90)) valgrind --tool=callgrind \
    --callgrind-out-file="$T/cg.%p" build/coapd -c "$T/c.conf" \
    > "$T/vg.log" 2>&1 &
TPID=$!
pid=""
for _ in $(seq 1 100); do
	pid=$(cat "/proc/$TPID/task/$TPID/children" 2>/dev/null)
	pid=${pid%% *}
	[ -n "$pid" ] && break
	sleep 0.05
done
[ -n "$pid" ] || { echo "cg: valgrind did not start" >&2; exit 1; }
# started when it answers; one warm-up second fills the caches
ok=0
for _ in $(seq 1 60); do
	l=$(build/coapd-bench -p "$port" -c 1 -d 1 -w 0 --oneline 2>/dev/null)
	case $l in *" c2xx=0 "*|"") sleep 0.2 ;; *) ok=1; break ;; esac
done
[ "$ok" = 1 ] || { echo "cg: coapd did not answer" >&2; tail "$T/vg.log" >&2; exit 1; }
# shellcheck disable=SC2086
build/coapd-bench -p "$port" $args -d 1 -w 0 --oneline >/dev/null
callgrind_control -z "$pid" >/dev/null 2>&1 || exit 1
# shellcheck disable=SC2086
line=$(build/coapd-bench -p "$port" $args -d "$secs" -w 0 --oneline)
callgrind_control -d "$pid" >/dev/null 2>&1 || exit 1
prof=$(ls -t "$T"/cg."$pid".* 2>/dev/null | head -1)
[ -n "$prof" ] || { echo "cg: no profile dumped" >&2; exit 1; }
# every request the bench counted plus the unanswered ones the server saw
done=$(sed -n 's/.* done=\([0-9]*\).*/\1/p' <<<"$line")
ir=$(callgrind_annotate "$prof" 2>/dev/null |
    awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
[ -n "$done" ] && [ "$done" -gt 0 ] && [ -n "$ir" ] ||
    { echo "cg: no result ($line)" >&2; exit 1; }
echo "cg: $args, $done requests in ${secs} s under callgrind:" \
    "$ir instructions, $((ir / done)) per request"
if [ -n "${CG_OUT:-}" ]; then
	cp "$prof" "$CG_OUT" && echo "cg: profile in $CG_OUT"
fi
