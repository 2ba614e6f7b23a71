#!/bin/bash
# 61-ratelimit: token buckets per client address (limits.rate/burst) and
# per route (rate/burst), issue 16.  A client over its rate gets 4.29 with
# Max-Age (RFC 8516) while a second client at a normal rate, libcoap's
# coap-client-notls from another loopback address, gets every answer; a
# NON sender over its rate hears one NON 4.29 a second and nothing more.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
make_www
cat >"$T/coapd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
workers = 2;
limits = { rate = 2; burst = 5; };
routes = (
  { path = "/hello"; static = "$T/www/hello.txt"; },
  { path = "/strict"; static = "$T/www/hello.txt"; rate = 1; burst = 1; }
);
CONF
start_coapd "$T/coapd.conf"

# stats NAME: the value of counter NAME in a fresh SIGUSR1 report.
stats() {
	local before
	before=$(grep -c "stats, " "$COAPD_LOG")
	kill -USR1 "$COAPD_PID"
	for _ in $(seq 50); do
		[ "$(grep -c "stats, " "$COAPD_LOG")" -gt "$before" ] && break
		sleep 0.1
	done
	sleep 0.2
	grep "stats, " "$COAPD_LOG" | grep -v "stats, worker" |
	    grep -o "[, ]$1 [0-9]*" | tail -1 |
	    awk '{ print $2 }'
}

# Client B: one GET every 0.6 s (rate 2/s allows one per 0.5 s), from
# 127.0.0.3, while client A floods from 127.0.0.2.
(
	for ((i = 0; i < 6; i++)); do
		timeout 5 "$COAP_CLIENT" -a 127.0.0.3 -B 3 \
		    "coap://127.0.0.1:$PORT/hello" 2>>"$COAP_ERR"
		sleep 0.6
	done
) >"$T/b.out" &
bpid=$!

py_checks "client A over its rate, NON and route limits" <<'PY'
import os, time
import coap
from coap import Client, Checker
port = int(os.environ["PORT"])
ck = Checker()
a = Client(port, src="127.0.0.2")
ok = limited = 0
ages = set()
types = set()
t0 = time.monotonic()
for i in range(20):
    m = a.get("/hello", timeout=1.0, tries=1)
    if m is not None and m.code == coap.CONTENT:
        ok += 1
    elif m is not None and m.code == coap.code(4, 29):
        limited += 1
        ages.add(m.uint(coap.MAX_AGE))
        types.add(m.type)
elapsed = time.monotonic() - t0
# burst 5 at once, then one token per 0.5 s of the run
want_max = 5 + int(elapsed * 2)
print("# client A: %d x 2.05, %d x 4.29 in %.3f s, Max-Age %s" %
      (ok, limited, elapsed, sorted(ages)))
if elapsed < 0.5:
    ck.eq(ok, 5, "client A: exactly burst (5) answers")
else:
    ck.ok(5 <= ok <= want_max, "client A: 5..%d answers" % want_max, ok)
ck.eq(types, {coap.ACK}, "4.29 is piggybacked on the ACK")
ck.eq(ok + limited, 20, "client A: every CON answered, 2.05 or 4.29")
ck.ok(len(ages) > 0 and min(ages) >= 1 and max(ages) <= 1,
      "4.29 carries Max-Age 1 (one token in 0.5 s, rounded up)", ages)

# NON over the rate: one NON 4.29 per second, the rest dropped.
for i in range(10):
    a.send(a.build(coap.GET, "/hello", mtype=coap.NON))
got = [coap.Msg(d) for d in a.recv_all(0.5)]
ck.eq(len(got), 1, "10 NONs over the rate: one answer")
if got:
    ck.eq((got[0].type, got[0].code), (coap.NON, coap.code(4, 29)),
          "that answer is a NON 4.29")
    ck.ok(got[0].uint(coap.MAX_AGE) is not None, "with Max-Age")

# A route's own rate: /strict allows 1 at once; /hello still answers.
c = Client(port, src="127.0.0.4")
m1 = c.get("/strict", timeout=1.0, tries=1)
m2 = c.get("/strict", timeout=1.0, tries=1)
m3 = c.get("/hello", timeout=1.0, tries=1)
ck.eq(m1 is not None and m1.code, coap.CONTENT, "route rate: first 2.05")
ck.eq(m2 is not None and m2.code, coap.code(4, 29), "route rate: then 4.29")
ck.eq(m3 is not None and m3.code, coap.CONTENT,
      "another route of the same client is not limited by it")
ck.done()
PY

wait "$bpid"
got=$(grep -c "Hello, CoAP!" "$T/b.out")
assert_eq "$got" 6 "client B at a normal rate: every one of 6 answers"

assert_true "4.29 counted per bucket (address)" \
    test "$(stats rate_limited_address)" -ge 15
assert_eq "$(stats rate_limited_route)" 1 "one refusal counted for the route"
assert_eq "$(stats drops_rate_limited_non)" 9 "9 NONs dropped, counted"

# A reload applies a new rate at once, even to a client in debt.
sed -i 's/rate = 2; burst = 5;/rate = 1000; burst = 5;/' "$T/coapd.conf"
kill -HUP "$COAPD_PID"
for _ in $(seq 50); do
	grep -q "reloaded, " "$COAPD_LOG" && break
	sleep 0.1
done
sleep 0.2
py_checks "after a reload to 1000/s client A is served" <<'PY'
import os, time
import coap
from coap import Client, Checker
ck = Checker()
a = Client(int(os.environ["PORT"]), src="127.0.0.2")
codes = []
for i in range(5):
    m = a.get("/hello", timeout=1.0, tries=1)
    codes.append(m.code if m is not None else None)
    time.sleep(0.01)
ck.eq(codes, [coap.CONTENT] * 5, "5 requests 10 ms apart: all 2.05")
ck.done()
PY

finish
