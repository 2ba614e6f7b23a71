#!/usr/bin/env python3
"""dtls_hello.py - raw DTLS 1.2 ClientHellos for the DTLS tests.

  dtls_hello.py flood HOST PORT NPORTS PER_PORT
      Send NPORTS*PER_PORT cookieless ClientHellos from NPORTS source
      ports (each socket bound to a fresh port), as fast as possible, then
      count the HelloVerifyRequests that came back within 1 s.  Prints
      "sent N in S s, hvr M" and exits 0.
  dtls_hello.py cookie HOST PORT
      Send one ClientHello, check the HelloVerifyRequest (RFC 6347
      4.2.1: record sequence of the hello, 32-byte cookie), send the hello
      again with the cookie and expect a ServerHello.  Exit 0 or 1.
  dtls_hello.py halfopen HOST PORT N
      From N source ports, one after the other: ClientHello,
      HelloVerifyRequest, ClientHello with the cookie, ServerHello; then
      never a next flight (a handshake left half-open, no PSK needed).
      Prints "halfopen N of M" (ServerHellos seen) and exits 0.
"""
import os
import select
import socket
import struct
import sys
import time

# TLS_PSK_WITH_AES_128_CCM_8, TLS_PSK_WITH_CHACHA20_POLY1305_SHA256,
# TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256
SUITES = bytes.fromhex("c0a8ccabc037")


def client_hello(rec_seq, msg_seq=0, cookie=b"", random=None):
    random = random or os.urandom(32)
    body = (b"\xfe\xfd" + random + b"\x00" + bytes([len(cookie)]) + cookie
            + struct.pack(">H", len(SUITES)) + SUITES + b"\x01\x00\x00\x00")
    hs = (b"\x01" + len(body).to_bytes(3, "big") + struct.pack(">H", msg_seq)
          + b"\x00\x00\x00" + len(body).to_bytes(3, "big") + body)
    rec = (b"\x16\xfe\xff" + b"\x00\x00" + rec_seq.to_bytes(6, "big")
           + struct.pack(">H", len(hs)) + hs)
    return rec, random


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def flood(host, port, nports, per_port):
    socks = []
    for _ in range(nports):
        s = socket.socket(family(host), socket.SOCK_DGRAM)
        s.bind((host, 0))
        s.setblocking(False)
        socks.append(s)
    hello, _ = client_hello(0)
    t0 = time.monotonic()
    sent = 0
    for i in range(per_port):
        for s in socks:
            try:
                s.sendto(hello, (host, port))
                sent += 1
            except (BlockingIOError, ConnectionRefusedError):
                pass
    secs = time.monotonic() - t0
    hvr = 0
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        r, _, _ = select.select(socks, [], [], 0.1)
        if not r and hvr >= sent:
            break
        for s in r:
            while True:
                try:
                    d = s.recv(2048)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                if len(d) > 13 and d[0] == 22 and d[13] == 3:
                    hvr += 1
    for s in socks:
        s.close()
    print("sent %d in %.3f s, hvr %d" % (sent, secs, hvr))
    return 0


def cookie(host, port):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.connect((host, port))
    s.settimeout(2)
    hello, rnd = client_hello(7)
    s.send(hello)
    d = s.recv(2048)
    ok = True
    if not (d[0] == 22 and d[13] == 3):
        print("not a HelloVerifyRequest: %s" % d.hex())
        return 1
    if d[5:11] != (7).to_bytes(6, "big"):
        print("HVR record sequence %s, want 7" % d[5:11].hex())
        ok = False
    clen = d[13 + 12 + 2]
    ck = d[13 + 12 + 3:13 + 12 + 3 + clen]
    if clen != 32:
        print("cookie of %d bytes" % clen)
        ok = False
    # a wrong cookie gets another HelloVerifyRequest, no session
    bad, _ = client_hello(8, 1, bytes(32), rnd)
    s.send(bad)
    d = s.recv(2048)
    if not (d[0] == 22 and d[13] == 3):
        print("a bad cookie was not answered with HVR: %s" % d[:32].hex())
        ok = False
    good, _ = client_hello(9, 1, ck, rnd)
    s.send(good)
    d = s.recv(2048)
    if not (d[0] == 22 and d[13] == 2):
        print("no ServerHello after the cookie: %s" % d[:32].hex())
        ok = False
    s.close()
    print("cookie exchange %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


def halfopen(host, port, n):
    socks = []
    got = 0
    for i in range(n):
        s = socket.socket(family(host), socket.SOCK_DGRAM)
        s.bind((host, 0))
        s.connect((host, port))
        s.settimeout(1)
        socks.append(s)
        try:
            hello, rnd = client_hello(0)
            s.send(hello)
            d = s.recv(2048)
            if not (d[0] == 22 and d[13] == 3):
                continue
            clen = d[13 + 12 + 2]
            ck = d[13 + 12 + 3:13 + 12 + 3 + clen]
            good, _ = client_hello(1, 1, ck, rnd)
            s.send(good)
            d = s.recv(2048)
            if d[0] == 22 and d[13] == 2:
                got += 1
        except (socket.timeout, ConnectionRefusedError):
            pass
    for s in socks:
        s.close()
    print("halfopen %d of %d" % (got, n))
    return 0


def main(argv):
    if len(argv) == 6 and argv[1] == "flood":
        return flood(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    if len(argv) == 5 and argv[1] == "halfopen":
        return halfopen(argv[2], int(argv[3]), int(argv[4]))
    if len(argv) == 4 and argv[1] == "cookie":
        return cookie(argv[2], int(argv[3]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
