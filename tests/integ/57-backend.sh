#!/bin/bash
# 57-backend: backend routes (coapd.conf(5), BACKEND PROTOCOL) in front of
# tests/backend/echo-backend.py on a Unix socket and on UDP, of libcoap's
# coap-server directly (coap://) and through tests/backend/udp-bridge.py:
# GET and PUT, the client's address (65000) and PSK identity (65002, over
# DTLS) seen by the backend, strip_prefix, 50 KiB with Block2 and with
# Block1, Observe not forwarded without observe = true on the route (59-
# backend-observe has the relaying), 5.04 after timeout_s
# while a static route goes on
# answering, 5.02 with the backend stopped and success once it is back,
# 1000 requests at once to a slow backend with max_pending = 100: the
# requests within max_pending wait for room in the backend's full socket
# queue and succeed, the rest get 5.03, and no file descriptor or pending
# exchange is left behind.
. "$(dirname "$0")/lib.sh"

need_cmd sha256sum coap-server-notls
BK=$TOP/tests/backend
PORT=$(free_port)
DPORT=$PORT UPORT=$PORT LPORT=$PORT
while [ "$DPORT" = "$PORT" ]; do DPORT=$(free_port); done
while [ "$UPORT" = "$PORT" ] || [ "$UPORT" = "$DPORT" ]; do
	UPORT=$(free_port)
done
while [ "$LPORT" = "$PORT" ] || [ "$LPORT" = "$DPORT" ] ||
    [ "$LPORT" = "$UPORT" ]; do
	LPORT=$(free_port)
done
export PORT DPORT UPORT LPORT
KEY_SENSOR=sensor1-secret-key

# --- helpers started by this test (stopped by PID on exit) ----------------
ECHO_PID="" UECHO_PID="" LC_PID="" BR_PID=""
stop_at_exit ECHO_PID UECHO_PID LC_PID BR_PID

# wait_sock PATH PID: until PATH (a socket PID binds, or a file it writes
# once bound) exists, at most 5 s.
wait_sock() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ -e "$1" ] && return 0
		alive "$2" || return 1
		sleep 0.05
	done
	return 1
}

start_echo() {
	rm -f "$T/state.json"	# written once the socket is bound
	python3 "$BK/echo-backend.py" -v --state "$T/state.json" \
	    --obs-interval 0.5 "$T/app.sock" 2>>"$T/echo.log" &
	ECHO_PID=$!
	wait_sock "$T/state.json" "$ECHO_PID" || fail "echo-backend does not start"
}

# stop_echo [SIGNAL]
stop_echo() {
	kill "-${1:-TERM}" "$ECHO_PID" 2>/dev/null
	_kill_wait "$ECHO_PID" 5 || fail "echo-backend does not stop"
	wait "$ECHO_PID" 2>/dev/null
	ECHO_PID=""
}

start_uecho() {
	python3 "$BK/echo-backend.py" --udp "127.0.0.1:$UPORT" \
	    2>>"$T/uecho.log" &
	UECHO_PID=$!
	python3 "$INTEG_DIR/coap.py" wait 127.0.0.1 "$UPORT" "$UECHO_PID" 5 ||
	    fail "echo-backend --udp does not answer"
}

printf 'Hello, CoAP!\n' >"$T/hello.txt"
{
	echo "# written by $TEST_NAME"
	echo "sensor-1:$(printf %s "$KEY_SENSOR" | od -An -tx1 | tr -d ' \n')"
} >"$T/psk"
chmod 0600 "$T/psk"
cat >"$T/coapd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; },
           { address = "::1"; port = $PORT; },
           { address = "127.0.0.1"; port = $DPORT; dtls = true; } );
workers = 2;
dtls = { psk_file = "$T/psk"; handshake_timeout_s = 1; };
routes = (
  { path = "/hello"; static = "$T/hello.txt"; },
  { path = "/app"; backend = "$T/app.sock"; timeout_s = 2;
    strip_prefix = true; max_pending = 100; },
  { path = "/keep"; backend = "$T/app.sock"; timeout_s = 2; },
  { path = "/small"; backend = "$T/app.sock"; strip_prefix = true;
    max_body_bytes = 64; methods = [ "GET", "PUT" ]; },
  { path = "/udp"; backend = "coap://127.0.0.1:$UPORT"; timeout_s = 2;
    strip_prefix = true; },
  { path = "/lc"; backend = "coap://127.0.0.1:$LPORT"; timeout_s = 2;
    strip_prefix = true; },
  { path = "/lcu"; backend = "$T/bridge.sock"; timeout_s = 2;
    strip_prefix = true; }
);
log = { level = "info"; };
metrics = { file = "$T/coapd.prom"; interval_s = 1; };
CONF

