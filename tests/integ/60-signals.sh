#!/bin/bash
# 60-signals: SIGTERM and SIGINT stop coapd with status 0; SIGHUP reloads the
# configuration in the same process; a broken configuration on SIGHUP keeps
# the running one and says so in the log.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
make_www
printf 'brand new\n' >"$T/www/new.txt"
std_conf "$T/coapd.conf"

# stop_timed SIGNAL: stop coapd, assert status 0 within 2 s.
stop_timed() {
	local t0=$SECONDS
	stop_coapd "$1"
	assert_true "SIG$1 stops coapd within 2 s" test $((SECONDS - t0)) -le 2
}

# wait_log TEXT N: wait (<= 5 s) until TEXT appears at least N times in the
# log.
wait_log() {
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(grep -c -- "$1" "$COAPD_LOG")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# --- SIGTERM, SIGINT ----------------------------------------------------------
start_coapd "$T/coapd.conf"
coap_get "coap://127.0.0.1:$PORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "served before SIGTERM"
stop_timed TERM

start_coapd "$T/coapd.conf"
stop_timed INT

# A stop while requests are in flight.
start_coapd "$T/coapd.conf"
for ((i = 0; i < 5; i++)); do
	coap_get "coap://127.0.0.1:$PORT/files/big.txt" >/dev/null &
done
sleep 0.2
stop_timed TERM
wait

# --- SIGHUP with a new route ---------------------------------------------------
start_coapd "$T/coapd.conf"
pid=$COAPD_PID
coap_get "coap://127.0.0.1:$PORT/new" >"$T/got"
assert_contains "$(cat "$COAP_ERR")" "4.04" "/new is 4.04 before the reload"

std_conf "$T/coapd.conf" ',
  { path = "/new"; static = "'"$T"'/www/new.txt"; rt = "fresh"; }'
n_ok=$(grep -c "reloaded" "$COAPD_LOG")
kill -HUP "$pid"
wait_log "reloaded" $((n_ok + 1)) || _nok "no 'reloaded' in the log within 5 s"
got=""
for ((i = 0; i < 20; i++)); do
	got=$(coap_get "coap://127.0.0.1:$PORT/new")
	[ "$got" == "brand new" ] && break
	sleep 0.1
done
assert_eq "$got" "brand new" "/new is served after SIGHUP"
assert_true "same process after SIGHUP" alive "$pid"
assert_eq "$COAPD_PID" "$pid" "coapd PID unchanged"
coap_get "coap://127.0.0.1:$PORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "/hello still served after SIGHUP"
out=$(coap_get "coap://127.0.0.1:$PORT/.well-known/core")
assert_contains "$out" 'rt="fresh"' "/.well-known/core lists the new route"
out=$(coap_get "coap://[::1]:$PORT/new")
assert_eq "$out" "brand new" "/new served over [::1] too (every worker)"

# Every worker sees the new routes: ask from several source hosts.
py_checks "every worker serves the reloaded routes" <<'EOF'
import os
import coap
from coap import Client, Checker
ck = Checker("60-signals")
port = int(os.environ["PORT"])
for i in range(2, 18):
    with Client(port, src="127.0.0.%d" % i) as c:
        m = c.get("/new")
        ck.ok(m is not None and m.code == coap.CONTENT and
              m.payload == b"brand new\n",
              "/new from 127.0.0.%d" % i, repr(m))
ck.done()
EOF

# --- SIGHUP with a broken configuration ---------------------------------------
cp "$T/coapd.conf" "$T/good.conf"
printf 'this is { not libconfig\n' >>"$T/coapd.conf"
n_fail=$(grep -c "reload failed" "$COAPD_LOG")
kill -HUP "$pid"
wait_log "reload failed" $((n_fail + 1)) ||
    _nok "no 'reload failed' in the log within 5 s"
assert_true "alive after a broken reload" alive "$pid"
coap_get "coap://127.0.0.1:$PORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "/hello served after a broken reload"
out=$(coap_get "coap://127.0.0.1:$PORT/new")
assert_eq "$out" "brand new" "/new (old config) served after a broken reload"
assert_true "the log names the file and line of the error" \
    grep -Eq 'coapd\.conf:[0-9]+: ' "$COAPD_LOG"

# A missing file is a failed reload, not a crash.
mv "$T/coapd.conf" "$T/moved.conf"
n_fail=$(grep -c "reload failed" "$COAPD_LOG")
kill -HUP "$pid"
wait_log "reload failed" $((n_fail + 1)) ||
    _nok "missing file: no 'reload failed' in the log within 5 s"
assert_true "alive after a reload of a missing file" alive "$pid"
out=$(coap_get "coap://127.0.0.1:$PORT/new")
assert_eq "$out" "brand new" "old config served after a missing-file reload"

# An unknown key is a failed reload too (not half applied).
std_conf "$T/coapd.conf" ',
  { path = "/half"; static = "'"$T"'/www/new.txt"; }'
echo 'no_such_key = 1;' >>"$T/coapd.conf"
n_fail=$(grep -c "reload failed" "$COAPD_LOG")
kill -HUP "$pid"
wait_log "reload failed" $((n_fail + 1)) ||
    _nok "unknown key: no 'reload failed' in the log within 5 s"
coap_get "coap://127.0.0.1:$PORT/half" >/dev/null
assert_contains "$(cat "$COAP_ERR")" "4.04" "a failed reload applies nothing"

# --- SIGHUP that removes a route -----------------------------------------------
std_conf "$T/coapd.conf"
n_ok=$(grep -c "reloaded" "$COAPD_LOG")
kill -HUP "$pid"
wait_log "reloaded" $((n_ok + 1)) || _nok "no 'reloaded' after the fix"
coap_get "coap://127.0.0.1:$PORT/new" >/dev/null
assert_contains "$(cat "$COAP_ERR")" "4.04" "a removed route is 4.04"

# --- reloads under load ---------------------------------------------------------
# Workers keep using a snapshot while the main thread swaps it: /hello must
# be answered 2.05 throughout, whatever the reload does to other routes.
cp "$T/coapd.conf" "$T/a.conf"
std_conf "$T/b.conf" ',
  { path = "/new"; static = "'"$T"'/www/new.txt"; }'
python3 - >"$T/load.out" 2>&1 <<'EOF' &
import os, threading, time
import coap
from coap import Client
port = int(os.environ["PORT"])
want = open(os.path.join(os.environ["T"], "www", "hello.txt"), "rb").read()
bad, total = [], [0]
lock = threading.Lock()
def run(k):
    end = time.monotonic() + 3.0
    with Client(port, src="127.0.2.%d" % (k + 1)) as c:
        while time.monotonic() < end:
            m = c.get("/hello", timeout=2.0, tries=2)
            with lock:
                total[0] += 1
                if m is None or m.code != coap.CONTENT or m.payload != want:
                    bad.append(repr(m))
ts = [threading.Thread(target=run, args=(k,)) for k in range(6)]
for t in ts: t.start()
for t in ts: t.join(30)
print("requests %d bad %d %s" % (total[0], len(bad), bad[:3]))
EOF
load=$!
for ((i = 0; i < 40; i++)); do
	if ((i % 2)); then cp "$T/a.conf" "$T/coapd.conf"; else cp "$T/b.conf" "$T/coapd.conf"; fi
	kill -HUP "$pid"
	sleep 0.05
done
wait "$load"
out=$(cat "$T/load.out")
assert_contains "$out" " bad 0 " "every request during 40 reloads was 2.05 ($out)"
assert_true "alive after 40 reloads under load" alive "$pid"
cp "$T/a.conf" "$T/coapd.conf"

# --- a burst of SIGHUPs --------------------------------------------------------
for ((i = 0; i < 10; i++)); do
	kill -HUP "$pid"
done
sleep 0.5
assert_true "alive after 10 SIGHUPs" alive "$pid"
coap_get "coap://127.0.0.1:$PORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "served after 10 SIGHUPs"
stop_timed TERM

finish
