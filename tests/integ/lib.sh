# lib.sh - helpers sourced by every tests/integ/NN-*.sh (bash).
#
# A test sources this file, writes its own config into "$T" (a fresh
# temporary directory, removed on exit), starts build/coapd on a free loopback
# port with start_coapd, drives it with real clients and ends with finish.
# Exit status: 0 pass, 1 fail, 77 skip (automake's convention).
#
# Assertions (assert_*) record a failure and go on, so one run reports every
# problem; fail and skip end the test at once.  The EXIT trap always stops a
# daemon the test started (by its PID) and removes "$T" (KEEP_TMP=1 keeps it).
#
# Network traffic goes to 127.0.0.0/8 and ::1 only.  Every wait is bounded.

set -u

INTEG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$INTEG_DIR/../.." && pwd)
COAPD=${COAPD:-$TOP/build/coapd}
COAP_CLIENT=${COAP_CLIENT:-coap-client-notls}
TEST_NAME=$(basename "$0" .sh)
export PYTHONPATH="$INTEG_DIR${PYTHONPATH:+:$PYTHONPATH}"

# The daemon must not talk to a systemd that may be running this suite.
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID JOURNAL_STREAM LISTEN_FDS \
    LISTEN_PID LISTEN_FDNAMES

COAPD_PID=""
COAPD_LOG=""
FAILURES=0
T=$(mktemp -d "${TMPDIR:-/tmp}/coapd-integ.$TEST_NAME.XXXXXX") || exit 1
export T
COAPD_LOG="$T/coapd.log"
COAP_ERR="$T/coap-client.err"
: >"$COAPD_LOG"

# alive PID: the process exists and is not a zombie.
alive() {
	local st
	[ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# _kill_wait PID SECONDS: wait (bounded) until PID is gone; 0 when it is.
_kill_wait() {
	local i n=$(($2 * 10))
	for ((i = 0; i < n; i++)); do
		alive "$1" || return 0
		sleep 0.1
	done
	! alive "$1"
}

# stop_pids PID...: end each process this test started (TERM, then KILL
# after 2 s) and reap it; empty arguments are skipped.
stop_pids() {
	local p
	for p in "$@"; do
		[ -n "$p" ] || continue
		kill -TERM "$p" 2>/dev/null
		_kill_wait "$p" 2 || kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}

_cleanup() {
	local rc=$? v
	for v in "${HELPER_VARS[@]}"; do
		stop_pids ${!v:-}
	done
	stop_pids "${HELPER_PIDS[@]}"
	if [ -n "$COAPD_PID" ]; then
		if alive "$COAPD_PID"; then
			kill -TERM "$COAPD_PID" 2>/dev/null
			_kill_wait "$COAPD_PID" 5 ||
				kill -KILL "$COAPD_PID" 2>/dev/null
		fi
		wait "$COAPD_PID" 2>/dev/null
		COAPD_PID=""
	fi
	if [ -n "${KEEP_TMP:-}" ]; then
		echo "# kept $T"
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
HELPER_PIDS=()	# helpers a test started, stopped by PID at exit
HELPER_VARS=()	# variables naming more of them (stop_at_exit)

# stop_at_exit VAR...: at exit, stop the processes whose PIDs the variables
# VAR hold by then (a helper started again keeps its variable; one emptied
# once its process was reaped stops nothing), before coapd.
stop_at_exit() {
	HELPER_VARS+=("$@")
}
trap _cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

log_tail() {
	if [ -s "$COAPD_LOG" ]; then
		echo "--- coapd log (last 30 lines) ---"
		tail -n 30 "$COAPD_LOG"
		echo "---"
	fi
}

# fail MESSAGE: end the test now.
fail() {
	echo "FAIL: $*"
	log_tail
	exit 1
}

# skip REASON: the test cannot run here.
skip() {
	echo "SKIP: $*"
	exit 77
}

# A non-fatal failure.
_nok() {
	FAILURES=$((FAILURES + 1))
	echo "not ok - $*"
}

_ok() {
	echo "ok - $*"
}

# assert_eq GOT WANT WHAT
assert_eq() {
	if [ "$1" == "$2" ]; then
		_ok "$3"
	else
		_nok "$3: got '$1', want '$2'"
	fi
}

# assert_contains HAYSTACK NEEDLE WHAT
assert_contains() {
	if [[ "$1" == *"$2"* ]]; then
		_ok "$3"
	else
		_nok "$3: '$2' not in '$(printf '%s' "$1" | head -c 600)'"
	fi
}

# assert_not_contains HAYSTACK NEEDLE WHAT
assert_not_contains() {
	if [[ "$1" != *"$2"* ]]; then
		_ok "$3"
	else
		_nok "$3: '$2' unexpectedly in '$(printf '%s' "$1" | head -c 600)'"
	fi
}

# assert_file_eq GOT_FILE WANT_FILE WHAT: byte-identical files.
assert_file_eq() {
	if cmp -s "$1" "$2"; then
		_ok "$3"
	else
		_nok "$3: $(wc -c <"$1") bytes '$(head -c 200 "$1" | tr -c '[:print:]' .)'," \
		    "want $(wc -c <"$2") bytes '$(head -c 200 "$2" | tr -c '[:print:]' .)'"
	fi
}

# assert_true WHAT COMMAND...: the command succeeds.
assert_true() {
	local what=$1
	shift
	if "$@"; then
		_ok "$what"
	else
		_nok "$what"
	fi
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c is not installed"
	done
}

need_cmd python3 "$COAP_CLIENT" timeout cmp
[ -x "$COAPD" ] || fail "$COAPD is missing: run make build/coapd"

# free_port: a UDP port free on both 127.0.0.1 and ::1.
# notify_listen NAME LOG [SECONDS]: an sd_notify listener on the abstract
# socket @NAME, writing "SECONDS-SINCE-START LINE" for each line it gets to
# LOG, for at most SECONDS (40); returns once it is bound (READY=1 sent
# before that would be lost), 1 if it never is.  Stopped at exit.
notify_listen() {
	local i
	: >"$2"
	timeout "${3:-40}" python3 - "$1" "$2" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1])
t0 = time.monotonic()
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        msg = s.recv(4096).decode(errors="replace")
        for line in msg.split("\n"):
            if line:
                f.write("%.3f %s\n" % (time.monotonic() - t0, line))
PY
	HELPER_PIDS+=($!)
	for ((i = 0; i < 100; i++)); do
		grep -q "@$1\$" /proc/net/unix 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

free_port() {
	python3 "$INTEG_DIR/coap.py" freeport
}

# The standard content served by most tests, under $T/www.
make_www() {
	mkdir -p "$T/www/sub"
	printf 'Hello, CoAP!\n' >"$T/www/hello.txt"
	printf '{"sensor":"t1","value":21.5}' >"$T/www/data.json"
	printf '\xa1\x65value\x18\x2a' >"$T/www/data.cbor"
	printf '<?xml version="1.0"?><r>1</r>' >"$T/www/page.xml"
	head -c 100 /dev/urandom >"$T/www/blob.bin"
	printf 'deep\n' >"$T/www/sub/deep.txt"
	# More than one 1024-byte block: served with Block2 (RFC 7959).
	python3 -c 'import sys; sys.stdout.write("".join("line %04d of the big file\n" % i for i in range(200)))' \
	    >"$T/www/big.txt"
}

# std_conf FILE [EXTRA_ROUTES [WORKERS]]: the standard configuration on
# $PORT, serving $T/www, with EXTRA_ROUTES (libconfig text) appended to the
# route list.
std_conf() {
	local extra=${2:-} workers=${3:-2}
	cat >"$1" <<EOF
# written by $TEST_NAME
listen = ( { address = "127.0.0.1"; port = $PORT; },
           { address = "::1"; port = $PORT; } );
workers = $workers;
routes = (
  { path = "/hello"; static = "$T/www/hello.txt"; max_age = 30;
    rt = "greeting"; title = "Hello"; },
  { path = "/files"; static = "$T/www"; rt = "files"; ct = 40; }$extra
);
log = { level = "info"; };
EOF
}

# start_coapd CONFIG [PORT]: run coapd in the background and wait (at most
# 5 s) until it answers on 127.0.0.1:PORT (default $PORT).
start_coapd() {
	local conf=$1 port=${2:-$PORT} r
	[ -z "$COAPD_PID" ] || fail "start_coapd: coapd already running"
	echo "=== $(date +%T.%N) coapd -c $conf" >>"$COAPD_LOG"
	"$COAPD" -c "$conf" >>"$COAPD_LOG" 2>&1 &
	COAPD_PID=$!
	python3 "$INTEG_DIR/coap.py" wait 127.0.0.1 "$port" "$COAPD_PID" 5
	r=$?
	case $r in
	0)	return 0 ;;
	2)	wait "$COAPD_PID"
		r=$?
		COAPD_PID=""
		fail "coapd exited with status $r at start-up" ;;
	*)	fail "coapd does not answer on 127.0.0.1:$port after 5 s" ;;
	esac
}

