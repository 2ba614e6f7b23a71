#!/bin/bash
# run.sh - DTLS PSK benchmark: requests/s over established sessions
# (SESSIONS x WINDOW, default 64 x 8) and full handshakes/s, for coapd
# (DTLS and, for the ratio, plain CoAP with coapd-bench) and libcoap's
# coap-server-openssl and coap-server-gnutls (when installed) with a PSK,
# in the same run on 127.0.0.1.  Servers run on CPU 0, the load generator
# on CPU 1 (taskset), as in tests/bench/run.sh.
#
# Handshakes/s is the generator's limit more than the server's: its
# wolfSSL client does as much work per handshake as a server, on one CPU
# against the server's one, so every server lands near the same rate (on
# the 2-core reference machine coapd sat at about 85 % of its CPU while
# it lasted).  So each server's CPU time per handshake (utime + stime from
# /proc/PID/stat over the run, divided by the handshakes done) is printed
# beside it: the server's capacity, whatever the generator manages.
# usage: tests/bench-dtls/run.sh [SECONDS]   (make bench-dtls)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-$top/build}
secs=${1:-5}
sess=${SESSIONS:-64}
win=${WINDOW:-8}
T=$(mktemp -d "${TMPDIR:-/tmp}/coapd-bench-dtls.XXXXXX") || exit 1
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
port() { python3 "$top/tests/integ/coap.py" freeport; }

key=bench-secret-key-0001
printf 'bench:%s\n' "$(printf %s "$key" | xxd -p -c 256)" >"$T/psk"
chmod 0600 "$T/psk"
printf 'hello\n' >"$T/hello.txt"
P=$(port)
D=$(port)
cat >"$T/coapd.conf" <<EOT
listen = ( { address = "127.0.0.1"; port = $P; },
           { address = "127.0.0.1"; port = $D; dtls = true; } );
dtls = { psk_file = "$T/psk"; };
routes = ( { path = "/hello"; static = "$T/hello.txt"; } );
log = { level = "warn"; };
EOT
srv="taskset -c 0"
gen="taskset -c 1"
$srv "$B/coapd" -c "$T/coapd.conf" &
pids+=($!)
cpid=$!
libs=()
for l in openssl gnutls; do
	command -v "coap-server-$l" >/dev/null || continue
	lp=$(port)
	$srv "coap-server-$l" -A 127.0.0.1 -p "$lp" -k "$key" -v 0 \
	    >/dev/null 2>&1 &
	pids+=($!)
	libs+=("$l:$lp:$!")
done
sleep 0.5

num() { sed -n 's/^\([0-9]*\) .*/\1/p'; }
# handshakes PID PORT: one handshake run against the server PID on PORT:
# "RATE US" (handshakes/s, the server's CPU microseconds per handshake)
tck=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
handshakes() {
	local t0 t1 out
	t0=$(ticks "$1")
	out=$(timeout $((secs + 30)) $gen "$B/dtls-bench" hs 127.0.0.1 "$2" \
	    bench "$key" "$secs" 2)
	t1=$(ticks "$1")
	awk -v o="$out" -v d=$((t1 - t0)) -v hz="$tck" 'BEGIN {
	    split(o, f, " "); n = o; sub(/.*[(]/, "", n); sub(/ in.*/, "", n)
	    us = n > 0 ? sprintf("%.0f", d * 1e6 / hz / n) : "?"
	    printf "%s %s\n", f[1], us }'
}
ratio() { python3 -c "print(round(${1:-0}/max(${2:-1},1),2))"; }
plain=$($gen "$B/coapd-bench" -p "$P" -u /hello -c "$sess" -n "$win" \
    -d "$secs" -T 2 --oneline | sed -n 's/.* rps=\([0-9]*\).*/\1/p')
dtls=$(timeout $((secs + 30)) $gen "$B/dtls-bench" rps 127.0.0.1 "$D" \
    /hello bench "$key" "$sess" "$win" "$secs" 2 | num)
read -r hs hsus < <(handshakes "$cpid" "$D")
printf 'coapd plain CoAP          %8s requests/s\n' "${plain:-?}"
printf 'coapd DTLS                %8s requests/s  (%s x plain)\n' \
    "${dtls:-?}" "$(ratio "$dtls" "$plain")"
printf 'coapd handshakes          %8s /s  (server CPU %s us each)\n' \
    "${hs:-?}" "${hsus:-?}"
for e in "${libs[@]}"; do
	l=${e%%:*}
	lp=${e#*:}
	lpid=${lp#*:}
	lp=${lp%%:*}
	# libcoap listens for coaps on port + 1 and serves "/" (its info text)
	ldtls=$(timeout $((secs + 30)) $gen "$B/dtls-bench" rps 127.0.0.1 \
	    $((lp + 1)) / bench "$key" "$sess" "$win" "$secs" 2 | num)
	read -r lhs lus < <(handshakes "$lpid" $((lp + 1)))
	printf '%-25s %8s requests/s  (coapd %s x)\n' "coap-server-$l DTLS" \
	    "${ldtls:-?}" "$(ratio "$dtls" "$ldtls")"
	printf '%-25s %8s /s  (coapd %s x; server CPU %s us each, coapd %s x less)\n' \
	    "coap-server-$l hs" "${lhs:-?}" "$(ratio "$hs" "$lhs")" \
	    "${lus:-?}" "$(ratio "${lus:-0}" "${hsus:-1}")"
done
kill -0 "$cpid" 2>/dev/null || { echo "coapd died" >&2; exit 1; }
