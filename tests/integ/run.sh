#!/bin/bash
# run.sh - run the integration tests: every tests/integ/NN-*.sh, each
# bounded to 120 s.  `run.sh 10 30` runs only the tests whose names start
# with those prefixes.  Prints PASS/FAIL/SKIP per test (and the tail of a
# failed test's output), then one summary line; exits 1 if any failed.
#
# INTEG_JOBS=N (default 1) runs up to N tests at once, except the ones in
# SERIAL below, which run afterwards one at a time.  A test is serial when
# it measures time, rates or memory (a neighbour would skew the figure),
# or loads the machine itself (it would skew its neighbours).  Tests never
# share a port (free_port picks a random free one), a directory ($T) or a
# process, so the others may run side by side.  With INTEG_JOBS > 1 lines
# come in the order tests finish.
SERIAL=(
	40-fuzz		# 20,000 datagrams as fast as it can
	51-blockwise	# 100 MiB in 1 KiB blocks: two busy processes
	53-observe	# a burst of writes and the notifications it yields
	54-rss		# peak RSS under 50 clients
	56-hook-limits	# a slow hook must not delay static GETs (latency)
	61-ratelimit	# token buckets against the clock
	61-sdnotify	# WATCHDOG=1 and STATUS= intervals
	62-shed		# table fill and recovery times
	63-clients-rss	# 100,000 requests in a burst, peak RSS
	64-dtls-limits	# identity buckets against the clock
	72-shed-ring	# a 1 s stall mid-backlog would end shedding early
	83-dtls-flood	# RSS flat, a client served within a second
	84-dtls-offpath	# 500 handshakes, then timing of the established one
	90-systemd	# boots systemd in namespaces
	91-readme	# builds a scratch copy of the tree
)

set -u

dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
limit=${INTEG_TIMEOUT:-120}
jobs=${INTEG_JOBS:-1}
out=$(mktemp -d "${TMPDIR:-/tmp}/coapd-integ-run.XXXXXX") || exit 1
chmod 0755 "$out"	# a test's coapd may run as another user
trap 'rm -rf "$out"' EXIT

pass=0
failed=0
skipped=0

selected() {
	local name=$1 p
	[ ${#ARGS[@]} -eq 0 ] && return 0
	for p in "${ARGS[@]}"; do
		[[ $name == "$p"* ]] && return 0
	done
	return 1
}

is_serial() {
	local s
	for s in "${SERIAL[@]}"; do
		[ "$s" = "$1" ] && return 0
	done
	return 1
}

# run_one NAME: the test, bounded; its status and seconds in $out/NAME.rc.
# Each test gets a RUNTIME_DIRECTORY of its own, so that the default
# control socket of its coapd ($RUNTIME_DIRECTORY/control, else
# /run/coapd/control) is never one a neighbour (or any other coapd on the
# machine) holds: coapd warns about a socket in use, which 62-accesslog
# counts as a stray line.
run_one() {
	local name=$1 start=$SECONDS rc
	mkdir -p "$out/$name.rt"
	RUNTIME_DIRECTORY=$out/$name.rt \
	    timeout -k 10 "$limit" bash "$dir/$name.sh" >"$out/$name.out" 2>&1
	rc=$?
	echo "$rc $((SECONDS - start))" >"$out/$name.rc"
}

report() {
	local name=$1 rc secs
	read -r rc secs <"$out/$name.rc"
	case $rc in
	0)
		echo "PASS $name (${secs}s)"
		pass=$((pass + 1))
		;;
	77)
		echo "SKIP $name: $(grep -m1 '^SKIP' "$out/$name.out")"
		skipped=$((skipped + 1))
		;;
	*)
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "FAIL $name (timed out after ${limit}s)"
		else
			echo "FAIL $name (exit $rc, ${secs}s)"
		fi
		# The failed checks first, then the end of the output.
		grep -E '^(not ok|FAIL)' "$out/$name.out" | head -n 40 |
		    sed 's/^/    /'
		echo "    --- last lines of $name output ---"
		tail -n 15 "$out/$name.out" | sed 's/^/    /'
		failed=$((failed + 1))
		;;
	esac
}

ARGS=("$@")
par=()
ser=()
for t in "$dir"/[0-9][0-9]-*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	selected "$name" || continue
	if [ "$jobs" -gt 1 ] && ! is_serial "$name"; then
		par+=("$name")
	else
		ser+=("$name")
	fi
done

# The side-by-side group: at most $jobs running, each reported when done.
declare -A running=()
for name in "${par[@]}"; do
	while [ ${#running[@]} -ge "$jobs" ]; do
		wait -n -p done_pid
		report "${running[$done_pid]}"
		unset "running[$done_pid]"
	done
	run_one "$name" &
	running[$!]=$name
done
while [ ${#running[@]} -gt 0 ]; do
	wait -n -p done_pid
	report "${running[$done_pid]}"
	unset "running[$done_pid]"
done

for name in "${ser[@]}"; do
	run_one "$name"
	report "$name"
done

echo "integ: $pass passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
