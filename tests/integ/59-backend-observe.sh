#!/bin/bash
# 59-backend-observe: Observe (RFC 7641) relayed through a backend route
# (coapd.conf(5), BACKEND PROTOCOL, Observe).  Two libcoap observers of
# one path behind tests/backend/echo-backend.py: both get the backend's
# notifications from one registration upstream; when both are gone the
# backend sees the deregistration.  Then raw checks with coap.py: coapd's
# own Observe numbers, CON notifications of the backend ACKed upstream,
# an RST from the last observer ending the registration upstream, and a
# backend stopped under an observation: the observer gets 5.02 without
# Observe once Max-Age runs out.
. "$(dirname "$0")/lib.sh"

BK=$TOP/tests/backend
PORT=$(free_port)
export PORT
ECHO_PID="" OBS1="" OBS2=""
stop_at_exit OBS1 OBS2 ECHO_PID

# start_echo ARGS...: the example backend on $T/app.sock, counters in
# $T/state.json (written once the socket is bound; at most 5 s).
start_echo() {
	local i
	rm -f "$T/state.json"
	python3 "$BK/echo-backend.py" -v --state "$T/state.json" "$@" \
	    "$T/app.sock" 2>>"$T/echo.log" &
	ECHO_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ -e "$T/state.json" ] && return 0
		sleep 0.05
	done
	fail "echo-backend does not start"
}

stop_echo() {
	kill -TERM "$ECHO_PID" 2>/dev/null
	_kill_wait "$ECHO_PID" 5 || fail "echo-backend does not stop"
	wait "$ECHO_PID" 2>/dev/null
	ECHO_PID=""
}

# stat KEY: a counter of the backend.
stat() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], 0))' \
	    "$T/state.json" "$1" 2>/dev/null || echo -1
}

