#!/usr/bin/env bash
# tests/bench/run.sh - what `make bench` runs.
#
# Puts coapd next to two references on this machine, all on loopback:
#   responder  build/coap-responder, the least a CoAP server can do: the
#              kernel's UDP limit on one core
#   libcoap    coap-server-notls (libcoap3-bin), serving a 5-byte resource
#              created at start-up with a PUT (-d enables dynamic resources)
#   coapd      build/coapd with one worker (skipped, with a message, when it
#              is missing or does not start)
# Each server runs pinned to CPU 0 and coapd-bench to CPU 1, one fresh server
# per run.  Repetition R of every server runs back to back (responder,
# libcoap, coapd for one scenario, then the next scenario, then repetition
# R+1), so a ratio row can pair run R of one server with run R of the other:
# the table gives the median and the minimum of those per-repetition ratios
# ("in every repetition" is the minimum).  Medians of BENCH_REPS runs per
# cell go into a Markdown table, printed and written to build/bench.md.
#
# Duration: about (BENCH_WARMUP + BENCH_SECONDS + 2) s per run, 17 runs per
# repetition (5 scenarios x 3 servers, 2 unpinned coapd runs) plus the
# self-check (3 short runs per repetition) and the cross-check: with the
# defaults (5 reps of 5 s) 12 to 15 minutes, then tests/bench-dtls (about
# 30 s).
#
# Environment: BENCH_REPS (5), BENCH_SECONDS (5, at most 120),
# BENCH_WARMUP (1), BENCH_SELFTEST (1: check that the bench is not the
# bottleneck), BENCH_IDLE_WAIT (3: seconds to wait for other load to stop
# before each run; 0 = do not wait), BENCH_COAPD (build/coapd: the binary
# under test).
#
# Only loopback is used, every run is bounded by -d, and every server runs
# under timeout(1) so none outlives the script even if it is killed.

set -u
cd "$(dirname "$0")/../.." || exit 1

B=build
BENCH=$B/coapd-bench
RESP=$B/coap-responder
COAPD=${BENCH_COAPD:-$B/coapd}
SHIM=$PWD/$B/rcvbuf.so
LIBCOAP_RCVBUF=$((8 * 1024 * 1024))	# coap-responder's RCVBUF_BYTES
OUT=$B/bench.md
ADDR=127.0.0.1

REPS=${BENCH_REPS:-5}
SECS=${BENCH_SECONDS:-5}
WARM=${BENCH_WARMUP:-1}
SELFTEST=${BENCH_SELFTEST:-1}
IDLE_WAIT=${BENCH_IDLE_WAIT:-3}
for v in REPS SECS WARM SELFTEST IDLE_WAIT; do
	case ${!v} in
	''|*[!0-9]*) echo "bench: $v must be a number" >&2; exit 2 ;;
	esac
done
[ "$REPS" -ge 1 ] || REPS=1
[ "$SECS" -ge 1 ] || SECS=1
[ "$SECS" -le 120 ] || SECS=120
[ "$WARM" -le 30 ] || WARM=30
# a server lives for one run: start-up, warmup, window, drain, slack
LIFE=$((WARM + SECS + 60))

for f in "$BENCH" "$RESP" "$SHIM"; do
	if [ ! -x "$f" ]; then
		echo "bench: $f missing (make $f)" >&2
		exit 1
	fi
done
LIBCOAP=$(command -v coap-server-notls || true)
COAPCLI=$(command -v coap-client-notls || true)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coapd-bench.XXXXXX") || exit 1
TPID=""		# timeout(1) wrapping the current server
SPID=""		# the server itself
BPIDS=()	# background benches (self-test)

