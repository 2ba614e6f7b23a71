#!/bin/bash
# 53-observe: Observe (RFC 7641) on files.  libcoap's client observing a
# file sees three successive changes (written in place, replaced by
# rename, written through a PUT to coapd) and the end of the observation
# (4.04) when the file is deleted; two observers on the two workers both
# hear of a change; then raw checks: a burst of 1,000 writes gives a
# bounded number of notifications ending with the last state, Observe with
# Block2 (first block and ETag), deregistration by Observe=1 and by RST, a
# CON every observe_con_every notifications and its retransmission, and
# max_observers.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
mkdir -p "$T/obs"
printf 'v1\n' >"$T/obs/f.txt"
printf 'shared 1\n' >"$T/obs/two.txt"
# obs_conf FILE MAX_OBSERVERS
obs_conf() {
	cat >"$1" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; },
           { address = "::1"; port = $PORT; } );
workers = 2;
max_observers = $2;
observe_con_every = 3;
routes = (
  { path = "/obs"; static = "$T/obs"; observe = true; writable = true; },
  { path = "/plain"; static = "$T/obs"; }
);
CONF
}
obs_conf "$T/coapd.conf" 64
start_coapd "$T/coapd.conf"

# wait_for FILE TEXT SECONDS: until FILE contains TEXT (bounded).
wait_for() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# --- one observer, three changes, then the end ------------------------------
timeout 25 "$COAP_CLIENT" -B 22 -s 20 -w \
    "coap://127.0.0.1:$PORT/obs/f.txt" >"$T/o1.out" 2>"$T/o1.err" &
obs1=$!
assert_true "observer gets the current state" wait_for "$T/o1.out" v1 5
printf 'v2\n' >"$T/obs/f.txt"
assert_true "change 1 (written in place) is notified" wait_for "$T/o1.out" v2 5
printf 'v3\n' >"$T/obs/.f.new"
mv "$T/obs/.f.new" "$T/obs/f.txt"
assert_true "change 2 (replaced by rename) is notified" wait_for "$T/o1.out" v3 5
timeout 10 "$COAP_CLIENT" -B 5 -m put -e 'v4' \
    "coap://127.0.0.1:$PORT/obs/f.txt" 2>/dev/null
assert_true "change 3 (PUT through coapd) is notified" wait_for "$T/o1.out" v4 5
rm "$T/obs/f.txt"
assert_true "delete ends the observation with 4.04" wait_for "$T/o1.err" 4.04 5
kill "$obs1" 2>/dev/null
wait "$obs1" 2>/dev/null
assert_eq "$(grep -c . "$T/o1.out")" 4 "exactly four states seen (v1..v4)"

# --- two observers on two workers ------------------------------------------
# Source addresses that the reuseport program (net.c) sends to different
# workers: the same hash as net_steer_index() for two workers.
read -r src_a src_b < <(python3 - <<'PY'
import ipaddress
def worker(a, n=2):
    v = int(ipaddress.IPv4Address(a))
    return (((v * 0x9e3779b1) & 0xffffffff) >> 16) % n
seen = {}
for i in range(1, 50):
    a = "127.0.0.%d" % i
    seen.setdefault(worker(a), a)
    if len(seen) == 2:
        break
print(seen[0], seen[1])
PY
)
assert_true "two source addresses on different workers ($src_a, $src_b)" \
    test -n "$src_b"
for s in "$src_a" "$src_b"; do
	timeout 25 "$COAP_CLIENT" -B 22 -s 20 -w -a "$s" \
	    "coap://127.0.0.1:$PORT/obs/two.txt" >"$T/two-$s.out" 2>&1 &
	eval "pid_${s//./_}=\$!"
done
wait_for "$T/two-$src_a.out" 'shared 1' 5
wait_for "$T/two-$src_b.out" 'shared 1' 5
printf 'shared 2\n' >"$T/obs/two.txt"
assert_true "observer from $src_a (worker 0) sees the change" \
    wait_for "$T/two-$src_a.out" 'shared 2' 5
assert_true "observer from $src_b (worker 1) sees the change" \
    wait_for "$T/two-$src_b.out" 'shared 2' 5
for s in "$src_a" "$src_b"; do
	eval "p=\$pid_${s//./_}"
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
done

# --- raw checks -------------------------------------------------------------
py_checks "raw Observe checks" <<'PY'
import os
import time
import coap
from coap import Client, Checker, Msg

port = int(os.environ["PORT"])
d = os.path.join(os.environ["T"], "obs")
ck = Checker("53-observe")

def write(name, data, rename=False):
    p = os.path.join(d, name)
    if rename:
        with open(p + ".tmp", "wb") as f:
            f.write(data)
        os.rename(p + ".tmp", p)
    else:
        with open(p, "wb") as f:
            f.write(data)

def register(c, path, extra=(), token=None):
    req = c.build(coap.GET, path, options=[(coap.OBSERVE, b"")] +
                  list(extra), token=token)
    return req, c.exchange(req)

def notes(c, token, window=0.6, ack=True):
    """Notifications for token within window s; CONs are ACKed."""
    out = []
    end = time.monotonic() + window
    while True:
        raw = c.recv(max(0.0, end - time.monotonic()))
        if raw is None:
            return out
        m = Msg(raw)
        if m.token != token:
            continue
        if m.type == coap.CON and ack:
            c.send(coap.encode(coap.ACK, 0, m.mid))
        out.append(m)