# wait_stat KEY VALUE SECONDS: until the counter is VALUE (bounded).
wait_stat() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(stat "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

cat >"$T/coapd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
workers = 2;
observe_con_every = 3;
routes = (
  { path = "/app"; backend = "$T/app.sock"; timeout_s = 2;
    strip_prefix = true; observe = true; },
  { path = "/plain"; backend = "$T/app.sock"; timeout_s = 2;
    strip_prefix = true; }
);
log = { level = "info"; };
CONF

start_echo --obs-interval 0.4
start_coapd "$T/coapd.conf"
export COAPD_PID
A=coap://127.0.0.1:$PORT

# --- two libcoap observers, one registration upstream -----------------------
# Both from 127.0.0.1: the same worker (reuseport steering by address).
timeout 20 "$COAP_CLIENT" -B 10 -s 4 "$A/app/obs" >"$T/o1.out" 2>"$T/o1.err" &
OBS1=$!
timeout 20 "$COAP_CLIENT" -B 10 -s 4 "$A/app/obs" >"$T/o2.out" 2>"$T/o2.err" &
OBS2=$!
# until coapd's registration reaches the backend (bounded; a fixed 2 s was
# too short on a loaded machine)
wait_stat observers 1 8
assert_eq "$(stat registrations)" 1 \
    "two observers of /app/obs: one registration upstream"
assert_eq "$(stat observers)" 1 "the backend holds one observer (coapd)"
wait "$OBS1"
wait "$OBS2"
OBS1="" OBS2=""
for o in o1 o2; do
	# libcoap's client prints the payloads without separators
	grep -o 'tick [0-9]*' "$T/$o.out" >"$T/$o.ticks"
	n=$(grep -c . "$T/$o.ticks")
	assert_true "observer $o got the backend's notifications ($n ticks)" \
	    test "$n" -ge 5
	assert_eq "$(sort -u "$T/$o.ticks" | grep -c .)" "$n" \
	    "observer $o: every tick once"
done
assert_true "both observers gone: the backend sees the deregistration" \
    wait_stat observers 0 5
assert_true "deregistered (GET with Observe 1, or RST to a notification)" \
    test "$(stat deregistrations)" -ge 1
regs=$(stat registrations)
sleep 1
assert_eq "$(stat registrations)" "$regs" "no registration comes back by itself"

# Without observe = true the route answers once, without Observe.
out=$(timeout 10 "$COAP_CLIENT" -B 3 -s 2 "$A/plain/obs" 2>/dev/null)
assert_eq "$(printf '%s\n' "$out" | grep -o 'tick [0-9]*' | grep -c .)" 1 \
    "/plain (no observe): one answer"
assert_eq "$(stat registrations)" "$regs" "/plain: nothing registered upstream"

# --- raw checks -----------------------------------------------------------
py_checks "sequence numbers, RST, ACKs upstream" <<'PY'
import functools
import os
import time
import bkstate
import coap
from coap import Client, Checker, Msg

port = int(os.environ["PORT"])
sf = os.path.join(os.environ["T"], "state.json")
ck = Checker("59-backend-observe")

state = functools.partial(bkstate.read, sf)
wait_state = functools.partial(bkstate.wait, sf)


with Client(port) as c:
    regs = state().get("registrations", 0)
    m = c.request(coap.GET, "/app/obs", options=[(coap.OBSERVE, b"")])
    ck.code(m, coap.CONTENT, "registration answered 2.05")
    ck.ok(m is not None and m.opt(coap.OBSERVE) is not None,
          "with Observe", repr(m))
    tok = m.token
    seqs, types, got = [m.uint(coap.OBSERVE)], [], []
    end = time.monotonic() + 3.0
    while len(got) < 5 and time.monotonic() < end:
        raw = c.recv(end - time.monotonic())
        if raw is None:
            break
        n = Msg(raw)
        if n.type == coap.CON:
            c.send(coap.encode(coap.ACK, 0, n.mid))
        if n.token != tok:
            continue
        got.append(n.payload)
        seqs.append(n.uint(coap.OBSERVE))
        types.append(n.type)
    ck.eq(len(got), 5, "5 notifications relayed")
    ck.ok(all(p.startswith(b"tick") for p in got), "each the backend's",
          repr(got))
    ck.ok(all(b > a for a, b in zip(seqs, seqs[1:])),
          "coapd's Observe numbers increase", repr(seqs))
    ck.ok(coap.CON in types and coap.NON in types,
          "observe_con_every = 3: CON and NON", repr(types))
    ck.eq(state().get("registrations", 0), regs + 1,
          "one registration upstream")
    # RFC 7641 §3.6: the only observer rejects a notification
    end = time.monotonic() + 2.0
    rst = False
    while not rst and time.monotonic() < end:
        raw = c.recv(end - time.monotonic())
        if raw is None:
            break
        n = Msg(raw)
        if n.token == tok:
            c.send(coap.encode(coap.RST, 0, n.mid))
            rst = True
    ck.ok(rst, "RST sent to a notification")
    ck.ok(wait_state("observers", 0, 4),
          "RST from the last observer: deregistered upstream", repr(state()))
    late = [Msg(r) for r in c.recv_all(1.0)]
    ck.ok(not [x for x in late if x.token == tok],
          "no notification after the RST", repr(late))
ck.done()
PY

# --- CON notifications from the backend, and the backend going away --------
stop_echo
start_echo --obs-interval 0.3 --con --max-age 1
export ECHO_PID
py_checks "CON upstream ACKed, backend stopped: 5.02" <<'PY'
import functools
import os
import signal
import time
import bkstate
import coap
from coap import Client, Checker, Msg

port = int(os.environ["PORT"])
sf = os.path.join(os.environ["T"], "state.json")
ck = Checker("59-backend-observe")

state = functools.partial(bkstate.read, sf)


with Client(port) as c:
    m = c.request(coap.GET, "/app/obs", options=[(coap.OBSERVE, b"")])
    ck.ok(m is not None and m.opt(coap.OBSERVE) is not None,
          "registered (backend with CON notifications)", repr(m))
    tok = m.token
    n = 0
    end = time.monotonic() + 3.0
    while n < 4 and time.monotonic() < end:
        raw = c.recv(end - time.monotonic())
        if raw is None:
            break
        x = Msg(raw)
        if x.type == coap.CON:
            c.send(coap.encode(coap.ACK, 0, x.mid))
        if x.token == tok:
            n += 1
    ck.eq(n, 4, "CON notifications of the backend relayed")
    time.sleep(0.5)
    s = state()
    ck.ok(s.get("acks", 0) >= 4, "coapd ACKed them upstream", repr(s))
    # stopped (SIGTERM, by its PID): it removes its socket
    os.kill(int(os.environ["ECHO_PID"]), signal.SIGTERM)
    end = time.monotonic() + 8.0
    last = None
    while time.monotonic() < end:
        raw = c.recv(end - time.monotonic())
        if raw is None:
            break
        x = Msg(raw)
        if x.type == coap.CON:
            c.send(coap.encode(coap.ACK, 0, x.mid))
        if x.token == tok and x.code != coap.CONTENT:
            last = x
            break
    ck.ok(last is not None and last.code == coap.code(5, 2) and
          last.opt(coap.OBSERVE) is None,
          "backend gone: 5.02 without Observe within Max-Age + 2 s",
          repr(last))
ck.done()
PY
wait "$ECHO_PID" 2>/dev/null
ECHO_PID=""
assert_true "coapd still running" alive "$COAPD_PID"

finish