cleanup() {
	local p
	for p in "${BPIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	if [ -n "$TPID" ]; then
		kill "$TPID" 2>/dev/null
		wait "$TPID" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(nproc)" -ge 2 ]; then
	SRV_PIN=(taskset -c 0)
	BEN_PIN=(taskset -c 1)
	PINNOTE="server on CPU 0, coapd-bench on CPU 1"
else
	SRV_PIN=()
	BEN_PIN=()
	PINNOTE="one CPU: nothing pinned, the bench shares the server's core"
fi

# A port free for UDP and TCP (libcoap listens on both).
free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 - <<'EOF' && return 0
import socket
for _ in range(50):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(p)
    break
else:
    raise SystemExit(1)
EOF
	fi
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 30000))
		if [ -z "$(ss -Hlun "sport = :$p")" ] &&
		    [ -z "$(ss -Hltn "sport = :$p")" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Percent of all CPUs idle over 0.5 s.
idle_pct() {
	local a b
	read -r -a a < /proc/stat
	sleep 0.5
	read -r -a b < /proc/stat
	local i t=0
	for i in 1 2 3 4 5 6 7 8; do
		t=$((t + b[i] - a[i]))
	done
	[ "$t" -gt 0 ] || { echo 100; return; }
	echo $((100 * (b[4] - a[4]) / t))
}

BUSY_RUNS=0
TOTAL_RUNS=0
# Wait (bounded) for the machine to be quiet; count runs that were not.
await_idle() {
	local end=$((SECONDS + IDLE_WAIT)) p
	while :; do
		p=$(idle_pct)
		[ "$p" -ge 85 ] && return 0
		[ "$SECONDS" -ge "$end" ] && break
	done
	BUSY_RUNS=$((BUSY_RUNS + 1))
	echo "bench: machine busy (${p}% idle), measuring anyway" >&2
}

# GET /hello until it answers "hello"; the server must stay alive.
probe() {
	local port=$1 i out
	for i in $(seq 1 30); do
		kill -0 "$SPID" 2>/dev/null || return 1
		if [ -n "$COAPCLI" ]; then
			out=$(timeout 3 "$COAPCLI" -B 1 -m get \
			    "coap://$ADDR:$port/hello" 2>/dev/null)
			[ "$out" = hello ] && return 0
		else
			out=$("$BENCH" -p "$port" -c 1 -d 1 -w 0 --oneline \
			    2>/dev/null)
			case $out in *" c2xx=0 "*|"") ;; *) return 0 ;; esac
		fi
		sleep 0.1
	done
	return 1
}

# start_server KIND PORT PIN(0/1): sets TPID and SPID; 1 when it won't run.
start_server() {
	local kind=$1 port=$2 pin=$3 i pre=() log=$tmp/$1.log
	[ "$pin" = 1 ] && pre=("${SRV_PIN[@]}")
	case $kind in
	responder)
		"${pre[@]}" timeout -k 5 "$LIFE" "$RESP" -a "$ADDR" \
		    -p "$port" -l "$LIFE" >"$log" 2>&1 &
		;;
	libcoap)
		# the responder's receive buffer (tests/bench/shim/rcvbuf.c)
		BENCH_RCVBUF=$LIBCOAP_RCVBUF LD_PRELOAD=$SHIM \
		"${pre[@]}" timeout -k 5 "$LIFE" "$LIBCOAP" -A "$ADDR" \
		    -p "$port" -d 10 -v 3 >"$log" 2>&1 &
		;;
	coapd1|coapd2)
		write_conf "$port" "${kind#coapd}" > "$tmp/coapd.conf"
		"${pre[@]}" timeout -k 5 "$LIFE" "$COAPD" \
		    -c "$tmp/coapd.conf" >"$log" 2>&1 &
		;;
	esac
	TPID=$!
	SPID=""
	for i in $(seq 1 100); do
		SPID=$(cat "/proc/$TPID/task/$TPID/children" 2>/dev/null)
		SPID=${SPID%% *}
		[ -n "$SPID" ] && break
		kill -0 "$TPID" 2>/dev/null || break
		sleep 0.02
	done
	if [ -z "$SPID" ]; then
		stop_server
		return 1
	fi
	if [ "$kind" = libcoap ]; then
		# the 5-byte resource: PUT creates it (-d), GET returns it
		for i in $(seq 1 30); do
			timeout 3 "$COAPCLI" -B 1 -m put -e hello \
			    "coap://$ADDR:$port/hello" >/dev/null 2>&1 && break
			sleep 0.1
		done
	fi
	if ! probe "$port"; then
		stop_server
		return 1
	fi
	return 0
}

