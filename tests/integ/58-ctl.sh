#!/bin/bash
# 58-ctl: the control socket and coapd-ctl(8).  Counts after a known set of
# requests from libcoap's client (stats, --json, the Prometheus file through
# a strict parser), status, a good reload adding a route, a broken reload
# (exit 1, FILE:LINE errors, old routes answer), notify on an observed hook
# route (one run per trigger for two observers, nothing sent when the output
# is unchanged), socket mode 0600, a stuck client, the default path under
# $RUNTIME_DIRECTORY, a stale socket replaced, a non-socket refused.
. "$(dirname "$0")/lib.sh"

CTL=${COAPD_CTL:-$TOP/build/coapd-ctl}
[ -x "$CTL" ] || fail "$CTL is missing: run make build/coapd-ctl"
PORT=$(free_port)
export PORT
make_www
printf 'brand new\n' >"$T/www/new.txt"
mkdir -p "$T/prom"
printf 'v1\n' >"$T/val"
cat >"$T/val.sh" <<EOF
#!/bin/sh
echo run >>"$T/runs"
cat "$T/val"
EOF
chmod +x "$T/val.sh"
SOCK="$T/ctl.sock"
printf 't1\n' >"$T/tick"
printf '#!/bin/sh\ncat "%s"\n' "$T/tick" >"$T/tick.sh"
chmod +x "$T/tick.sh"
HOOK_ROUTE=',
  { path = "/val"; hook = [ "'"$T"'/val.sh" ]; observe = true;
    run_as_root = true; },
  { path = "/tick"; hook = [ "'"$T"'/tick.sh" ]; observe = true;
    interval_s = 1; run_as_root = true; }'

# conf EXTRA: the standard config with the control socket, the metrics
# file, the hook route and EXTRA routes.
conf() {
	std_conf "$T/coapd.conf" "$HOOK_ROUTE${1:-}"
	cat >>"$T/coapd.conf" <<EOF
control_socket = "$SOCK";
metrics = { file = "$T/prom/coapd.prom"; interval_s = 1; };
EOF
}
conf
start_coapd "$T/coapd.conf"

assert_eq "$(stat -c %a "$SOCK")" 600 "control socket mode 0600"
assert_eq "$(stat -c %F "$SOCK")" socket "control socket is a socket"

# --- a known set of requests ------------------------------------------------
# start_coapd's probes (GET /.well-known/core) are the baseline
base=$("$CTL" -s "$SOCK" stats)
b() { awk -v k="$1" '$1 == k { print $2 }' <<<"$base"; }
# (a probe may have been answered by an Echo challenge, a 4.01: 85-echo)
B_REQ=$(b requests) B_GET=$(b method_requests_get) B_2XX=$(b resp_class_2)
B_4XX=$(b resp_class_4)
for i in 1 2 3; do coap_get "coap://127.0.0.1:$PORT/hello" >/dev/null; done
timeout 10 $COAP_CLIENT -B 3 -m put -e x "coap://127.0.0.1:$PORT/hello" \
    >/dev/null 2>&1
coap_get "coap://127.0.0.1:$PORT/nope" >/dev/null
coap_get "coap://127.0.0.1:$PORT/nope" >/dev/null
got=$(coap_get "coap://127.0.0.1:$PORT/val")
assert_eq "$got" v1 "hook route answers"
# 7 requests: 6 GET, 1 PUT; 4 x 2.05, 1 x 4.05, 2 x 4.04
out=$("$CTL" -s "$SOCK" stats)
assert_eq "$?" 0 "stats exits 0"
field() { awk -v k="$1" '$1 == k { print $2 }' <<<"$out"; }
assert_eq "$(field requests)" $((B_REQ + 7)) "stats: requests"
assert_eq "$(field method_requests_get)" $((B_GET + 6)) "stats: GET requests"
assert_eq "$(field method_requests_put)" 1 "stats: PUT requests"
assert_eq "$(field resp_class_2)" $((B_2XX + 4)) "stats: 2.xx answers"
assert_eq "$(field resp_class_4)" $((B_4XX + 3)) "stats: 4.xx answers"
assert_eq "$(field xch_started)" 1 "stats: one pending exchange (the hook)"
assert_eq "$(awk '$1 == "/hello" { print $2 }' <<<"$out")" 4 \
    "stats: /hello routed 4 requests"
assert_eq "$(awk '$1 == "/val" { print $2 }' <<<"$out")" 1 \
    "stats: /val routed 1 request"

"$CTL" -s "$SOCK" stats --json >"$T/stats.json"
assert_eq "$?" 0 "stats --json exits 0"
assert_true "stats --json is JSON (python3 -m json.tool)" \
    python3 -m json.tool "$T/stats.json" /dev/null