# A burst of 1,000 writes: a bounded number of notifications, last state.
write("burst.txt", b"start")
with Client(port) as c:
    req, m = register(c, "/obs/burst.txt")
    tok = Msg(req).token
    ck.ok(m is not None and m.opt(coap.OBSERVE) is not None,
          "registration answered with Observe", repr(m))
    for i in range(1000):
        write("burst.txt", b"state %04d" % i, rename=(i % 2 == 0))
    got = notes(c, tok, 1.5)
    ck.ok(0 < len(got) <= 100, "1,000 writes: %d notifications (1..100)"
          % len(got))
    ck.ok(got and got[-1].payload == b"state 0999",
          "the last notification is the last state",
          repr(got[-1]) if got else "none")
    seqs = [n.uint(coap.OBSERVE) for n in got]
    ck.ok(all(b > a for a, b in zip(seqs, seqs[1:])),
          "sequence numbers increase", repr(seqs[:10]))
    # observe_con_every = 3: at least one CON in any three in a row.
    types = [n.type for n in got]
    ck.ok(all(coap.CON in types[i:i + 3] for i in range(len(types) - 2)),
          "a CON at least every 3 notifications", repr(types))

    # Observe=1 deregisters (RFC 7641 §3.6).
    m = c.exchange(c.build(coap.GET, "/obs/burst.txt",
                           options=[(coap.OBSERVE, b"\x01")], token=tok))
    ck.ok(m is not None and m.code == coap.CONTENT and
          m.opt(coap.OBSERVE) is None,
          "Observe=1: answered without Observe", repr(m))
    write("burst.txt", b"after deregistration", rename=True)
    ck.eq(len(notes(c, tok, 0.5)), 0, "no notification after Observe=1")

# RST to a notification ends the observation (RFC 7641 §3.6).
with Client(port) as c:
    req, m = register(c, "/obs/burst.txt")
    tok = Msg(req).token
    write("burst.txt", b"rst 1", rename=True)
    got = notes(c, tok, 0.5, ack=False)
    ck.ok(len(got) >= 1, "a notification before the RST", repr(got))
    if got:
        c.send(coap.encode(coap.RST, 0, got[-1].mid))
    time.sleep(0.1)
    write("burst.txt", b"rst 2", rename=True)
    ck.eq(len(notes(c, tok, 0.5)), 0, "no notification after an RST")

# A CON notification not acknowledged is retransmitted (RFC 7252 §4.2).
with Client(port) as c:
    req, m = register(c, "/obs/burst.txt")
    tok = Msg(req).token
    con = None
    for i in range(4):
        write("burst.txt", b"con %d" % i)
        for n in notes(c, tok, 0.3, ack=False):
            if n.type == coap.CON:
                con = n
        if con:
            break
    ck.ok(con is not None, "a CON notification comes within 4 changes")
    if con:
        again = notes(c, tok, 3.5, ack=False)
        ck.ok(any(n.mid == con.mid and n.type == coap.CON for n in again),
              "unacknowledged CON retransmitted with its MID in 2..3 s",
              repr(again))
        c.send(coap.encode(coap.ACK, 0, con.mid))

# Observe with Block2: the first block and the ETag (RFC 7959 §3.4).
big = bytes(range(256)) * 12
write("big.bin", big)
with Client(port) as c:
    req, m = register(c, "/obs/big.bin")
    tok = Msg(req).token
    write("big.bin", big[::-1], rename=True)
    got = notes(c, tok, 0.6)
    n = got[-1] if got else None
    ck.ok(n is not None and n.payload == big[::-1][:1024] and
          n.uint(coap.BLOCK2) == (0 << 4) | 8 | 6 and
          n.opt(coap.ETAG) is not None,
          "notification of a big file: block 0, M=1, ETag", repr(n))
    if n:
        m = c.get("/obs/big.bin",
                  options=[(coap.BLOCK2, coap.uint_bytes(1 << 4 | 6))])
        ck.ok(m is not None and m.opt(coap.ETAG) == n.opt(coap.ETAG) and
              m.payload == big[::-1][1024:2048],
              "block 1 fetched after it has the same ETag", repr(m))

# A route without observe answers without Observe.
with Client(port) as c:
    req, m = register(c, "/plain/burst.txt")
    ck.ok(m is not None and m.code == coap.CONTENT and
          m.opt(coap.OBSERVE) is None,
          "route without observe: no Observe in the answer", repr(m))
ck.done()
PY
stop_coapd

# --- max_observers: 2 for two workers, one each ----------------------------
obs_conf "$T/coapd.conf" 2
start_coapd "$T/coapd.conf"
py_checks "max_observers" <<'PY'
import os
import coap
from coap import Client, Checker

port = int(os.environ["PORT"])
ck = Checker("53-observe max_observers")
with Client(port) as c:
    m1 = c.get("/obs/two.txt", options=[(coap.OBSERVE, b"")])
    m2 = c.get("/obs/two.txt", options=[(coap.OBSERVE, b"")])
    ck.ok(m1 is not None and m1.opt(coap.OBSERVE) is not None,
          "first observer registered", repr(m1))
    ck.ok(m2 is not None and m2.code == coap.CONTENT and
          m2.opt(coap.OBSERVE) is None,
          "past max_observers: 2.05 without Observe", repr(m2))
ck.done()
PY

finish