stop_server() {
	if [ -n "$TPID" ]; then
		kill "$TPID" 2>/dev/null
		wait "$TPID" 2>/dev/null
	fi
	TPID=""
	SPID=""
}

write_conf() {
	printf 'hello' > "$tmp/hello.txt"
	cat <<EOF
listen = ( { address = "$ADDR"; port = $1; } );
workers = $2;
routes = ( { path = "/hello"; static = "$tmp/hello.txt"; } );
log = { level = "warn"; };
EOF
}

# Receive buffer and drops of the server's UDP socket(s) on port $1.
sock_rb() {
	ss -Huamn "sport = :$1" 2>/dev/null |
	    sed -n 's/.*skmem:([^)]*rb\([0-9]*\).*/\1/p' | head -1
}
sock_drops() {
	ss -Huamn "sport = :$1" 2>/dev/null |
	    sed -n 's/.*skmem:([^)]*,d\([0-9]*\)).*/\1/p' |
	    awk '{s += $1} END {print s + 0}'
}

kv() {	# kv LINE KEY
	awk -v k="$2" '{ for (i = 1; i <= NF; i++) {
		n = index($i, "="); if (substr($i, 1, n - 1) == k) {
			print substr($i, n + 1); exit } } }' <<<"$1"
}

median() {
	printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g | awk '
	    { a[NR] = $1 }
	    END { if (NR == 0) print "-";
		  else if (NR % 2) print a[(NR + 1) / 2];
		  else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# The fd table bounds the clients one bench thread can hold (io_uring
# direct descriptors count against RLIMIT_NOFILE per ring).
HARD_NOFILE=$(ulimit -Hn)
threads_for() {
	local c=$1 per
	[ "$HARD_NOFILE" = unlimited ] && { echo 1; return; }
	per=$((HARD_NOFILE - 100))
	echo $(((c + per - 1) / per))
}

# Result store: one file per server+scenario, one oneline result per run.
res() { echo "$tmp/res.$1.$2"; }

# run_one SERVER SCEN PIN ARGS... : one fresh server, one bench run.
run_one() {
	local srv=$1 scen=$2 pin=$3 port line drops rb pre=()
	shift 3
	port=$(free_port) || { echo "bench: no free port" >&2; return 1; }
	if ! start_server "$srv" "$port" "$pin"; then
		echo "bench: $srv did not start (log below)" >&2
		tail -5 "$tmp/$srv.log" >&2
		return 1
	fi
	rb=$(sock_rb "$port")
	[ -n "$rb" ] && echo "$rb" > "$tmp/rb.$srv"
	await_idle
	TOTAL_RUNS=$((TOTAL_RUNS + 1))
	[ "$pin" = 1 ] && pre=("${BEN_PIN[@]}")
	line=$("${pre[@]}" "$BENCH" -a "$ADDR" -p "$port" -u /hello \
	    -d "$SECS" -w "$WARM" -P "$SPID" --oneline "$@")
	drops=$(sock_drops "$port")
	stop_server
	if [ -z "$line" ]; then
		echo "bench: $srv $scen: coapd-bench failed" >&2
		return 1
	fi
	echo "$line drops=$drops" >> "$(res "$srv" "$scen")"
	printf '  %-10s %-7s req/s %s p50 %s us p99 %s us cpu %s us/req' \
	    "$srv" "$scen" "$(kv "$line" rps)" "$(kv "$line" p50_us)" \
	    "$(kv "$line" p99_us)" "$(kv "$line" srv_cpu_us)"
	printf ' lost %s drops %s\n' "$(kv "$line" lost)" "$drops"
}

# Scenario table: id, label, clients (for RSS), coapd-bench arguments.
SCEN_IDS=(non64 con64 con2k con20k paced)
declare -A SCEN_LABEL SCEN_ARGS SCEN_CLIENTS
SCEN_LABEL[non64]="NON GET 64x8"
SCEN_ARGS[non64]="-t non -c 64 -n 8"
SCEN_LABEL[con64]="CON GET 64x8"
SCEN_ARGS[con64]="-t con -c 64 -n 8"
SCEN_LABEL[con2k]="CON GET 2000x1"
SCEN_ARGS[con2k]="-t con -c 2000 -n 1"
SCEN_CLIENTS[con2k]=2000
SCEN_LABEL[con20k]="CON GET 20000x1"
SCEN_ARGS[con20k]="-t con -c 20000 -n 1 -T $(threads_for 20000)"
SCEN_CLIENTS[con20k]=20000
SCEN_LABEL[paced]="CON GET 20k req/s"
SCEN_ARGS[paced]="-t con -c 64 -n 8 -r 20000"
SCEN_LABEL[unpin]="CON GET 64x8 from 16 hosts, unpinned"
SCEN_ARGS[unpin]="-t con -c 64 -n 8 --sources 16"

declare -A SRV_LABEL SRV_SHORT SRV_OK
SRV_SHORT[responder]="responder"
SRV_SHORT[libcoap]="libcoap"
SRV_SHORT[coapd1]="coapd"
SRV_LABEL[responder]="responder"
SRV_LABEL[libcoap]="libcoap"
SRV_LABEL[coapd1]="coapd (1 worker)"
SRV_LABEL[coapd2]="coapd (2 workers)"
SERVERS=(responder)
if [ -n "$LIBCOAP" ] && [ -n "$COAPCLI" ]; then
	SERVERS+=(libcoap)
else
	echo "bench: coap-server-notls/coap-client-notls missing" \
	    "(libcoap3-bin): libcoap rows skipped" >&2
fi
COAPD_NOTE=""
if [ -x "$COAPD" ]; then
	SERVERS+=(coapd1)
else
	COAPD_NOTE="$COAPD missing: coapd rows skipped"
	echo "bench: $COAPD_NOTE" >&2
fi

echo "bench: $REPS x ${SECS}s (+${WARM}s warmup) per cell; $PINNOTE"
for srv in "${SERVERS[@]}"; do
	SRV_OK[$srv]=1
done
# Repetition-major: run R of each server side by side (see the top).
for rep in $(seq 1 "$REPS"); do
	for scen in "${SCEN_IDS[@]}"; do
		for srv in "${SERVERS[@]}"; do
			[ "${SRV_OK[$srv]}" = 1 ] || continue
			# shellcheck disable=SC2086
			run_one "$srv" "$scen" 1 ${SCEN_ARGS[$scen]} && continue
			echo "rep=$rep failed" >> "$(res "$srv" "$scen")"
			if [ "$srv" = coapd1 ] && [ "$rep" = 1 ] &&
			    [ "$scen" = "${SCEN_IDS[0]}" ]; then
				COAPD_NOTE="$COAPD did not start or failed:"
				COAPD_NOTE+=" coapd rows skipped"
				echo "bench: $COAPD_NOTE" >&2
				SRV_OK[$srv]=0
			fi
		done
	done
	# Two workers against one, nothing pinned.
	if [ "${SRV_OK[coapd1]:-0}" = 1 ]; then
		for srv in coapd1 coapd2; do
			# shellcheck disable=SC2086
			run_one "$srv" unpin 0 ${SCEN_ARGS[unpin]} ||
			    echo "rep=$rep failed" >> "$(res "$srv" unpin)"
		done
	fi
done

# Cross-check with libcoap's own client: LOOPS shell loops of
# coap-client-notls GET /hello for CC_SECS against each server, nothing
# pinned.  A process per request bounds the rate far below the servers',
# so this checks that libcoap and coapd answer every request of a client
# nobody here wrote, not their speed.
CC_MD=""
cross_check() {
	local srv=$1 port end ok=0 bad=0 i f
	port=$(free_port) || return 1
	start_server "$srv" "$port" 0 || return 1
	end=$((SECONDS + CC_SECS))
	for i in $(seq 1 "$CC_LOOPS"); do
		(
			o=0 b=0
			while [ "$SECONDS" -lt "$end" ]; do
				r=$(timeout 3 "$COAPCLI" -B 2 -m get \
				    "coap://$ADDR:$port/hello" 2>/dev/null)
				if [ "$r" = hello ]; then o=$((o + 1))
				else b=$((b + 1)); fi
			done
			echo "$o $b"
		) > "$tmp/cc.$srv.$i" &
	done
	wait $(jobs -p | grep -vx "$TPID") 2>/dev/null
	stop_server
	for f in "$tmp"/cc."$srv".*; do
		read -r i f < "$f"
		ok=$((ok + i)); bad=$((bad + f))
	done
	CC_MD+="| ${SRV_LABEL[$srv]} | $ok | $bad | $(awk -v n="$ok" \
	    -v s="$CC_SECS" 'BEGIN { printf "%.0f", n / s }') |
"
}
CC_SECS=${BENCH_CC_SECONDS:-3}
CC_LOOPS=4
if [ -n "$COAPCLI" ] && [ "$CC_SECS" -gt 0 ]; then
	echo "bench: cross-check with coap-client-notls, $CC_LOOPS loops x" \
	    "${CC_SECS}s"
	for srv in libcoap coapd1; do
		[ "${SRV_OK[$srv]:-0}" = 1 ] && cross_check "$srv"
	done
fi

fmt() {	# fmt VALUE DECIMALS
	awk -v v="$1" -v d="$2" 'BEGIN {
		if (v == "-" || v == "" || v < 0) print "-";
		else printf "%.*f\n", d, v }'
}
# Self-check: one bench against the responder, then two benches on the same
# core at once, then one again (so a load change on the machine between the
# runs shows up rather than passing for a result).  If the responder is the
# limit, two get no more than one.  Two on one core cannot tell
# "responder-bound" from "bench core saturated" on their own, so the CPU
# each side spent goes into the verdict too.
SELF_MD=""
if [ "$SELFTEST" = 1 ]; then
	echo "bench: self-check, one vs two coapd-bench on one core"
	one=() two=() rat=() o_bpct=() o_spct=() o_bus=() o_sus=()
	t_bpct=() t_spct=()
	busy0=$BUSY_RUNS
	# quick: at most 3 s per run
	ssecs=$((SECS < 3 ? SECS : 3))
	sargs=(-a "$ADDR" -t non -c 64 -n 8 -d "$ssecs" -w "$WARM" --oneline)
	for rep in $(seq 1 "$REPS"); do
		port=$(free_port) || break
		start_server responder "$port" 1 || break
		await_idle
		TOTAL_RUNS=$((TOTAL_RUNS + 1))
		la=$("${BEN_PIN[@]}" "$BENCH" -p "$port" -P "$SPID" \
		    "${sargs[@]}")
		"${BEN_PIN[@]}" "$BENCH" -p "$port" -P "$SPID" "${sargs[@]}" \
		    > "$tmp/two.a" &
		BPIDS=($!)
		"${BEN_PIN[@]}" "$BENCH" -p "$port" "${sargs[@]}" \
		    > "$tmp/two.b" &
		BPIDS+=($!)
		wait "${BPIDS[@]}"
		BPIDS=()
		lb=$("${BEN_PIN[@]}" "$BENCH" -p "$port" -P "$SPID" \
		    "${sargs[@]}")
		stop_server
		ta=$(cat "$tmp/two.a")
		tb=$(cat "$tmp/two.b")
		for l in "$la" "$lb"; do
			one+=("$(kv "$l" rps)")
			o_bpct+=("$(kv "$l" bench_cpu_pct)")
			o_spct+=("$(kv "$l" srv_cpu_pct)")
			o_bus+=("$(kv "$l" bench_cpu_us)")
			o_sus+=("$(kv "$l" srv_cpu_us)")
		done
		two+=("$(awk -v a="$(kv "$ta" rps)" -v b="$(kv "$tb" rps)" \
		    'BEGIN { print a + b }')")
		rat+=("$(awk -v a="$(kv "$la" rps)" -v b="$(kv "$lb" rps)" \
		    -v t="${two[-1]}" 'BEGIN {
			if (a + b > 0) printf "%.3f\n", 2 * t / (a + b) }')")
		t_bpct+=("$(awk -v a="$(kv "$ta" bench_cpu_pct)" \
		    -v b="$(kv "$tb" bench_cpu_pct)" 'BEGIN { print a + b }')")
		t_spct+=("$(kv "$ta" srv_cpu_pct)")
		echo "  one bench: $(kv "$la" rps) req/s; two benches:" \
		    "$(kv "$ta" rps) + $(kv "$tb" rps) req/s; one bench:" \
		    "$(kv "$lb" rps) req/s"
	done
	m1=$(median "${one[@]}")
	m2=$(median "${two[@]}")
	mr=$(median "${rat[@]}")
	mb=$(median "${o_bpct[@]}")
	ms=$(median "${o_spct[@]}")
	verdict=$(awk -v r="$mr" -v bc="$mb" -v sc="$ms" \
	    -v busy=$((BUSY_RUNS - busy0)) 'BEGIN {
		if (r == "-") { print "n/a"; exit }
		if (r > 1.10)
			v = "FAIL: more bench processes get more, the bench" \
			    " limits the measurement"
		else if (bc >= 95 && sc < 90)
			v = "WARN: no gain from a second bench, but the bench" \
			    " core is saturated and the server core is not"
		else
			v = "PASS: a second bench adds nothing"
		if (busy > 0)
			v = v " (inconclusive: the machine was busy)"
		printf "%.2fx. %s\n", r, v }')
	SELF_MD="| coapd-bench processes on CPU 1 | total req/s | server CPU % | bench CPU % (sum) |
|---|---:|---:|---:|
| 1 | $(fmt "$m1" 0) | $(fmt "$ms" 0) | $(fmt "$mb" 0) |
| 2 | $(fmt "$m2" 0) | $(fmt "$(median "${t_spct[@]}")" 0) | $(fmt "$(median "${t_bpct[@]}")" 0) |

Responder, NON GET 64x8 per bench process; each pair of benches is
compared with the mean of the single runs just before and after it.
Two against one: $verdict
CPU per request with one bench: coapd-bench $(fmt "$(median "${o_bus[@]}")" 2) µs,
responder $(fmt "$(median "${o_sus[@]}")" 2) µs.  Loopback charges the receive path of
a datagram to its sender, so each side pays for delivering into the other and
the two costs come out alike; in closed loop the side with spare time then
batches less until both cores are busy.  A row is server-bound when the
server's CPU % is near 100 and the bench's is not."
fi

# ---- the table ---------------------------------------------------------

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-" || a == "" || b == "" || b + 0 <= 0 ||
		    a + 0 < 0) print "n/a";
		else printf "%.2f\n", a / b }'
}