py_checks "stats --json numbers" <<EOF
import json
j = json.load(open("$T/stats.json"))
ok = True
def eq(got, want, what):
    global ok
    if got != want:
        print("not ok - %s: got %r, want %r" % (what, got, want)); ok = False
eq(j["workers"], 2, "workers")
eq(j["metrics"]["requests"], $B_REQ + 7, "requests")
eq(j["metrics"]["method_requests"]["get"], $B_GET + 6, "GET")
eq(j["metrics"]["resp_class"]["4"], $B_4XX + 3, "4.xx")
eq(j["routes"]["/hello"]["requests"], 4, "/hello requests")
eq(j["routes"]["/hello"]["latency_le_us"]["+Inf"], 4, "/hello answers")
eq(j["routes"]["/val"]["answers"], 1, "/val answers")
eq(sorted(j["routes"]), ["/files", "/hello", "/tick", "/val"], "routes")
raise SystemExit(0 if ok else 1)
EOF

# The file is rewritten every second: wait (<= 4 s) for these numbers.
PROM="$T/prom/coapd.prom"
for ((i = 0; i < 40; i++)); do
	grep -qx "coapd_requests_total $((B_REQ + 7))" "$PROM" 2>/dev/null &&
	    break
	sleep 0.1
done
assert_true "metrics.file is valid Prometheus text with the counts" \
    python3 "$INTEG_DIR/promcheck.py" "$PROM" \
    "coapd_requests_total=$((B_REQ + 7))" \
    'coapd_method_requests_total{method="put"}=1' \
    "coapd_resp_class_total{class=\"4\"}=$((B_4XX + 3))" \
    'coapd_route_requests_total{route="/hello"}=4' \
    'coapd_route_latency_seconds_count{route="/hello"}=4' \
    'coapd_route_latency_seconds_bucket{route="/val",le="+Inf"}=1' \
    'coapd_workers=2'
assert_eq "$(ls "$T/prom")" coapd.prom "no temporary file left beside it"
"$CTL" -s "$SOCK" stats --prometheus >"$T/stats.prom"
assert_true "stats --prometheus is valid too" \
    python3 "$INTEG_DIR/promcheck.py" "$T/stats.prom"

out=$("$CTL" -s "$SOCK" status)
assert_eq "$?" 0 "status exits 0"
assert_contains "$out" "version " "status: version"
assert_contains "$out" "pid $COAPD_PID" "status: pid"
assert_contains "$out" "workers 2" "status: workers"
assert_contains "$out" "routes 4" "status: routes"
assert_contains "$out" "config $T/coapd.conf" "status: config path"
assert_contains "$out" "uptime_s " "status: uptime"
assert_contains "$out" "last_reload never" "status: no reload yet"

# --- a stuck client holds nothing up ------------------------------------------
python3 - "$SOCK" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.send(b"sta")		# never finishes its line
time.sleep(4)
EOF
stuck=$!
sleep 0.3
out=$(timeout 3 "$CTL" -s "$SOCK" status)
assert_eq "$?" 0 "status answers while another client is stuck"
got=$(coap_get "coap://127.0.0.1:$PORT/hello")
assert_eq "$got" "Hello, CoAP!" "requests served while a client is stuck"
out=$(python3 - "$SOCK" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"x" * 3000)
print(s.recv(200).decode())
EOF
)
assert_contains "$out" "error" "an over-long request line is refused"
out=$(printf 'frobnicate\n' | python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"frobnicate\n"); print(s.recv(500).decode())' "$SOCK")
assert_contains "$out" "error" "an unknown command is refused"
wait "$stuck"

# --- reload: good, then broken ----------------------------------------------
conf ',
  { path = "/new"; static = "'"$T"'/www/new.txt"; }'
out=$("$CTL" -s "$SOCK" reload 2>&1)
assert_eq "$?" 0 "good reload exits 0"
assert_contains "$out" "reloaded, 5 routes" "good reload says so"
got=$(coap_get "coap://127.0.0.1:$PORT/new")
assert_eq "$got" "brand new" "the added route answers after the reload"
out=$("$CTL" -s "$SOCK" status)
assert_contains "$out" "last_reload ok " "status: the reload went well"
assert_contains "$out" "routes 5" "status: 5 routes"
n=$("$CTL" -s "$SOCK" stats | awk '$1 == "requests" { print $2 }')
assert_eq "$n" $((B_REQ + 9)) "counters survive the reload"

