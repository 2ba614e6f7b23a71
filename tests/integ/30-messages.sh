#!/bin/bash
# 30-messages: the message layer and the error contract, with hand-written
# datagrams: ping, malformed CON/NON, unknown critical options, proxying,
# methods, Accept, deduplication of CON and NON, ETag validation.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
make_www
std_conf "$T/coapd.conf"
start_coapd "$T/coapd.conf"

py_checks "raw message checks" <<'EOF'
import os
import struct
import time
import coap
from coap import Client, Checker, encode, Msg, CON, NON, ACK, RST
from coap import read_file, replace_file

port = int(os.environ["PORT"])
www = os.path.join(os.environ["T"], "www")
hello = os.path.join(www, "hello.txt")
ck = Checker("30-messages")

def hdr(t, tkl, code, mid):
    return bytes([0x40 | (t << 4) | tkl, code]) + struct.pack("!H", mid)

def expect_rst(c, data, what):
    mid = struct.unpack("!H", data[2:4])[0]
    c.send(data)
    raw = c.recv(1.0)
    if raw is None:
        return ck.ok(False, what, "no answer, want RST")
    try:
        m = Msg(raw)
    except ValueError as e:
        return ck.ok(False, what, "undecodable answer %r (%s)" % (raw, e))
    ck.ok(m.type == RST and m.code == 0 and m.mid == mid and
          not m.token and not m.options and not m.payload,
          what, "got %r, want empty RST mid=%d" % (m, mid))

def expect_silence(c, data, what, window=0.5):
    c.send(data)
    got = c.recv_all(window)
    ck.ok(not got, what, "got %r" % [Msg(g) if len(g) >= 4 else g
                                     for g in got][:3])

