#!/bin/bash
# 70-workers: with two workers every client host is served; a client's
# exchanges are keyed by its endpoint (address and port), so the same MID
# from two source ports of one host is two exchanges, not a duplicate.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
make_www
std_conf "$T/coapd.conf" "" 2
start_coapd "$T/coapd.conf"

# Main thread plus two workers at least.
ntask=$(ls "/proc/$COAPD_PID/task" | wc -l)
assert_true "coapd runs at least 3 threads (has $ntask)" test "$ntask" -ge 3

py_checks "raw multi-client checks" <<'EOF'
import os
import socket
import threading
import coap
from coap import Client, Checker, Msg
from coap import read_file, replace_file

port = int(os.environ["PORT"])
hello = os.path.join(os.environ["T"], "www", "hello.txt")
ck = Checker("70-workers")

content = read_file(hello)

# Many source hosts of 127/8: each lands on some worker; all are served.
bad = []
for i in range(1, 41):
    src = "127.0.0.%d" % i
    with Client(port, src=src) as c:
        m = c.get("/hello")
        if m is None or m.code != coap.CONTENT or m.payload != content:
            bad.append((src, m))
ck.ok(not bad, "40 source hosts all get 2.05 /hello", repr(bad[:5]))

with Client(port, host="::1") as c:
    ck.code(c.get("/hello"), coap.CONTENT, "::1 is served")

# The same source host from several ports: all served.
bad = []
for i in range(20):
    with Client(port, src="127.0.0.50") as c:
        m = c.get("/files/data.json")
        if m is None or m.code != coap.CONTENT:
            bad.append((c.local, m))
ck.ok(not bad, "20 source ports of one host all served", repr(bad[:5]))

# Concurrent clients: 16 threads, 25 CON requests each.
errors = []
lock = threading.Lock()

def worker(k):
    with Client(port, src="127.0.1.%d" % (k + 1)) as c:
        for _ in range(25):
            m = c.get("/hello", timeout=6.0, tries=3)
            if m is None or m.code != coap.CONTENT:
                with lock:
                    errors.append((k, m))

threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join(60)
ck.ok(not any(t.is_alive() for t in threads), "concurrent clients finished")
ck.ok(not errors, "400 concurrent requests from 16 hosts all 2.05",
      "%d failed: %r" % (len(errors), errors[:5]))

# Same MID and token from two ports of one host: two endpoints, two
# exchanges.  big.txt (more than one block, so read from disk on every
# handler run) changes in between: an answer from the first endpoint's
# exchange cache would show the old first block.
big = os.path.join(os.environ["T"], "www", "big.txt")
old_big = read_file(big)
new_big = b"CHANGED BETWEEN THE TWO ENDPOINTS " * 100
a = Client(port, src="127.0.0.60")
b = Client(port, src="127.0.0.60")
try:
    # the host answers an Echo challenge first (RFC 9175): the raw
    # exchanges below then get 1 KiB blocks, not 4.01 (amplification guard)
    ck.code(a.get("/files/big.txt"), coap.CONTENT, "host verified by Echo")
    req = a.build(coap.GET, "/files/big.txt", mid=0x4242, token=b"\x42\x42")
    ra = a.exchange(req)
    ck.code(ra, coap.CONTENT, "first endpoint answered")
    replace_file(big, new_big)
    rb = b.exchange(req)
    ck.code(rb, coap.CONTENT, "second endpoint (same host, other port) answered")
    if ra and rb:
        ck.ok(ra.payload and old_big.startswith(ra.payload),
              "first endpoint got the old content", repr(ra))
        ck.ok(rb.payload and new_big.startswith(rb.payload),
              "second endpoint was not served from the first's exchange",
              repr(rb))
    # And the first endpoint still gets its cached answer.
    a.send(req)
    raw = a.recv(2.0)
    ck.ok(raw is not None and ra is not None and raw == ra.raw,
          "first endpoint's retransmission still gets the cached bytes")
finally:
    a.close()
    b.close()
    replace_file(big, old_big)

# Same MID from two hosts: two exchanges as well.
with Client(port, src="127.0.0.70") as a, Client(port, src="127.0.0.71") as b:
    req = a.build(coap.GET, "/files/data.json", mid=0x5151)
    ck.code(a.exchange(req), coap.CONTENT, "MID 0x5151 from 127.0.0.70")
    ck.code(b.exchange(req), coap.CONTENT, "MID 0x5151 from 127.0.0.71")

ck.done()
EOF

assert_not_contains "$(cat "$COAPD_LOG")" "cannot steer" \
    "clients are steered to workers by source address"

# Changing workers needs a restart: the reload is refused, the running
# threads go on serving.
pid=$COAPD_PID
std_conf "$T/coapd.conf" "" 3
kill -HUP "$pid"
for ((i = 0; i < 50; i++)); do
	grep -q "reload" "$COAPD_LOG" && break
	sleep 0.1
done
sleep 0.3
n2=$(ls "/proc/$pid/task" | wc -l)
assert_eq "$n2" "$ntask" "thread count unchanged after a reload with workers = 3"
assert_contains "$(cat "$COAPD_LOG")" \
    "workers: cannot change on reload (running 2, file 3)" \
    "the reload is refused, saying workers needs a restart"
coap_get "coap://127.0.0.1:$PORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "served after a reload with workers = 3"
stop_coapd

# workers = 0: one worker per online CPU.
std_conf "$T/coapd.conf" "" 0
start_coapd "$T/coapd.conf"
ncpu=$(nproc)
n0=$(ls "/proc/$COAPD_PID/task" | wc -l)
assert_true "workers = 0 starts one worker per CPU ($ncpu CPUs, $n0 threads)" \
    test "$n0" -ge $((ncpu + 1))
coap_get "coap://127.0.0.1:$PORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "served with workers = 0"

finish
