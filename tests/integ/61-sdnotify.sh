#!/bin/bash
# 61-sdnotify: the sd_notify protocol as systemd sees it, through a fake
# NOTIFY_SOCKET (an abstract datagram socket read by a small python3
# listener): READY=1 once the workers serve, STATUS= lines with workers,
# routes, requests/s and the load level refreshed every few seconds,
# WATCHDOG=1 pings under WATCHDOG_USEC, and on SIGTERM STOPPING=1 then a
# graceful stop: a hook in flight still answers, a new request is not
# taken, the exit status is 0.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
make_www
cat >"$T/slow.sh" <<'SH'
#!/bin/sh
sleep 2
echo "slow done"
SH
chmod 0755 "$T/slow.sh"
std_conf "$T/coapd.conf" ',
  { path = "/slow"; hook = [ "'"$T"'/slow.sh" ]; run_as_root = true;
    timeout_s = 10; }'
echo "shutdown_grace_s = 8;" >>"$T/coapd.conf"

SOCK="coapd-test-notify-$$"
NLOG="$T/notify.log"
notify_listen "$SOCK" "$NLOG" || fail "the notify listener is not bound"

export NOTIFY_SOCKET="@$SOCK" WATCHDOG_USEC=1000000
start_coapd "$T/coapd.conf"
unset NOTIFY_SOCKET WATCHDOG_USEC

# wait_notify TEXT N SECONDS: until TEXT is in N lines of the notify log.
wait_notify() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(grep -c -- "$1" "$NLOG")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

assert_true "READY=1 sent" wait_notify "READY=1" 1 5
coap_get "coap://127.0.0.1:$PORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "served once READY=1 was sent"
for ((i = 0; i < 20; i++)); do
	coap_get "coap://127.0.0.1:$PORT/hello" >/dev/null
done
# The first STATUS= comes with READY=1, the next ones every 5 s.
assert_true "STATUS= refreshed" wait_notify "STATUS=.*workers" 2 8
st=$(grep "STATUS=.*req/s" "$NLOG" | tail -n 1)
assert_contains "$st" "STATUS=2 workers, 3 routes, " "STATUS= names workers and routes"
assert_contains "$st" "load normal" "STATUS= names the load level"
assert_true "WATCHDOG=1 pinged (WATCHDOG_USEC=1 s)" wait_notify "WATCHDOG=1" 4 3
assert_not_contains "$(cat "$COAPD_LOG")" "made no progress" "no worker reported stuck"

# A stuck worker: stop one worker thread alone for 2.5 s (ptrace
# PTRACE_SEIZE + PTRACE_INTERRUPT stops that thread only, no signal) and the
# pings stop; once it runs again they come back.
TID=$(ls "/proc/$COAPD_PID/task" | grep -vx "$COAPD_PID" | head -n 1)
# n0: the pings so far, counted once the thread is stopped (python can
# take a while to start on a loaded machine, and pings go on meanwhile)
n0=$(timeout 10 python3 - "$TID" "$NLOG" <<'PY'
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
tid = int(sys.argv[1])
PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH = 0x4206, 0x4207, 17
if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
    sys.exit("ptrace seize: %s" % os.strerror(ctypes.get_errno()))
libc.ptrace(PTRACE_INTERRUPT, tid, None, None)
os.waitpid(tid, 0x40000000)  # __WALL
t0 = time.monotonic()
print(sum("WATCHDOG=1" in l for l in open(sys.argv[2])), flush=True)
time.sleep(2.5)
libc.ptrace(PTRACE_DETACH, tid, None, None)
PY
)
prc=$?
if [ $prc -ne 0 ]; then
	echo "# could not stop a worker thread alone (ptrace): stuck-worker check skipped"
else
	n1=$(grep -c "WATCHDOG=1" "$NLOG")
	assert_true "at most 1 ping while a worker was stuck 2.5 s ($((n1 - n0)))" \
	    test $((n1 - n0)) -le 1
	assert_true "the stuck worker is logged" grep -q "made no progress" "$COAPD_LOG"
	assert_true "pings resume once it runs again" wait_notify "WATCHDOG=1" $((n1 + 2)) 3
	assert_true "recovery is logged" grep -q "every worker makes progress again" "$COAPD_LOG"
fi

# --- graceful stop ------------------------------------------------------------
coap_get "coap://127.0.0.1:$PORT/slow" >"$T/slow.out" &
SLOW=$!
sleep 0.5
t0=$(date +%s.%N)
kill -TERM "$COAPD_PID"
assert_true "STOPPING=1 sent" wait_notify "STOPPING=1" 1 3
# Taken after SIGTERM: no answer (the client gives up after -B 2).
timeout 10 "$COAP_CLIENT" -B 2 -m get -o - "coap://127.0.0.1:$PORT/hello" \
    >"$T/late.out" 2>/dev/null
assert_eq "$(cat "$T/late.out")" "" "a request after SIGTERM is not answered"
wait "$SLOW"
assert_eq "$(cat "$T/slow.out")" "slow done" "the hook in flight at SIGTERM still answers"
_kill_wait "$COAPD_PID" 8 || _nok "coapd still running 8 s after SIGTERM"
wait "$COAPD_PID"
rc=$?
COAPD_PID=""
assert_eq "$rc" 0 "exit status after a graceful stop"
echo "# stopped $(python3 -c "import time; print('%.2f' % (time.time() - $t0))") s after SIGTERM"
assert_contains "$(cat "$COAPD_LOG")" "exchanges in flight finished" "drain logged"
finish
