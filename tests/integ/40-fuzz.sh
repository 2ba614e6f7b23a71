#!/bin/bash
# 40-fuzz: 20,000 random and mutated datagrams from several sources (at most
# ~10 s); afterwards the daemon is alive, serves a normal client and exits
# cleanly.  FUZZ_SEED=N repeats a run; FUZZ_COUNT=N changes the count.
#
# No valgrind run: valgrind 3.19 treats io_uring_enter as a non-blocking
# system call and keeps its big lock across it, so a worker waiting for
# completions starves the main thread and coapd never finishes starting.
# Memory errors are the job of the ASan/UBSan fuzz targets (make fuzz).
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
export FUZZ_SEED=${FUZZ_SEED:-$RANDOM$RANDOM}
export FUZZ_COUNT=${FUZZ_COUNT:-20000}
export FUZZ_SECONDS=${FUZZ_SECONDS:-10}
make_www
std_conf "$T/coapd.conf"

fuzz() {
	py_checks "fuzz run (seed $FUZZ_SEED, $FUZZ_COUNT datagrams)" <<'EOF'
import os
import random
import socket
import struct
import time
import coap
from coap import Client, Checker, encode

port = int(os.environ["PORT"])
seed = int(os.environ["FUZZ_SEED"])
count = int(os.environ["FUZZ_COUNT"])
budget = float(os.environ["FUZZ_SECONDS"])
rnd = random.Random(seed)
ck = Checker("40-fuzz")
code429 = coap.code(4, 29)
print("# seed %d" % seed)

# Valid requests to mutate.
seeds = [
    encode(coap.CON, coap.GET, 1, b"\x01\x02", coap.uri_options("/hello")),
    encode(coap.NON, coap.GET, 2, b"", coap.uri_options("/files/data.json")),
    encode(coap.CON, coap.GET, 3, b"abcdefgh",
           coap.uri_options("/.well-known/core?rt=greeting")),
    encode(coap.CON, coap.GET, 4, b"\x09",
           coap.uri_options("/files/big.txt") + [(coap.BLOCK2, 0x16)]),
    encode(coap.CON, coap.PUT, 5, b"\x01", coap.uri_options("/hello") +
           [(coap.CONTENT_FORMAT, 0), (coap.BLOCK1, 0x0e)], b"x" * 64),
    encode(coap.CON, coap.GET, 6, b"", coap.uri_options("/hello") +
           [(coap.ETAG, b"12345678"), (coap.ACCEPT, 0), (coap.OBSERVE, 0)]),
    encode(coap.CON, coap.POST, 7, b"\x07\x07",
           coap.uri_options("/files/sub/deep.txt") + [(coap.SIZE1, 99999)],
           b"payload"),
    encode(coap.CON, 0, 8),
    encode(coap.CON, coap.GET, 9, b"",
           [(coap.PROXY_URI, b"coap://127.0.0.1/x"), (65001, b"\xff" * 300)]),
    encode(coap.CON, coap.GET, 10, b"",
           [(coap.URI_PATH, b"files"), (coap.URI_PATH, b"..")] +
           [(coap.URI_QUERY, b"q=%d" % i) for i in range(60)]),
]

def mutate(d):
    d = bytearray(d)
    for _ in range(rnd.randint(1, 6)):
        op = rnd.randrange(7)
        if op == 0 and d:
            i = rnd.randrange(len(d))
            d[i] ^= 1 << rnd.randrange(8)
        elif op == 1 and d:
            d[rnd.randrange(len(d))] = rnd.randrange(256)
        elif op == 2:
            d[rnd.randint(0, len(d)):rnd.randint(0, len(d))] = b""
        elif op == 3:
            i = rnd.randint(0, len(d))
            d[i:i] = rnd.randbytes(rnd.randint(1, 16))
        elif op == 4:
            # An extreme option header: nibbles 13/14/15 with short tails.
            i = rnd.randint(4, max(4, len(d)))
            d[i:i] = bytes([rnd.choice([0xd0, 0xe0, 0xdd, 0xee, 0x0d,
                                        0x0e, 0xff, 0xf0, 0x0f, 0xed])])
        elif op == 5 and len(d) >= 1:
            d[0] = (d[0] & 0xf0) | rnd.randrange(16)   # token length
        elif op == 6:
            d = d[:rnd.randint(0, len(d))]
    return bytes(d)

def random_dgram():
    k = rnd.randrange(10)
    if k == 0:
        return rnd.randbytes(rnd.randint(0, 8))
    if k == 1:
        return rnd.randbytes(rnd.randint(0, 1400))
    if k == 2:
        # CoAP-shaped header, random rest.
        return bytes([0x40 | rnd.randrange(64), rnd.randrange(256)]) + \
            rnd.randbytes(rnd.randint(2, 100))
    return mutate(rnd.choice(seeds))

# Several sources: different hosts of 127/8, and ::1.
socks = []
for src in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.2"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    socks.append(s)
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::1", 0))
s.connect(("::1", port))
s.setblocking(False)
socks.append(s)

sent = answers = 0
start = time.monotonic()
for i in range(count):
    if time.monotonic() - start > budget:
        break
    s = socks[i % len(socks)]
    try:
        s.send(random_dgram())
        sent += 1
    except (BlockingIOError, ConnectionRefusedError, OSError):
        pass
    if i % 64 == 63:
        # Read answers so our receive queues stay short, and pace the
        # sender a little so the daemon's queue is not simply overrun.
        for t in socks:
            for _ in range(256):
                try:
                    t.recv(2048)
                    answers += 1
                except (BlockingIOError, ConnectionRefusedError):
                    break
        time.sleep(0.0005)
elapsed = time.monotonic() - start
print("# sent %d datagrams in %.1f s, %d answers read" %
      (sent, elapsed, answers))
ck.ok(sent >= min(count, 5000), "sent at least %d datagrams" % min(count, 5000),
      "sent %d" % sent)
ck.ok(answers > 0, "the daemon answered some of them")
for t in socks:
    t.close()

# A host that took part may be rate limited (4.29, RFC 8516), never
# ignored; a host that did not must be served.
for host, src in (("127.0.0.1", "127.0.0.2"), ("::1", "::1")):
    with Client(port, host=host, src=src) as c:
        m = c.get("/hello")
        ck.ok(m is not None and m.code in (coap.CONTENT, code429),
              "GET from flooding source %s answered (2.05 or 4.29)" % src,
              repr(m))
with Client(port, src="127.0.0.9") as c:
    m = c.get("/hello")
    ck.code(m, coap.CONTENT, "GET from a fresh host after the fuzz")
    # Deduplication still works after the exchange caches were stirred:
    # big.txt (read from disk on every handler run) changes between a CON
    # and its retransmission; the retransmission gets the same bytes.
    big = os.path.join(os.environ["T"], "www", "big.txt")
    with open(big, "rb") as f:
        old = f.read()
    req = c.build(coap.GET, "/files/big.txt")
    c.drain()
    c.send(req)
    r1 = c.recv(2.0)
    with open(big + ".new", "wb") as f:
        f.write(b"changed after the fuzz " * 100)
    os.rename(big + ".new", big)
    c.send(req)
    r2 = c.recv(2.0)
    ck.ok(r1 is not None and r1 == r2, "duplicate CON after the fuzz: "
          "same bytes", "%r / %r" % (r1, r2))
    with open(big + ".new", "wb") as f:
        f.write(old)
    os.rename(big + ".new", big)
ck.done()
EOF
}

start_coapd "$T/coapd.conf"
pid=$COAPD_PID
fuzz
assert_true "coapd (PID $pid) is still alive after the fuzz" alive "$pid"
coap_get "coap://127.0.0.1:$PORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "GET with coap-client after the fuzz"
assert_not_contains "$(cat "$COAPD_LOG")" "fatal" "no fatal errors logged"
stop_coapd

finish