with Client(port) as c:
    # --- ping and malformed messages (RFC 7252 §4.2, §4.3) -------------
    expect_rst(c, hdr(CON, 0, 0, 0x1234), "empty CON (ping) gets RST, same MID")
    expect_rst(c, hdr(CON, 9, 1, 0x1235) + b"\x00" * 9,
               "CON with token length 9 gets RST")
    expect_rst(c, hdr(CON, 15, 1, 0x1236), "CON with token length 15 gets RST")
    expect_rst(c, hdr(CON, 4, 1, 0x1237) + b"\x01\x02",
               "CON with a truncated token gets RST")
    expect_rst(c, hdr(CON, 0, 1, 0x1238) + b"\xf1\x00",
               "CON with option delta nibble 15 gets RST")
    expect_rst(c, hdr(CON, 0, 1, 0x1239) + b"\xbf" + b"x" * 20,
               "CON with option length nibble 15 gets RST")
    expect_rst(c, hdr(CON, 0, 1, 0x123a) + b"\xb5ab",
               "CON with an option running past the end gets RST")
    expect_rst(c, hdr(CON, 0, 1, 0x123b) + b"\xb5hello\xff",
               "CON with a payload marker and no payload gets RST")
    expect_rst(c, hdr(CON, 0, 1, 0x123c) + b"\xe0\xff",
               "CON with a truncated extended option delta gets RST")
    expect_rst(c, hdr(CON, 1, 0, 0x123d) + b"\x07",
               "empty CON with a token gets RST")
    expect_rst(c, hdr(CON, 0, 0, 0x123e) + b"\xb1a",
               "empty CON with an option gets RST")
    expect_rst(c, hdr(CON, 0, coap.CONTENT, 0x123f),
               "CON carrying a response code gets RST")

    expect_silence(c, hdr(NON, 9, 1, 0x1240) + b"\x00" * 9,
                   "NON with token length 9: no answer")
    expect_silence(c, hdr(NON, 0, 1, 0x1241) + b"\xf1\x00",
                   "NON with option delta nibble 15: no answer")
    expect_silence(c, hdr(NON, 0, 0, 0x1242), "empty NON: no answer")
    expect_silence(c, hdr(ACK, 0, 0, 0x1243), "stray ACK: no answer")
    expect_silence(c, hdr(RST, 0, 0, 0x1244), "stray RST: no answer")
    expect_silence(c, bytes([0x80, 1, 0x12, 0x45]) + b"\xb5hello",
                   "version 2 CON: silently ignored (RFC 7252 §3)")
    expect_silence(c, b"\x40\x01\x12", "3-byte datagram: no answer")
    expect_silence(c, b"", "empty datagram: no answer")

    # --- options (§5.4.1) --------------------------------------------------
    m = c.get("/hello", options=[(65001, b"x")])
    ck.code(m, coap.BAD_OPTION, "unknown critical option 65001 in CON is 4.02")
    m = c.get("/hello", options=[(13, b"")])
    ck.code(m, coap.BAD_OPTION, "unknown critical option 13 in CON is 4.02")
    m = c.get("/hello", options=[(65000, b"x"), (2048, b"y")])
    ck.code(m, coap.CONTENT, "unknown elective options are ignored")
    m = c.get("/hello", options=[(coap.URI_PORT, b"\x01\x02\x03")])
    ck.code(m, coap.BAD_OPTION, "Uri-Port of 3 bytes (bad length) is 4.02")
    m = c.request(coap.GET, "/hello", mtype=NON, options=[(65001, b"x")],
                  timeout=0.5)
    ck.ok(m is None or m.code != coap.CONTENT,
          "unknown critical option in NON is not served", repr(m))

    # --- proxying (§5.7.2) -------------------------------------------------
    m = c.request(coap.GET, "/", options=[(coap.PROXY_URI,
                                           b"coap://127.0.0.1/hello")])
    ck.code(m, coap.PROXYING_NOT_SUPPORTED, "Proxy-Uri is 5.05")
    m = c.get("/hello", options=[(coap.PROXY_SCHEME, b"http"),
                                 (coap.URI_HOST, b"127.0.0.1")])
    ck.code(m, coap.PROXYING_NOT_SUPPORTED, "Proxy-Scheme is 5.05")

    # --- methods and Accept ------------------------------------------------
    before = read_file(hello)
    m = c.request(coap.PUT, "/hello", payload=b"overwritten",
                  options=[(coap.CONTENT_FORMAT, 0)])
    ck.code(m, coap.METHOD_NOT_ALLOWED, "PUT on a read-only route is 4.05")
    m = c.request(coap.DELETE, "/hello")
    ck.code(m, coap.METHOD_NOT_ALLOWED, "DELETE on a read-only route is 4.05")
    m = c.request(coap.POST, "/files/hello.txt", payload=b"x")
    ck.code(m, coap.METHOD_NOT_ALLOWED, "POST on a read-only route is 4.05")
    m = c.request(coap.PUT, "/files/new.txt", payload=b"x")
    ck.code(m, coap.METHOD_NOT_ALLOWED, "PUT of a new file is 4.05")
    ck.eq(read_file(hello), before, "the file is unchanged")
    ck.ok(not os.path.exists(os.path.join(os.environ["T"], "www", "new.txt")),
          "no file was created")
    m = c.request(9, "/hello")
    ck.code(m, coap.METHOD_NOT_ALLOWED, "unknown method 0.09 is 4.05")

    m = c.get("/hello", options=[(coap.ACCEPT, 50)])
    ck.code(m, coap.NOT_ACCEPTABLE, "Accept: 50 for a text file is 4.06")
    m = c.get("/hello", options=[(coap.ACCEPT, 0)])
    ck.code(m, coap.CONTENT, "Accept: 0 for a text file is 2.05")
    m = c.get("/files/data.json", options=[(coap.ACCEPT, 50)])
    ck.code(m, coap.CONTENT, "Accept: 50 for a JSON file is 2.05")

    # --- ETag validation (§5.10.6.2) --------------------------------------
    m = c.get("/hello")
    et = m.opt(coap.ETAG) if m else None
    ck.ok(et is not None, "GET /hello has an ETag", repr(m))
    if et is not None:
        m = c.get("/hello", options=[(coap.ETAG, et)])
        ck.code(m, coap.VALID, "GET with the current ETag is 2.03")
        if m:
            ck.eq(m.payload, b"", "2.03 has no payload")
            ck.eq(m.opt(coap.ETAG), et, "2.03 carries the ETag")
        other = bytes(b ^ 0xff for b in et)
        m = c.get("/hello", options=[(coap.ETAG, other)])
        ck.code(m, coap.CONTENT, "GET with a stale ETag is 2.05")
        m = c.get("/hello", options=[(coap.ETAG, other), (coap.ETAG, et)])
        ck.code(m, coap.VALID, "GET listing the current ETag second is 2.03")

    # A rewrite in place with the same size is a new representation: its
    # ETag must differ (h_file.c: "size and nanosecond mtime catch rewrites
    # in place"), or a client revalidating keeps stale data.  The file is
    # larger than one block so no small-file cache is involved.
    inplace = os.path.join(www, "inplace.bin")
    replace_file(inplace, b"0000" + b"." * 2000)
    stale = 0
    for i in range(20):
        with open(inplace, "r+b") as f:
            f.write(b"A%03d" % i)
        m = c.get("/files/inplace.bin")
        with open(inplace, "r+b") as f:
            f.write(b"B%03d" % i)
        if m is not None and m.opt(coap.ETAG) is not None:
            m2 = c.get("/files/inplace.bin",
                       options=[(coap.ETAG, m.opt(coap.ETAG))])
            if m2 is None or m2.code != coap.CONTENT or \
                    not m2.payload.startswith(b"B%03d" % i):
                stale += 1
    ck.eq(stale, 0, "same-size rewrite in place: the old ETag never "
          "validates (failures of 20)")

    # --- deduplication (§4.5) ---------------------------------------------
    # big.txt is larger than a block, so every handler run reads the disk:
    # a duplicate answered by running the handler again would show the
    # new first block.
    big = os.path.join(www, "big.txt")
    old = read_file(big)
    req = c.build(coap.GET, "/files/big.txt")
    c.send(req)
    r1 = c.recv(2.0)
    replace_file(big, b"NEW FIRST BLOCK " * 200)
    c.send(req)
    r2 = c.recv(2.0)
    ck.ok(r1 is not None and r2 is not None, "both copies of a CON answered")
    if r1 is not None and r2 is not None:
        ck.eq(r2, r1, "duplicate CON gets a byte-identical answer")
        ck.ok(old.startswith(Msg(r2).payload) and Msg(r2).payload,
              "duplicate CON answered from the exchange cache (old content)",
              repr(Msg(r2)))
    m = c.get("/files/big.txt")
    ck.ok(m is not None and m.payload.startswith(b"NEW FIRST BLOCK"),
          "a new MID sees the new content", repr(m))
    replace_file(big, old)

    # A small file replaced by rename is served new as soon as the main
    # thread has read the inotify event (fcache.h): microseconds on an idle
    # machine, so allow 0.5 s for a loaded one (the age bound is 1 s).
    c.get("/hello")
    replace_file(hello, b"replaced by rename\n")
    t_end = time.monotonic() + 0.5
    while True:
        m = c.get("/hello")
        if (m is not None and m.payload == b"replaced by rename\n") or \
                time.monotonic() >= t_end:
            break
        time.sleep(0.01)
    ck.ok(m is not None and m.payload == b"replaced by rename\n",
          "a small file replaced by rename is served new within 0.5 s",
          repr(m))
    time.sleep(1.2)
    m = c.get("/hello")
    ck.ok(m is not None and m.payload == b"replaced by rename\n",
          "... and 1.2 s later", repr(m))

    c.drain()
    req = c.build(coap.GET, "/hello", mtype=NON)
    c.send(req)
    c.send(req)
    got = c.recv_all(0.7)
    ck.eq(len(got), 1, "duplicate NON answered once")

    # A duplicate of a CON that got an error answer is also deduplicated.
    req = c.build(coap.GET, "/nope")
    c.send(req)
    r1 = c.recv(2.0)
    c.send(req)
    r2 = c.recv(2.0)
    ck.ok(r1 is not None and r1 == r2, "duplicate CON for a 4.04: same bytes")

    # Errors for a NON request come back as NON (RFC 7252 §5.2.3).
    m = c.request(coap.GET, "/nope", mtype=NON, token=b"\x33")
    ck.code(m, coap.NOT_FOUND, "NON GET /nope is 4.04")
    if m:
        ck.eq(m.type, NON, "error answer to a NON is a NON")

    # Datagrams larger than any receive buffer: at most one well-formed
    # answer each, and the daemon goes on.
    for size in (1500, 4096, 9000, 65000):
        dg = c.build(coap.GET, "/hello", payload=b"P" * size)
        c.drain()
        c.send(dg)
        got = c.recv_all(0.3)
        ok = len(got) <= 1
        for g in got:
            try:
                ok = ok and Msg(g).mid == Msg(dg).mid
            except ValueError:
                ok = False
        ck.ok(ok, "a %d-byte GET: at most one well-formed answer" % size,
              repr(got[:2]))
    ck.code(c.get("/hello"), coap.CONTENT, "served after oversized datagrams")

    # A ping's MID and a later request's MID are independent exchanges.
    c.send(hdr(CON, 0, 0, 0x2222))
    c.recv(1.0)
    m = c.request(coap.GET, "/hello", mid=0x2223)
    ck.code(m, coap.CONTENT, "server still serves after the message tests")
ck.done()
EOF

finish