# cell SERVER SCEN: sets C_RPS C_P50 C_P99 C_CPU C_SPCT C_BPCT C_LOST C_DROP
# and C_RSS
cell() {
	local f line v rps=() p50=() p99=() cpu=() spct=() bpct=() lost=()
	local drop=()
	local rss=() r0=() r1=() n=${SCEN_CLIENTS[$2]:-}
	f=$(res "$1" "$2")
	C_RPS=- C_P50=- C_P99=- C_CPU=- C_SPCT=- C_BPCT=- C_LOST=- C_DROP=-
	C_RSS=-
	[ -s "$f" ] || return 1
	while read -r line; do
		case $line in rep=*) continue ;; esac
		rps+=("$(kv "$line" rps)")
		p50+=("$(kv "$line" p50_us)")
		p99+=("$(kv "$line" p99_us)")
		cpu+=("$(kv "$line" srv_cpu_us)")
		spct+=("$(kv "$line" srv_cpu_pct)")
		bpct+=("$(kv "$line" bench_cpu_pct)")
		lost+=("$(kv "$line" lost)")
		drop+=("$(kv "$line" drops)")
		if [ -n "$n" ]; then
			v=$(kv "$line" rss_before_kb)
			r0+=("$v")
			r1+=("$(kv "$line" rss_after_kb)")
			rss+=("$(awk -v a="$v" -v b="$(kv "$line" rss_after_kb)" \
			    -v n="$n" 'BEGIN { if (a < 0 || b < 0) print "-";
				else printf "%d\n", (b - a) * 1024 / n }')")
		fi
	done < "$f"
	C_RPS=$(median "${rps[@]}")
	C_P50=$(median "${p50[@]}")
	C_P99=$(median "${p99[@]}")
	C_CPU=$(median "${cpu[@]}")
	C_SPCT=$(median "${spct[@]}")
	C_BPCT=$(median "${bpct[@]}")
	C_LOST=$(median "${lost[@]}")
	C_DROP=$(median "${drop[@]}")
	if [ -n "$n" ]; then
		C_RSS="$(median "${r0[@]}")→$(median "${r1[@]}") kB"
		C_RSS+=" ($(median "${rss[@]}") B/client)"
	fi
	return 0
}