cp "$T/coapd.conf" "$T/good.conf"
cat >>"$T/coapd.conf" <<'EOF'
max_separate = "many";
bogus_key = 1;
EOF
l1=$(grep -n '^max_separate' "$T/coapd.conf" | cut -d: -f1)
l2=$(grep -n '^bogus_key' "$T/coapd.conf" | cut -d: -f1)
"$CTL" -s "$SOCK" reload >"$T/rl.out" 2>"$T/rl.err"
assert_eq "$?" 1 "broken reload exits 1"
err=$(cat "$T/rl.err")
assert_contains "$err" "$T/coapd.conf:$l1: max_separate: expected an integer" \
    "broken reload prints the first error with file:line"
assert_contains "$err" "$T/coapd.conf:$l2: bogus_key: unknown key" \
    "broken reload prints the second error with file:line"
assert_contains "$err" "rejected, the running configuration stays" \
    "broken reload says the old configuration stays"
assert_eq "$(cat "$T/rl.out")" "" "nothing on stdout when rejected"
got=$(coap_get "coap://127.0.0.1:$PORT/new")
assert_eq "$got" "brand new" "old routes answer after the broken reload"
out=$("$CTL" -s "$SOCK" status)
assert_contains "$out" "last_reload failed " "status: the reload failed"
assert_contains "$("$CTL" -s "$SOCK" stats --prometheus)" \
    'coapd_reloads_total{result="failed"} 1' "failed reloads counted"
cp "$T/good.conf" "$T/coapd.conf"
kill -USR1 "$COAPD_PID"
for ((i = 0; i < 30; i++)); do
	grep -q 'stats, rx ' "$COAPD_LOG" && break
	sleep 0.1
done
assert_contains "$(grep 'stats, ' "$COAPD_LOG")" "method_requests_get" \
    "SIGUSR1 still reports the counters, new ones included"

# --- notify on an observed hook route ------------------------------------------
: >"$T/runs"
timeout 10 $COAP_CLIENT -s 5 -B 6 -o "$T/obs1" "coap://127.0.0.1:$PORT/val" \
    2>/dev/null &
o1=$!
timeout 10 $COAP_CLIENT -s 5 -B 6 -o "$T/obs2" "coap://127.0.0.1:$PORT/val" \
    2>/dev/null &
o2=$!
# both registered (their GETs answered)
for ((i = 0; i < 40; i++)); do
	[ "$(wc -l <"$T/runs")" -ge 2 ] && [ -s "$T/obs1" ] && [ -s "$T/obs2" ] &&
	    break
	sleep 0.1
done
n=$("$CTL" -s "$SOCK" stats | awk '$1 == "observers" { print $2 }')
for ((i = 0; i < 10 && n != 2; i++)); do
	sleep 0.1
	n=$("$CTL" -s "$SOCK" stats | awk '$1 == "observers" { print $2 }')
done
assert_eq "$n" 2 "two observers of /val"
printf 'v2\n' >"$T/val"
out=$("$CTL" -s "$SOCK" notify /val)
assert_eq "$?" 0 "notify exits 0"
assert_contains "$out" "/val: observers notified" "notify says so"
sleep 0.5
"$CTL" -s "$SOCK" notify /val >/dev/null	# same output: nothing sent
sleep 0.5
printf 'v3\n' >"$T/val"
"$CTL" -s "$SOCK" notify /val/ >/dev/null
sleep 0.5
# before the clients end their observations (libcoap's deregistering GET
# runs the hook once more each)
assert_eq "$(wc -l <"$T/runs")" 5 \
    "5 runs: 2 registrations and one per notify, not one per observer"
wait "$o1" "$o2"
assert_eq "$(tr '\n' ' ' <"$T/obs1")" "v1 v2 v3 " \
    "observer 1 got the first answer and two notifications, no repeat"
assert_eq "$(tr '\n' ' ' <"$T/obs2")" "v1 v2 v3 " \
    "observer 2 got the same"

# interval_s = 1: a fresh run every second, without notify
timeout 10 $COAP_CLIENT -s 3 -B 4 -o "$T/tick.out" \
    "coap://127.0.0.1:$PORT/tick" 2>/dev/null &
ot=$!
sleep 0.5
printf 't2\n' >"$T/tick"
wait "$ot"
assert_eq "$(tr '\n' ' ' <"$T/tick.out")" "t1 t2 " \
    "interval_s = 1 notifies a changed hook output, once"

