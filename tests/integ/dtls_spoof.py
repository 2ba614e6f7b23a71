#!/usr/bin/env python3
"""dtls_spoof.py - forged DTLS datagrams from a real client's address.

  dtls_spoof.py relay LPORT HOST PORT CPORT SECONDS
      A UDP relay: datagrams a client sends to 127.0.0.1:LPORT leave for
      HOST:PORT from one socket of the relay, and the answers go back to
      the client.  Every datagram sent to 127.0.0.1:CPORT (the control
      port) leaves for HOST:PORT from that same socket: to the server it
      comes from the client's address and port, as an off-path attacker's
      forged datagram would.  Exits after SECONDS.
      Once the server sent an encrypted record (epoch 1: the handshake is
      done), a HelloVerifyRequest from it (the answer to a forged hello)
      is not passed on but counted, a line "hvr dropped N" each: OpenSSL
      3.0's s_client stalls on one that arrives on an established session.
  dtls_spoof.py inject CPORT KIND
      Send one crafted datagram through the relay's control port.  KIND:
        short    a 23-byte application_data record (epoch 1), shorter
                 than any cipher's minimum
        header   a bare 13-byte record header (length 0)
        long     a header claiming 600 bytes, with 20 bytes after it
        garbage  a 60-byte application_data record of random bytes
        junk     a record of unknown content type 99, then garbage
        alert0   a plaintext fatal alert (epoch 0): handshake_failure
        hs0      a plaintext handshake record (epoch 0) of random bytes
        ccs      a bare change_cipher_spec (epoch 0, the 1-byte body)
        hello    a well-formed ClientHello with a fresh random and no
                 cookie (RFC 6347 §4.2.8: must not replace the session)
        cookie   the same with a 32-byte cookie of random bytes
"""
import os
import select
import socket
import struct
import sys
import time

from dtls_hello import client_hello


def relay(lport, host, port, cport, secs):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    lsock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    lsock.bind(("127.0.0.1", lport))
    csock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    csock.bind(("127.0.0.1", cport))
    up = socket.socket(fam, socket.SOCK_DGRAM)
    up.bind((host, 0))
    up.connect((host, port))
    client = None
    done, hvr = False, 0
    print("ready", flush=True)
    end = time.monotonic() + secs
    while time.monotonic() < end:
        r, _, _ = select.select([lsock, csock, up], [], [], 0.2)
        for s in r:
            try:
                d, a = s.recvfrom(65535)
            except OSError:
                continue
            if s is lsock:
                client = a
                up.send(d)
            elif s is csock:
                up.send(d)
            elif client is not None:
                if len(d) > 13 and d[3:5] != b"\0\0":
                    done = True
                elif done and len(d) > 13 and d[0] == 22 and d[13] == 3:
                    hvr += 1
                    print("hvr dropped %d" % hvr, flush=True)
                    continue
                lsock.sendto(d, client)
    return 0


def record(ctype, epoch, seq, body, length=None):
    n = len(body) if length is None else length
    return (bytes([ctype]) + b"\xfe\xfd" + struct.pack(">H", epoch)
            + seq.to_bytes(6, "big") + struct.pack(">H", n) + body)


def inject(cport, kind):
    seq = 1000 + int.from_bytes(os.urandom(2), "big")
    if kind == "short":
        d = record(23, 1, seq, os.urandom(10))
    elif kind == "header":
        d = record(23, 1, seq, b"")
    elif kind == "long":
        d = record(23, 1, seq, os.urandom(20), 600)
    elif kind == "garbage":
        d = record(23, 1, seq, os.urandom(47))
    elif kind == "junk":
        d = record(99, 1, seq, os.urandom(30)) + record(23, 1, seq + 1,
                                                        os.urandom(40))
    elif kind == "alert0":
        d = record(21, 0, seq, b"\x02\x28")
    elif kind == "hs0":
        d = record(22, 0, seq, os.urandom(40))
    elif kind == "ccs":
        d = record(20, 0, seq, b"\x01")
    elif kind == "hello":
        d = client_hello(seq)[0]
    elif kind == "cookie":
        d = client_hello(seq, cookie=os.urandom(32))[0]
    else:
        sys.stderr.write(__doc__)
        return 2
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(d, ("127.0.0.1", cport))
    s.close()
    return 0


def main(argv):
    if len(argv) == 7 and argv[1] == "relay":
        return relay(int(argv[2]), argv[3], int(argv[4]), int(argv[5]),
                     float(argv[6]))
    if len(argv) == 4 and argv[1] == "inject":
        return inject(int(argv[2]), argv[3])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