row() {	# row SERVER SCEN
	if cell "$1" "$2"; then
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
		    "${SRV_LABEL[$1]}" "${SCEN_LABEL[$2]}" "$(fmt "$C_RPS" 0)" \
		    "$(fmt "$C_P50" 1)" "$(fmt "$C_P99" 1)" "$(fmt "$C_CPU" 2)" \
		    "$(fmt "$C_SPCT" 0)" "$(fmt "$C_BPCT" 0)" "$C_LOST" \
		    "$C_DROP" "$C_RSS"
	else
		printf '| %s | %s | - | - | - | - | - | - | - | - | %s |\n' \
		    "${SRV_LABEL[$1]}" "${SCEN_LABEL[$2]}" "no result"
	fi
}

# per_rep SERVER SCEN KEY: the KEY of each repetition, one line each ("-"
# for a failed run), in repetition order.
per_rep() {
	local f line v
	f=$(res "$1" "$2")
	[ -s "$f" ] || return 0
	while read -r line; do
		v=$(kv "$line" "$3")
		echo "${v:--}"
	done < "$f"
}

# rep_ratios A B SCEN KEY: A's KEY over B's, repetition by repetition.
rep_ratios() {
	paste -d ' ' <(per_rep "$1" "$3" "$4") <(per_rep "$2" "$3" "$4") |
	    awk '$1 ~ /^[0-9.]+$/ && $2 ~ /^[0-9.]+$/ && $2 > 0 {
		printf "%.4f\n", $1 / $2 }'
}

