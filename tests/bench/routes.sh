#!/usr/bin/env bash
# tests/bench/routes.sh - hook and backend routes in `make bench` (issues 11
# and 12): one coapd worker pinned to CPU 0, coapd-bench on CPU 1, all in
# one run so the ratios compare like with like.
#
#   static     GET /hello (a 5-byte file), CON 64x8 and 8x1, closed loop
#   backend    GET /app through tests/backend/min-backend.c on a Unix
#              socket, CON 8x1, target >= 0.5x static 8x1 in 2.xx answers
#              per second; and CON 32x4 (128 in flight: more than
#              net.unix.max_dgram_qlen, so requests wait in coapd for room
#              in the backend's queue, and fewer than max_separate, 256:
#              none gets 5.03)
#   hook (C)   GET /hc runs build/hook-ok, CON 16x1 closed loop
#   hook (sh)  GET /hs runs a two-line /bin/sh script, CON 16x1
#   floor      build/spawn-floor: posix_spawn + read + waitpid of the same
#              programs in a loop, what a hook run cannot beat
#   p99        static GETs paced at 2000/s, alone and while hooks run at
#              200/s on the same worker; target at most 2x; BENCH_P99_REPS
#              pairs (3, at most 9), the median of each side
#
# Environment: BENCH_SECONDS (3, at most 60), BENCH_P99_REPS.  Bounded: every run has -d,
# every process runs under timeout(1) and is stopped by its PID.
set -u
cd "$(dirname "$0")/../.." || exit 1

B=build
BENCH=$B/coapd-bench
COAPD=${BENCH_COAPD:-$B/coapd}
SECS=${BENCH_SECONDS:-3}
case $SECS in ''|*[!0-9]*) SECS=3 ;; esac
REPS=${BENCH_P99_REPS:-3}
case $REPS in ''|*[!0-9]*|0) REPS=3 ;; esac
[ "$REPS" -le 9 ] || REPS=9
[ "$SECS" -ge 1 ] || SECS=1
[ "$SECS" -le 60 ] || SECS=60
OUT=$B/bench-routes.md
for f in "$BENCH" "$COAPD" "$B/min-backend" "$B/hook-ok" "$B/spawn-floor"; do
	[ -x "$f" ] || { echo "bench-routes: $f missing" >&2; exit 1; }
done
SRV_PIN=() BEN_PIN=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	SRV_PIN=(taskset -c 0) BEN_PIN=(taskset -c 1)
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/coapd-bench-routes.XXXXXX") || exit 1
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'hello' >"$tmp/hello.txt"
printf '#!/bin/sh\necho ok\n' >"$tmp/ok.sh"
chmod 0755 "$tmp" "$tmp/ok.sh"
timeout -k 2 $((SECS * (10 + 2 * REPS) + 60)) "$B/min-backend" "$tmp/app.sock" \
    2>"$tmp/backend.log" &
PIDS+=($!)
cat >"$tmp/coapd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $port; } );
workers = 1;
log = { level = "warn"; };
hooks = { max_running = 64; };
routes = (
  { path = "/hello"; static = "$tmp/hello.txt"; },
  { path = "/app"; backend = "$tmp/app.sock"; max_pending = 1024; },
  { path = "/hc"; hook = [ "$PWD/$B/hook-ok" ]; max_running = 64;
    run_as_root = true; },
  { path = "/hs"; hook = [ "/bin/sh", "$tmp/ok.sh" ]; max_running = 64;
    run_as_root = true; }
);
CONF
"${SRV_PIN[@]}" timeout -k 2 $((SECS * (10 + 2 * REPS) + 60)) "$COAPD" \
    -c "$tmp/coapd.conf" >"$tmp/coapd.log" 2>&1 &
PIDS+=($!)
for i in $(seq 1 50); do
	[ -S "$tmp/app.sock" ] && "$BENCH" -p "$port" -u /hello -c 1 -d 1 -w 0 \
	    --oneline 2>/dev/null | grep -q ' c2xx=[1-9]' && break
	sleep 0.1
done

kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
run() {	# run PATH ARGS...: one bench run, its oneline result
	local p=$1
	shift
	"${BEN_PIN[@]}" "$BENCH" -a 127.0.0.1 -p "$port" -u "$p" -d "$SECS" \
	    -w 1 --oneline "$@" 2>/dev/null
}
ok_s() { awk -v n="$(kv "$1" c2xx)" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

echo "bench-routes: ${SECS}s per run"
st=$(run /hello -t con -c 64 -n 8)
s16=$(run /hello -t con -c 8 -n 1)
bk=$(run /app -t con -c 8 -n 1)
bk32=$(run /app -t con -c 32 -n 4)
hc=$(run /hc -t con -c 16 -n 1)
hs=$(run /hs -t con -c 16 -n 1)
fc=$("${BEN_PIN[@]}" "$B/spawn-floor" 2000 "$PWD/$B/hook-ok")
fs=$("${BEN_PIN[@]}" "$B/spawn-floor" 2000 /bin/sh "$tmp/ok.sh")
# p99 pairs: alone, then beside hooks, REPS times; the rows are the
# runs of median p99 (one noisy run on a shared machine decides nothing)
A=() Z=() G=()
for i in $(seq 1 "$REPS"); do
	A+=("$(run /hello -t con -c 8 -n 1 -r 2000)")
	run /hc -t con -c 8 -n 1 -r 200 >"$tmp/bg" &
	bgp=$!
	Z+=("$(run /hello -t con -c 8 -n 1 -r 2000)")
	wait "$bgp"
	G+=("$(cat "$tmp/bg")")
done
median() {	# median NAME: the run of median p99 of the array NAME
	local -n arr=$1
	local k
	k=$(for i in "${!arr[@]}"; do echo "$i $(kv "${arr[$i]}" p99_us)"; done |
	    sort -k2,2g | awk -v n="${#arr[@]}" 'NR == int((n + 1) / 2) { print $1 }')
	echo "${arr[$k]}"
}
alone=$(median A)
busy=$(median Z)
bg=$(median G)

{
	echo "# coapd hook and backend routes"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs" \
	    "($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))," \
	    "one worker${SRV_PIN:+ on CPU 0, coapd-bench on CPU 1}; ${SECS} s runs."
	echo
	echo "| route | load | req/s | 2.xx/s | p50 µs | p99 µs | lost | 5.xx |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for row in "static /hello|CON 64x8|$st" "static /hello|CON 8x1|$s16" \
	    "backend /app (min-backend)|CON 8x1|$bk" \
	    "backend /app (min-backend)|CON 32x4|$bk32" \
	    "hook, C program|CON 16x1|$hc" "hook, /bin/sh script|CON 16x1|$hs" \
	    "static, alone|2000/s|$alone" "static, hooks at 200/s beside|2000/s|$busy" \
	    "hook at 200/s (beside)|200/s|$bg"; do
		IFS='|' read -r name load l <<<"$row"
		echo "| $name | $load | $(kv "$l" rps) | $(ok_s "$l") |" \
		    "$(kv "$l" p50_us) |" \
		    "$(kv "$l" p99_us) | $(kv "$l" lost) | $(kv "$l" c5xx) |"
	done
	echo
	echo "| ratio | value | target |"
	echo "|---|---:|---|"
	echo "| backend / static, 2.xx/s at 8x1 | $(ratio "$(ok_s "$bk")" "$(ok_s "$s16")") | >= 0.5 |"
	echo "| hook (C) / posix_spawn floor | $(ratio "$(kv "$hc" rps)" "$(kv "$fc" rate)") | |"
	echo "| hook (sh) / posix_spawn floor | $(ratio "$(kv "$hs" rps)" "$(kv "$fs" rate)") | |"
	echo "| static p99 with hooks / alone (medians of $REPS) | $(ratio "$(kv "$busy" p99_us)" "$(kv "$alone" p99_us)") | <= 2 |"
	echo
	echo "Floor (one process spawning in a loop, no server): C program" \
	    "$(kv "$fc" rate) runs/s, /bin/sh script $(kv "$fs" rate) runs/s."
} >"$tmp/out.md"
cp "$tmp/out.md" "$OUT"
cat "$OUT"
echo "bench-routes: written to $OUT"