start_echo
start_uecho
coap-server-notls -A 127.0.0.1 -p "$LPORT" >"$T/lc.log" 2>&1 &
LC_PID=$!
python3 "$BK/udp-bridge.py" -v "$T/bridge.sock" "127.0.0.1:$LPORT" \
    2>"$T/bridge.log" &
BR_PID=$!
wait_sock "$T/bridge.sock" "$BR_PID" || fail "udp-bridge does not start"
python3 "$INTEG_DIR/coap.py" wait 127.0.0.1 "$LPORT" "$LC_PID" 5 ||
    fail "coap-server-notls does not answer on $LPORT"
start_coapd "$T/coapd.conf"
export COAPD_PID
A=coap://127.0.0.1:$PORT

# --- GET and PUT through the echo backend -----------------------------------
out=$(coap_get "$A/app/echo/a/b?x=1&y")
assert_contains "$out" "GET /echo/a/b?x=1&y from 127.0.0.1:" \
    "GET /app/echo/a/b?x=1&y: the backend sees /echo/a/b and the query"
assert_contains "$out" "identity -" "no identity over plain CoAP"
out=$(coap_get "$A/keep/x")
assert_contains "$out" "GET /keep/x from" "without strip_prefix: /keep/x"
out=$(timeout 10 "$COAP_CLIENT" -B 3 -m put -e 'put body 1' -o - \
    "$A/app/echo" 2>"$COAP_ERR")
assert_eq "$out" "put body 1" "PUT: the body echoed"
out=$(timeout 10 "$COAP_CLIENT" -B 3 -m post -e 'post body' -v 7 \
    "$A/app/echo" 2>&1)
assert_contains "$out" "c:2.04" "POST: 2.04 from the backend"
out=$(timeout 10 "$COAP_CLIENT" -B 3 -m delete -v 7 "$A/app/thing" 2>&1)
assert_contains "$out" "c:2.02" "DELETE: 2.02 from the backend"
out=$(coap_get "$A/udp/echo/u")
assert_contains "$out" "GET /echo/u from 127.0.0.1:" "GET through a coap:// backend"

py_checks "max_body_bytes on a backend route" <<'PY'
import os
import coap
from coap import Client, Checker

ck = Checker("57-backend max_body_bytes")
with Client(int(os.environ["PORT"])) as c:
    m = c.request(coap.PUT, "/small/echo", payload=b"x" * 10)
    ck.ok(m is not None and m.code == coap.CHANGED and m.payload == b"x" * 10,
          "10 bytes within max_body_bytes = 64 reach the backend", repr(m))
    for what, opts, body in (
            ("a 500-byte body", [], b"y" * 500),
            ("Size1 announcing 1000", [(coap.SIZE1, coap.uint_bytes(1000))],
             b"z" * 10),
            ("Block1 block 1 of 64 bytes (ends at 128)",
             [(coap.BLOCK1, coap.uint_bytes(1 << 4 | 8 | 2))], b"w" * 64)):
        m = c.request(coap.PUT, "/small/echo", payload=body, options=opts)
        ck.ok(m is not None and m.code == coap.REQUEST_ENTITY_TOO_LARGE and
              m.uint(coap.SIZE1) == 64,
              "%s: 4.13 with Size1 64, not forwarded" % what, repr(m))
ck.done()
PY

py_checks "client endpoint passed to the backend" <<'PY'
import os
import coap
from coap import Client, Checker

port = int(os.environ["PORT"])
ck = Checker("57-backend endpoint")
for host, route in (("127.0.0.1", "/app"), ("::1", "/app"),
                    ("127.0.0.1", "/udp")):
    with Client(port, host) as c:
        m = c.get(route + "/echo/who")
        want = ("[::1]:%d" if ":" in host else "127.0.0.1:%d") % c.local[1]
        ck.ok(m is not None and m.code == coap.CONTENT and
              m.payload == ("GET /echo/who from %s identity -"
                            % want).encode(),
              "%s over %s: the backend sees %s" % (route, host, want),
              repr(m))
        ck.ok(m is not None and all(n < 65000 for n, _ in m.options),
              "options 65000/65002 not passed back to the client", repr(m))
        # the client's token comes back, whatever coapd sent upstream
        req = c.build(coap.GET, route + "/echo/t", token=b"\x01\x02\x03")
        m = c.exchange(req)
        ck.ok(m is not None and m.token == b"\x01\x02\x03" and
              m.code == coap.CONTENT, "the client's own token", repr(m))