ratio_row() {	# ratio_row A B SCEN
	local ar ap50 ap99 name="${SRV_SHORT[$1]:-$1}/${SRV_SHORT[$2]:-$2}"
	local r c
	[ "$1" = coapd2 ] && name="coapd 2 workers/1 worker"
	if ! cell "$1" "$3" || ! cell "$2" "$3"; then
		printf '| %s | %s | n/a | n/a | n/a | n/a | n/a | n/a | 0 |\n' \
		    "$name" "${SCEN_LABEL[$3]}"
		return
	fi
	cell "$1" "$3"
	ar=$C_RPS ap50=$C_P50 ap99=$C_P99
	cell "$2" "$3"
	r=$(rep_ratios "$1" "$2" "$3" rps)
	c=$(rep_ratios "$1" "$2" "$3" srv_cpu_us)
	# shellcheck disable=SC2086
	printf '| **%s** | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
	    "$name" "${SCEN_LABEL[$3]}" "$(fmt "$(median $r)" 2)" \
	    "$(fmt "$(printf '%s\n' $r | sort -g | head -1)" 2)" \
	    "$(ratio "$ap50" "$C_P50")" "$(ratio "$ap99" "$C_P99")" \
	    "$(fmt "$(median $c)" 2)" \
	    "$(fmt "$(printf '%s\n' $c | sort -g | tail -1)" 2)" \
	    "$(printf '%s\n' $r | grep -c .)"
}