out=$("$CTL" -s "$SOCK" notify /nope 2>&1)
assert_eq "$?" 1 "notify of a path without a route exits 1"
assert_contains "$out" "/nope: no route" "and says why"
out=$("$CTL" -s "$SOCK" notify /files/hello.txt 2>&1)
assert_eq "$?" 1 "notify of a route without observe exits 1"
assert_contains "$out" "not observable" "and says why"
"$CTL" -s "$SOCK" bogus >/dev/null 2>&1
assert_eq "$?" 2 "an unknown command is a usage error (2)"

stop_coapd
assert_true "the socket is removed at exit" test ! -e "$SOCK"
"$CTL" -s "$SOCK" status >/dev/null 2>"$T/err"
assert_eq "$?" 2 "no coapd: exit 2"
assert_contains "$(cat "$T/err")" "$SOCK" "no coapd: the socket is named"

# --- a stale socket is replaced, another file is not ---------------------------
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK"
assert_eq "$(stat -c %F "$SOCK")" socket "a stale socket is left behind"
start_coapd "$T/coapd.conf"
out=$("$CTL" -s "$SOCK" status)
assert_eq "$?" 0 "a stale socket is replaced"
stop_coapd
printf 'not a socket\n' >"$SOCK"
timeout 10 "$COAPD" -c "$T/coapd.conf" >"$T/err" 2>&1
assert_eq "$?" 1 "coapd refuses a control_socket that is another file"
assert_contains "$(cat "$T/err")" "exists and is not a socket" "and says why"
assert_eq "$(cat "$SOCK")" "not a socket" "the file is left alone"
rm -f "$SOCK"

# --- the default path: $RUNTIME_DIRECTORY/control; sd_notify around reload ------
grep -v '^control_socket' "$T/coapd.conf" >"$T/default.conf"
mkdir -p "$T/rt"
export RUNTIME_DIRECTORY="$T/rt"
NOTIFY_NAME="coapd-58-ctl-$$"
python3 - "$NOTIFY_NAME" "$T/notify.log" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1])
open(sys.argv[2] + ".bound", "w").close()
s.settimeout(0.2)
end = time.monotonic() + 8
with open(sys.argv[2], "w") as f:
    while time.monotonic() < end:
        try:
            m = s.recv(4096).decode()
        except socket.timeout:
            continue
        f.write(m.replace("\n", " ") + "\n")
        f.flush()
EOF
listener=$!
# coapd's READY=1 is lost unless the listener is bound: wait for it (a
# fixed sleep was too short under load).
for ((i = 0; i < 100; i++)); do
	[ -e "$T/notify.log.bound" ] && break
	sleep 0.05
done
export NOTIFY_SOCKET="@$NOTIFY_NAME"
start_coapd "$T/default.conf"
unset NOTIFY_SOCKET
assert_eq "$(stat -c %a "$T/rt/control")" 600 "default socket in \$RUNTIME_DIRECTORY"
out=$("$CTL" status)
assert_eq "$?" 0 "coapd-ctl finds it there without -s"
assert_contains "$out" "config $T/default.conf" "and it is this coapd"
"$CTL" reload >/dev/null
printf 'broken\n' >>"$T/default.conf"
"$CTL" reload >/dev/null 2>&1
assert_eq "$?" 1 "a broken reload under sd_notify exits 1"
# READY=1, then RELOADING=1 and READY=1 twice: wait (bounded) for all five
for ((i = 0; i < 100; i++)); do
	[ "$(wc -l <"$T/notify.log")" -ge 5 ] && break
	sleep 0.05
done
kill "$listener" 2>/dev/null
wait "$listener" 2>/dev/null
unset RUNTIME_DIRECTORY
py_checks "sd_notify: READY, then RELOADING=1 with MONOTONIC_USEC and READY=1 per reload" <<EOF
import re, time
lines = open("$T/notify.log").read().splitlines()
ok = True
def check(cond, what):
    global ok
    print(("ok - " if cond else "not ok - ") + what)
    ok = ok and cond
check(len(lines) >= 5 and lines[0].startswith("READY=1"), "READY=1 first: %r" % lines[:1])
rel = [i for i, l in enumerate(lines) if l.startswith("RELOADING=1")]
check(len(rel) == 2, "two RELOADING=1: %r" % lines)
now = time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6
for i in rel:
    m = re.search(r"MONOTONIC_USEC=(\d+)", lines[i])
    check(m is not None and 0 < now - int(m.group(1)) < 60e6,
          "MONOTONIC_USEC is CLOCK_MONOTONIC now: %r" % lines[i])
    check(i + 1 < len(lines) and lines[i + 1].startswith("READY=1"),
          "READY=1 after it: %r" % lines[i + 1:i + 2])
check(any("reload failed" in l for l in lines), "the failure in STATUS=")
raise SystemExit(0 if ok else 1)
EOF
finish