ck.done()
PY

# --- DTLS: the PSK identity reaches the backend ----------------------------
if command -v coap-client-openssl >/dev/null 2>&1; then
	out=$(timeout 10 coap-client-openssl -B 3 -u sensor-1 -k "$KEY_SENSOR" \
	    -m get -o - "coaps://127.0.0.1:$DPORT/app/echo/d" 2>"$COAP_ERR")
	assert_contains "$out" "GET /echo/d from 127.0.0.1:" \
	    "over DTLS: forwarded"
	assert_contains "$out" "identity sensor-1" \
	    "over DTLS: the backend sees the PSK identity"
else
	echo "# coap-client-openssl missing: no DTLS check"
fi

# --- 50 KiB both ways ---------------------------------------------------------
python3 -c 'import sys; sys.stdout.buffer.write(b"".join(b"%07d\n" % i
    for i in range(6400)))' >"$T/big.want"
for r in app udp; do
	coap_get "$A/$r/big?n=51200" -b 1024 -B 20 >"$T/big.$r"
	assert_file_eq "$T/big.$r" "$T/big.want" "/$r: 50 KiB with Block2 (1024)"
done
coap_get "$A/app/big?n=51200" -b 64 -B 30 >"$T/big.64"
assert_file_eq "$T/big.64" "$T/big.want" "/app: 50 KiB with Block2 (64)"
head -c 51200 /dev/urandom >"$T/up.bin"
want="51200 bytes sha256 $(sha256sum <"$T/up.bin" | cut -d' ' -f1)"
for r in app udp; do
	out=$(timeout 30 "$COAP_CLIENT" -B 20 -m put -f "$T/up.bin" -b 1024 \
	    -o - "$A/$r/upload" 2>"$COAP_ERR")
	assert_eq "$out" "$want" "/$r: 50 KiB with Block1, same SHA-256"
done

# --- libcoap's coap-server, direct and through the bridge -------------------
direct=$(coap_get "coap://127.0.0.1:$LPORT/")
assert_contains "$direct" "libcoap" "coap-server answers directly"
for r in lc lcu; do
	assert_eq "$(coap_get "$A/$r/")" "$direct" "GET /$r/ as directly"
done
head -c 6000 /dev/urandom >"$T/ex1.bin"
head -c 7000 /dev/urandom >"$T/ex2.bin"
timeout 30 "$COAP_CLIENT" -B 20 -m put -f "$T/ex1.bin" -b 64 \
    "$A/lc/example_data" >/dev/null 2>&1
coap_get "$A/lcu/example_data" -b 64 -B 20 >"$T/ex1.got"
assert_file_eq "$T/ex1.got" "$T/ex1.bin" \
    "PUT /lc/example_data (Block1 64), GET via the bridge (Block2 64)"
timeout 30 "$COAP_CLIENT" -B 20 -m put -f "$T/ex2.bin" -b 64 \
    "$A/lcu/example_data" >/dev/null 2>&1
coap_get "$A/lc/example_data" -b 64 -B 20 >"$T/ex2.got"
assert_file_eq "$T/ex2.got" "$T/ex2.bin" \
    "PUT via the bridge (Block1 64), GET /lc/example_data (Block2 64)"

# --- timeout, RST upstream, max_pending ------------------------------------
py_checks "timeout, Observe RST, max_pending" <<'PY'
import os
import select
import socket
import time
import functools
import bkstate
import coap
from coap import Client, Checker, Msg

port = int(os.environ["PORT"])
pid = int(os.environ["COAPD_PID"])
state_file = os.path.join(os.environ["T"], "state.json")
ck = Checker("57-backend")
GATEWAY_TIMEOUT = coap.code(5, 4)
UNAVAILABLE = coap.code(5, 3)


state = functools.partial(bkstate.read, state_file)


def final(c, req, timeout):
    """The response to req (piggybacked or separate, a CON one ACKed),
    within timeout seconds, or None."""
    req = Msg(req)
    end = time.monotonic() + timeout
    while True:
        raw = c.recv(max(0.0, end - time.monotonic()))
        if raw is None:
            return None
        m = Msg(raw)
        if m.type == coap.CON:
            c.send(coap.encode(coap.ACK, 0, m.mid))
        if m.code == coap.EMPTY:
            continue
        if (m.type == coap.ACK and m.mid == req.mid) or m.token == req.token:
            return m


