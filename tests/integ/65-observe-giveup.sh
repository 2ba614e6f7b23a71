#!/bin/bash
# 65-observe-giveup: an observer that never ACKs its confirmable
# notification is removed after MAX_RETRANSMIT retransmissions (RFC 7641
# §4.5.2, RFC 7252 §4.2), with the transmission parameters taken from the
# `coap` group (ack_timeout_ms = 100, max_retransmit = 3 instead of the
# RFC's 2 s and 4, so it takes ~1.5 s instead of ~45 s): the raw client
# sees the CON exactly 1 + 3 times with one Message ID, the gaps doubling
# from ack_timeout_ms, then `coapd-ctl stats --json` shows no observer
# and one observe_gave_up, and a later change sends nothing.
. "$(dirname "$0")/lib.sh"

CTL=${COAPD_CTL:-$TOP/build/coapd-ctl}
[ -x "$CTL" ] || fail "$CTL is missing: run make build/coapd-ctl"
PORT=$(free_port)
SOCK="$T/ctl.sock"
export PORT SOCK CTL
mkdir -p "$T/obs"
printf 'v1\n' >"$T/obs/f.txt"
cat >"$T/coapd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
workers = 1;
observe_con_every = 1;
control_socket = "$SOCK";
coap = { ack_timeout_ms = 100; max_retransmit = 3; };
routes = ( { path = "/obs"; static = "$T/obs"; observe = true; } );
CONF
start_coapd "$T/coapd.conf"

py_checks "observer that never ACKs is given up" <<'PY'
import json
import os
import subprocess
import time
import coap
from coap import Client, Checker, Msg

ck = Checker("65-observe-giveup")
port = int(os.environ["PORT"])
f = os.path.join(os.environ["T"], "obs", "f.txt")
ACK_S, MAX_RETX = 0.100, 3

def stats():
    out = subprocess.run([os.environ["CTL"], "-s", os.environ["SOCK"],
                          "stats", "--json"], capture_output=True,
                         timeout=5, check=True).stdout
    return json.loads(out)["metrics"]

def observers_become(n, within):
    """Poll the gauge (sampled every 100 ms) for at most within s."""
    end = time.monotonic() + within
    while True:
        got = stats()["observers"]
        if got == n or time.monotonic() > end:
            return got
        time.sleep(0.05)

with Client(port) as c:
    tok = c.next_token()
    # request(): answers the amplification guard's Echo challenge (RFC 9175)
    m = c.request(coap.GET, "/obs/f.txt", options=[(coap.OBSERVE, b"")],
                  token=tok)
    ck.ok(m is not None and m.opt(coap.OBSERVE) is not None,
          "registered", repr(m))
    ck.eq(observers_become(1, 2.0), 1, "stats: one observer")
    with open(f, "w") as fh:
        fh.write("v2\n")
    # Never ACK; collect for 2.5 s (the CONs are over after
    # (1 + 2 + 4) * 1.5 * 0.1 = 1.05 s, the give-up at 2.25 s at most).
    seen = []
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        raw = c.recv(end - time.monotonic())
        if raw is None:
            break
        n = Msg(raw)
        if n.token == tok:
            seen.append((time.monotonic(), n))
    cons = [(t, n) for t, n in seen if n.type == coap.CON]
    ck.ok(cons and cons[0][1].payload == b"v2\n",
          "a CON notification of the change", repr(seen[:1]))
    mids = {n.mid for _, n in cons}
    ck.eq(len(cons), 1 + MAX_RETX,
          "CON sent 1 + max_retransmit times")
    ck.eq(len(mids), 1, "all with one Message ID")
    ck.eq(len(seen), len(cons), "nothing but those CONs")
    gaps = [b[0] - a[0] for a, b in zip(cons, cons[1:])]
    # §4.2: first wait in [ACK_TIMEOUT, 1.5 ACK_TIMEOUT), then doubling.
    ok = len(gaps) == MAX_RETX and all(
        ACK_S * 2 ** i * 0.8 <= g <= ACK_S * 2 ** i * 1.5 + 0.15
        for i, g in enumerate(gaps))
    ck.ok(ok, "gaps double from ack_timeout_ms",
          " ".join("%.3f" % g for g in gaps))
    ck.eq(observers_become(0, 3.0), 0, "stats: observer removed")
    ck.eq(stats()["observe_gave_up"], 1, "stats: observe_gave_up 1")
    with open(f, "w") as fh:
        fh.write("v3\n")
    ck.eq(len([r for r in c.recv_all(0.5)
               if Msg(r).token == tok]), 0,
          "no notification after the give-up")
ck.done()
PY

finish