{
	echo "# coapd benchmark"
	echo
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr)," \
	    "$(nproc) CPUs ($cpu)."
	echo "Medians of $REPS runs of ${SECS} s after ${WARM} s warmup, one" \
	    "fresh server per run; $PINNOTE."
	echo "Command: \`BENCH_REPS=$REPS BENCH_SECONDS=$SECS" \
	    "BENCH_WARMUP=$WARM make bench\` ($((SECONDS / 60)) min)."
	echo "Closed loop unless a rate is given; CxN = C clients (own UDP" \
	    "socket each) x N requests in flight; a request unanswered after" \
	    "2 s is lost."
	echo
	echo "| server | scenario | req/s | p50 µs | p99 µs | server CPU µs/req" \
	    "| server CPU % | bench CPU % | lost | sock drops | RSS before→after |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for srv in "${SERVERS[@]}"; do
		[ "${SRV_OK[$srv]:-0}" = 1 ] || continue
		for scen in "${SCEN_IDS[@]}"; do
			row "$srv" "$scen"
		done
	done
	if [ "${SRV_OK[coapd1]:-0}" = 1 ]; then
		row coapd1 unpin
		row coapd2 unpin
	else
		echo "| coapd | all | - | - | - | - | - | - | - | - |" \
		    "${COAPD_NOTE:-skipped} |"
	fi
	echo
	echo "| ratio | scenario | req/s median | req/s min | p50 | p99" \
	    "| CPU/req median | CPU/req max | pairs |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
	for scen in "${SCEN_IDS[@]}"; do
		ratio_row coapd1 responder "$scen"
		ratio_row coapd1 libcoap "$scen"
		ratio_row libcoap responder "$scen"
	done
	[ "${SRV_OK[coapd1]:-0}" = 1 ] && ratio_row coapd2 coapd1 unpin
	echo
	echo "Ratios: req/s and CPU/req of the first server over the second," \
	    "repetition by repetition (run R of one against run R of the" \
	    "other, started one after the other): median and minimum (req/s)" \
	    "or maximum (CPU) over the pairs; p50 and p99 are ratios of the" \
	    "medians. CPU is utime+stime (/proc/PID/stat, getrusage) over the" \
	    "measured window; % is of one core.  Sock drops: datagrams the" \
	    "server's socket dropped for want of receive buffer (ss skmem d)," \
	    "over its whole life, warmup included.  Lost: requests of the" \
	    "window never answered.  RSS: VmRSS before the first request and" \
	    "after the last (growth per client in brackets).  A row is" \
	    "server-bound when server CPU % is near 100 and bench CPU % is" \
	    "not; with both near 100 the pair is the limit (so for the" \
	    "responder, which costs about what coapd-bench costs per" \
	    "datagram, its row is a lower bound of the kernel's limit)."
	echo
	echo "Receive buffers (ss skmem rb, bytes):" \
	    "responder $(cat "$tmp/rb.responder" 2>/dev/null || echo -)," \
	    "libcoap $(cat "$tmp/rb.libcoap" 2>/dev/null || echo -)," \
	    "coapd $(cat "$tmp/rb.coapd1" 2>/dev/null || echo -)."
	echo "libcoap runs with an LD_PRELOAD shim (tests/bench/shim) giving" \
	    "its socket the responder's 8 MiB receive buffer: with the" \
	    "kernel's default 208 KiB it drops part of 512 requests in flight" \
	    "and each drop parks a client slot for the 2 s timeout."
	echo "libcoap serves /hello as a dynamic resource (-d 10) created by" \
	    "one PUT of \"hello\": 5 bytes, like the others."
	[ -n "$COAPD_NOTE" ] && echo "Note: $COAPD_NOTE."
	if [ "$BUSY_RUNS" -gt 0 ]; then
		echo
		echo "**Warning:** $BUSY_RUNS of $TOTAL_RUNS runs started while" \
		    "other processes kept the CPUs busy; their numbers are noisy."
	fi
	if [ -n "$CC_MD" ]; then
		echo
		echo "## Cross-check with libcoap's own client"
		echo
		echo "$CC_LOOPS loops of \`coap-client-notls -m get\` for" \
		    "${CC_SECS} s, one process per request (so the client," \
		    "not the server, sets the rate)."
		echo
		echo "| server | answered | failed | req/s |"
		echo "|---|---:|---:|---:|"
		printf '%s' "$CC_MD"
	fi
	if [ -n "$SELF_MD" ]; then
		echo
		echo "## Self-check: is coapd-bench the bottleneck?"
		echo
		echo "$SELF_MD"
	fi
} > "$tmp/bench.md"

mkdir -p "$B"
cp "$tmp/bench.md" "$OUT"
echo
cat "$OUT"
echo
echo "bench: written to $OUT"