def fds():
    return len(os.listdir("/proc/%d/fd" % pid))


def gauge(name):
    """coapd_NAME from the metrics file (written every second)."""
    try:
        with open(os.path.join(os.environ["T"], "coapd.prom")) as f:
            for line in f:
                if line.startswith("coapd_%s " % name):
                    return int(float(line.split()[1]))
    except OSError:
        pass
    return -1


# 5.04 after timeout_s = 2 while a static route keeps answering at once.
with Client(port) as c, Client(port) as s:
    req = c.build(coap.GET, "/app/never")
    t0 = time.monotonic()
    c.send(req)
    worst = 0.0
    while time.monotonic() - t0 < 1.2:
        t1 = time.monotonic()
        m = s.get("/hello", timeout=1.0, tries=1)
        worst = max(worst, time.monotonic() - t1)
        if m is None or m.code != coap.CONTENT:
            worst = 99.0
            break
        time.sleep(0.1)
    ck.ok(worst < 0.3, "static route answers while the backend is silent "
          "(slowest %.3f s)" % worst)
    m = final(c, req, 4.0)
    took = time.monotonic() - t0
    ck.code(m, GATEWAY_TIMEOUT, "/app/never: 5.04")
    ck.ok(1.5 <= took <= 3.5, "5.04 after timeout_s (%.2f s, want ~2)" % took)

# /app has no observe = true: a GET with Observe gets one plain answer,
# and the backend sees no registration (tests/integ/59-backend-observe.sh
# for routes that relay Observe).
with Client(port) as c:
    before = state().get("registrations", 0)
    req = c.build(coap.GET, "/app/obs", options=[(coap.OBSERVE, b"")])
    m = c.exchange(req)
    ck.ok(m is not None and m.code == coap.CONTENT and
          m.opt(coap.OBSERVE) is None,
          "GET /app/obs with Observe=0: one 2.05 without Observe", repr(m))
    late = [Msg(r) for r in c.recv_all(1.2)]
    ck.ok(not late, "no notification follows", repr(late))
    ck.eq(state().get("registrations", 0), before,
          "the backend saw no Observe registration")

# 1000 requests at once to /app/slow (the backend sleeps 3 ms per
# request, so its socket queue, net.unix.max_dgram_qlen datagrams, fills
# at once), max_pending = 100: every request that got one of the 100
# slots waits for room in the queue and succeeds, the others get 5.03,
# and no fd and no pending exchange is left behind.
with Client(port) as c:
    ck.code(c.get("/app/echo/warm"), coap.CONTENT, "warm-up request")
time.sleep(0.3)         # the backend saves its counters after answering
base_fds = fds()
base_pend = gauge("backend_pending")
ck.eq(base_pend, 0, "no backend exchange pending before the flood")
base_req = state().get("requests", 0)
clients = [Client(port) for _ in range(10)]
sent = {}               # (client index, mid) -> token
got = {}                # token -> code
t0 = time.monotonic()


def pump(wait):
    r, _, _ = select.select([c.s for c in clients], [], [], wait)
    for i, c in enumerate(clients):
        if c.s not in r:
            continue
        while True:
            try:
                raw = c.s.recv(65536, socket.MSG_DONTWAIT)
            except (BlockingIOError, ConnectionRefusedError):
                break
            m = Msg(raw)
            if m.type == coap.CON:
                c.send(coap.encode(coap.ACK, 0, m.mid))
            if m.code == coap.EMPTY:
                continue
            tok = sent.get((i, m.mid)) if m.type == coap.ACK else m.token
            if tok is not None:
                got.setdefault(tok, m.code)


for n in range(1000):
    i = n % len(clients)
    req = clients[i].build(coap.GET, "/app/slow", options=[
        (coap.URI_QUERY, b"ms=3")])
    m = Msg(req)
    sent[(i, m.mid)] = m.token
    clients[i].send(req)
    if n % 100 == 99:
        pump(0)         # no pacing: only so that no client buffer fills
sent_s = time.monotonic() - t0
end = time.monotonic() + 10.0
while len(got) < 1000 and time.monotonic() < end:
    pump(0.2)