# stop_coapd [SIGNAL]: send SIGNAL (TERM), wait at most 5 s, assert exit 0.
stop_coapd() {
	local sig=${1:-TERM} pid=$COAPD_PID rc
	[ -n "$pid" ] || return 0
	kill "-$sig" "$pid" 2>/dev/null
	if ! _kill_wait "$pid" 5; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		COAPD_PID=""
		fail "coapd did not exit within 5 s of SIG$sig"
	fi
	wait "$pid"
	rc=$?
	COAPD_PID=""
	assert_eq "$rc" 0 "coapd exit status after SIG$sig"
}

# signal_coapd SIG TEXT: send coapd SIG and wait (5 s at most) until its
# log holds one more line with TEXT than before; fails when none came.
signal_coapd() {
	local n before
	before=$(grep -c -- "$2" "$COAPD_LOG")
	kill "-$1" "$COAPD_PID"
	for ((n = 0; n < 100; n++)); do
		[ "$(grep -c -- "$2" "$COAPD_LOG")" -gt "$before" ] && return 0
		sleep 0.05
	done
	return 1
}

# coap_get URI [coap-client args...]: GET with libcoap's client, payload on
# stdout byte for byte (-o -: without it libcoap 4.3.1 appends a newline),
# the client's stderr (where it reports "4.04 Not Found") in $COAP_ERR.
# Bounded by -B 3 and timeout 10.  Note: the client exits 0 on 4.xx and on
# timeouts too, so callers check the payload or $COAP_ERR.
coap_get() {
	local uri=$1
	shift
	timeout 10 "$COAP_CLIENT" -B 3 -m get -o - "$@" "$uri" 2>"$COAP_ERR"
}

# py_checks WHAT: run the Python program on stdin (it uses coap.Checker and
# exits non-zero when a check failed), bounded to 90 s.
py_checks() {
	if timeout 90 python3 -; then
		_ok "$1"
	else
		_nok "$1 (see the python checks above)"
	fi
}

# finish: stop coapd (asserting a clean exit) and exit with the verdict.
finish() {
	stop_coapd
	if [ "$FAILURES" -gt 0 ]; then
		echo "# $FAILURES check(s) failed"
		log_tail
		exit 1
	fi
	exit 0
}
