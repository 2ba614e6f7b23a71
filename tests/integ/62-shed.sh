#!/bin/bash
# 62-shed: load shedding (issue 16).  A flood of requests for a slow hook
# fills the worker's pending exchange table (max_separate): the worker goes
# to the shedding level.  While it sheds, a retransmitted CON still gets its
# cached answer (byte for byte), a new CON gets 5.03 with Max-Age
# limits.shed_max_age_s, a new NON nothing; once the hooks are done it
# returns to normal, and both changes are logged once and counted.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
make_www
mkdir -p "$T/h"
cat >"$T/h/slow.sh" <<'SH'
#!/bin/sh
sleep 2
echo slow
SH
chmod +x "$T/h/slow.sh"
cat >"$T/coapd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
workers = 1;
max_separate = 4;
separate_after_ms = 100;
hooks = { tmp_dir = "$T"; };
limits = { shed_max_age_s = 7; };
routes = (
  { path = "/hello"; static = "$T/www/hello.txt"; },
  { path = "/slow"; hook = [ "$T/h/slow.sh" ]; max_running = 8;
    run_as_root = true; }
);
CONF
start_coapd "$T/coapd.conf"

py_checks "shedding: cached retransmits, 5.03 for new CONs, back to normal" <<'PY'
import os, time
import coap
from coap import Client, Checker
port = int(os.environ["PORT"])
ck = Checker()
r = Client(port, src="127.0.0.2")
# 1. an answered CON: its answer is in the dedup cache
req = r.build(coap.GET, "/hello")
r.send(req)
first = r.recv(2.0)
ck.ok(first is not None and coap.Msg(first).code == coap.CONTENT,
      "before the flood: 2.05")

# 2. the flood: 200 NONs for the slow hook in one burst
f = Client(port, src="127.0.0.3")
for i in range(200):
    f.send(f.build(coap.GET, "/slow", mtype=coap.NON))
time.sleep(0.3)

# 3. shedding: the retransmission gets the very same bytes
r.send(req)
again = r.recv(2.0)
ck.eq(again, first, "retransmitted CON answered from the cache, same bytes")

# 4. a new CON: 5.03 with Max-Age 7; a new NON: nothing
m = r.get("/hello", timeout=2.0, tries=1)
ck.eq(m is not None and m.code, coap.code(5, 3), "new CON while shedding: 5.03")
ck.eq(m is not None and m.type, coap.ACK, "piggybacked on the ACK")
ck.eq(m is not None and m.uint(coap.MAX_AGE), 7, "Max-Age = shed_max_age_s")
r.send(r.build(coap.GET, "/hello", mtype=coap.NON))
ck.eq(r.recv(0.5), None, "new NON while shedding: dropped")

# 5. the hooks end after 2 s; the level falls back (throttled, then
# normal): 2.05 again
t0 = time.monotonic()
back = None
while time.monotonic() - t0 < 10:
    m = r.get("/hello", timeout=0.5, tries=1)
    if m is not None and m.code == coap.CONTENT:
        back = time.monotonic() - t0
        break
    time.sleep(0.2)
ck.ok(back is not None, "back to normal after the flood",
      "after %s s" % back)
print("# back to normal %.1f s after the checks began" % (back or -1))
# the hook answers that made it: at most max_separate ran
got = [coap.Msg(d) for d in f.recv_all(1.0)]
ran = sum(1 for x in got if x.code == coap.CONTENT and x.payload == b"slow\n")
ck.ok(1 <= ran <= 4, "at most max_separate (4) hooks ran", ran)
ck.done()
PY

# served again from throttled on; normal follows a second after the last
# hook (levels fall only after holding for a second)
for _ in $(seq 50); do
	grep -q "load level normal" "$COAPD_LOG" && break
	sleep 0.1
done
kill -USR1 "$COAPD_PID"
for _ in $(seq 50); do
	grep -q "stats, load_entered" "$COAPD_LOG" && break
	sleep 0.1
done
st=$(grep "stats, " "$COAPD_LOG" | tr '\n' ' ')
assert_contains "$st" "load_entered_shedding 1" "entering shedding counted once"
assert_contains "$st" "load_entered_normal 1" "returning to normal counted once"
assert_contains "$st" "drops_shed_non " "NONs dropped while shedding are counted"
assert_eq "$(grep -c "load level shedding" "$COAPD_LOG")" 1 \
    "shedding logged once"
assert_eq "$(grep -c "load level normal" "$COAPD_LOG")" 1 \
    "return to normal logged once"

finish