codes = list(got.values())
n205, n503 = codes.count(coap.CONTENT), codes.count(UNAVAILABLE)
ck.eq(len(got), 1000, "every one of the 1000 requests answered")
ck.ok(n205 >= 100, "every request within max_pending (100) succeeded, "
      "queued while the backend's queue was full: %d x 2.05" % n205)
ck.ok(n503 > 0, "past max_pending: %d x 5.03" % n503)
ck.ok(n205 + n503 == len(got), "only 2.05 and 5.03",
      repr(sorted(set(coap.code_str(x) for x in codes))))
time.sleep(0.3)
seen = state().get("requests", 0) - base_req
ck.eq(seen, n205, "the backend saw exactly the requests that succeeded")
print("# %d x 2.05, %d x 5.03, sent in %.2f s, all answered in %.2f s"
      % (n205, n503, sent_s, time.monotonic() - t0))
for c in clients:
    c.close()
end = time.monotonic() + 5.0
while fds() != base_fds and time.monotonic() < end:
    time.sleep(0.1)
ck.eq(fds(), base_fds, "coapd's fd count back to %d" % base_fds)
end = time.monotonic() + 5.0
while gauge("backend_pending") != base_pend and time.monotonic() < end:
    time.sleep(0.2)
ck.eq(gauge("backend_pending"), base_pend,
      "coapd_backend_pending back to %d" % base_pend)
with Client(port) as c:
    m = c.get("/app/echo/after")
    ck.code(m, coap.CONTENT, "after the flood the route answers again")
ck.done()
PY

# --- the backend stopped, and back ------------------------------------------
stop_echo TERM
assert_true "echo-backend removed its socket" test ! -e "$T/app.sock"
out=$(timeout 10 "$COAP_CLIENT" -B 3 -m get -v 7 "$A/app/echo" 2>&1)
assert_contains "$out" "5.02" "socket gone: 5.02"
start_echo
out=$(coap_get "$A/app/echo/back")
assert_contains "$out" "GET /echo/back from" "backend restarted: answered again"
stop_echo KILL
assert_true "a killed echo-backend leaves its socket" test -S "$T/app.sock"
t0=$SECONDS
out=$(timeout 10 "$COAP_CLIENT" -B 3 -m get -v 7 "$A/app/echo" 2>&1)
assert_contains "$out" "5.02" "socket left, nobody reading: 5.02"
assert_true "5.02 at once, not after timeout_s" test $((SECONDS - t0)) -lt 2
start_echo
out=$(coap_get "$A/app/echo/again")
assert_contains "$out" "GET /echo/again from" "restarted after SIGKILL: answered"
kill -TERM "$UECHO_PID"
_kill_wait "$UECHO_PID" 5
wait "$UECHO_PID" 2>/dev/null
UECHO_PID=""
out=$(timeout 10 "$COAP_CLIENT" -B 5 -m get -v 7 "$A/udp/echo" 2>&1)
if [[ $out == *5.02* || $out == *5.04* ]]; then
	_ok "UDP backend down: 5.02 or 5.04"
else
	_nok "UDP backend down: 5.02 or 5.04: $(printf %s "$out" | tail -n 3)"
fi
start_uecho
out=$(coap_get "$A/udp/echo/back")
assert_contains "$out" "GET /echo/back from" "UDP backend back: answered again"
assert_true "coapd still running" alive "$COAPD_PID"

# A reload that removes the UDP backend's route closes the workers'
# connections to it (once nothing of theirs is in flight, at the next
# second's sweep); the other backends' stay.
udp_conns() {	# coapd's UDP sockets connected to the UDP backend
	ss -Hunp dst "127.0.0.1:$UPORT" 2>/dev/null |
	    grep -c "pid=$COAPD_PID,"
}
assert_true "a connection to the UDP backend is open" \
    test "$(udp_conns)" -ge 1
sed '/"\/udp"/,+1d' "$T/coapd.conf" >"$T/coapd.conf.new"	# 2 lines
mv "$T/coapd.conf.new" "$T/coapd.conf"
assert_true "the reload without /udp is applied" \
    signal_coapd HUP 'reloaded,' 
for ((i = 0; i < 30; i++)); do
	[ "$(udp_conns)" = 0 ] && break
	sleep 0.1
done
assert_eq "$(udp_conns)" 0 \
    "route removed by a reload: its backend connections closed"
out=$(coap_get "$A/app/echo/after")
assert_contains "$out" "GET /echo/after from" \
    "the Unix backend still answers after the reload"

finish
