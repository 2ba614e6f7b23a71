#!/usr/bin/env python3
"""echo-backend.py - an example coapd backend (coapd.conf(5), BACKEND
PROTOCOL), Python 3 standard library only.

    echo-backend.py [--state FILE] [--obs-interval S] [--max-age S] [--con]
                    [-v] SOCKET_PATH
    echo-backend.py [...] --udp HOST:PORT

A backend is a plain CoAP server (RFC 7252) on a SOCK_DGRAM socket: one
message per datagram, each answered to the address it came from.  This one
answers every request with a piggybacked ACK (same Message ID and token):

  GET /big?n=N    N bytes ("%07d\\n" lines), Block2 (RFC 7959) as asked
  GET /never      no answer at all (to see coapd's timeout_s)
  GET /slow?ms=N  "slow", after sleeping N ms (default 3): a backend that
                  reads slowly, whose socket queue fills
  GET /obs        "tick N"; with Observe=0 a registration (RFC 7641): a NON
                  (--con: CON) notification every --obs-interval s, with
                  Max-Age --max-age when given, until an RST to one of
                  them, or a GET with Observe=1, ends it
  GET, DELETE     "METHOD PATH from CLIENT identity ID", from option 65000
                  (the client's "addr:port") and 65002 (its PSK identity)
  PUT, POST       2.04 with the body echoed; with Block1 each block is
                  2.31 Continue and the last 2.04 "LEN bytes sha256 HEX"

--state FILE gets JSON counters (requests, registrations, deregistrations,
...) after every change, for tests.
"""

import argparse, collections, hashlib, json, os, selectors, signal, socket
import struct, sys, time

CON, NON, ACK, RST = 0, 1, 2, 3
GET, POST, PUT, DELETE = 1, 2, 3, 4
OBSERVE, URI_PATH, CFORMAT, URI_QUERY = 6, 11, 12, 15
BLOCK2, BLOCK1, SIZE2, SIZE1 = 23, 27, 28, 60
OPT_CLIENT, OPT_IDENTITY = 65000, 65002
# Options understood (or safely ignored); another critical (odd) one: 4.02.
KNOWN = {1, 3, 4, 5, 6, 7, 11, 12, 15, 17, 23, 27, 28, 60, 258, 292,
         OPT_CLIENT, OPT_IDENTITY}
METHODS = {GET: "GET", POST: "POST", PUT: "PUT", DELETE: "DELETE"}


def c(cls, detail):
    return cls << 5 | detail


# --- the codec: RFC 7252 §3 ----------------------------------------------

def decode(raw):
    """(type, code, mid, token, [(number, value)], payload); ValueError."""
    if len(raw) < 4 or raw[0] >> 6 != 1 or raw[0] & 15 > 8:
        raise ValueError("bad header")
    tkl = raw[0] & 15
    mtype, code, mid = raw[0] >> 4 & 3, raw[1], struct.unpack("!H", raw[2:4])[0]
    token, i, num, opts, payload = raw[4:4 + tkl], 4 + tkl, 0, [], b""
    if len(token) != tkl:
        raise ValueError("short token")

    def ext(n, i):
        if n == 13:
            return raw[i] + 13, i + 1
        if n == 14:
            return struct.unpack("!H", raw[i:i + 2])[0] + 269, i + 2
        if n == 15:
            raise ValueError("nibble 15")
        return n, i
    try:
        while i < len(raw):
            if raw[i] == 0xFF:
                payload = raw[i + 1:]
                if not payload:
                    raise ValueError("marker without payload")
                break
            delta, length, i = raw[i] >> 4, raw[i] & 15, i + 1
            delta, i = ext(delta, i)
            length, i = ext(length, i)
            if i + length > len(raw):
                raise ValueError("option past the end")
            num += delta
            opts.append((num, raw[i:i + length]))
            i += length
    except (IndexError, struct.error):
        raise ValueError("truncated option")
    return mtype, code, mid, token, opts, payload


def nibble(n):
    if n < 13:
        return n, b""
    if n < 269:
        return 13, bytes([n - 13])
    return 14, struct.pack("!H", n - 269)


def encode(mtype, code, mid, token=b"", opts=(), payload=b""):
    out = bytearray([0x40 | mtype << 4 | len(token), code])
    out += struct.pack("!H", mid) + token
    last = 0
    for num, val in sorted(opts, key=lambda o: o[0]):    # stable
        (dn, de), (ln, le) = nibble(num - last), nibble(len(val))
        out += bytes([dn << 4 | ln]) + de + le + val
        last = num
    if payload:
        out += b"\xff" + payload
    return bytes(out)


def uint(v):
    return v.to_bytes((v.bit_length() + 7) // 8, "big")     # 0: b""


def opt_uint(opts, num):
    v = [val for n, val in opts if n == num]
    return int.from_bytes(v[0], "big") if v else None


def opt_text(opts, num, default=None):
    v = [val for n, val in opts if n == num]
    return v[0].decode("utf-8", "replace") if v else default


# --- the server -------------------------------------------------------------

class Backend:
    def __init__(self, sock, args):
        self.sock, self.args = sock, args
        self.mid = int.from_bytes(os.urandom(2), "big")
        self.seen = collections.OrderedDict()  # (peer, mid) -> reply | None
        self.uploads = {}                      # Block1 bodies being received
        self.observers = {}                    # (peer, token) -> True
        self.notified = collections.OrderedDict()  # notification mid -> key
        self.tick = 0
        self.stats = dict(requests=0, registrations=0, deregistrations=0,
                          notifications=0, rsts=0, dropped=0, observers=0,
                          acks=0)
        self.save()

    def log(self, *a):
        if self.args.verbose:
            print("echo-backend:", *a, file=sys.stderr, flush=True)

    def save(self):
        if not self.args.state:
            return
        self.stats["observers"] = len(self.observers)
        tmp = self.args.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.stats, f)
        os.replace(tmp, self.args.state)       # readers never see half

    def send(self, data, peer):
        try:
            self.sock.sendto(data, peer)
            return True
        except OSError as e:                   # peer gone, buffer full
            self.log("send to %r: %s" % (peer, e))
            return False

    def next_mid(self):
        self.mid = (self.mid + 1) & 0xFFFF
        return self.mid

    def datagram(self, raw, peer):
        try:
            mtype, code, mid, token, opts, payload = decode(raw)
        except ValueError as e:
            return self.log("malformed datagram: %s" % e)
        if mtype == RST:                       # stop observing, RFC 7641 §3.6
            self.stats["rsts"] += 1
            key = self.notified.pop(mid, None)
            if key in self.observers and key[0] == peer:
                self.deregister(key, "RST")
            return self.save()
        if mtype == ACK and code == 0 and mid in self.notified:
            self.stats["acks"] += 1            # a CON notification ACKed
            return self.save()
        if mtype == ACK or code >> 5 != 0:     # ACK, or a response: not ours
            if mtype == CON:
                self.send(encode(RST, 0, mid), peer)
            return
        if code == 0:                          # CoAP ping
            if mtype == CON:
                self.send(encode(RST, 0, mid), peer)
            return
        if (peer, mid) in self.seen:           # a duplicate, RFC 7252 §4.5
            if self.seen[(peer, mid)] is not None:
                self.send(self.seen[(peer, mid)], peer)
            return
        self.stats["requests"] += 1
        out = self.request(code, token, opts, payload, peer)
        reply = None
        if out is not None:
            rcode, ropts, rpayload = out
            reply = encode(ACK if mtype == CON else NON, rcode,
                           mid if mtype == CON else self.next_mid(), token,
                           ropts, rpayload)
            self.send(reply, peer)
        self.seen[(peer, mid)] = reply
        while len(self.seen) > 1024:
            self.seen.popitem(last=False)
        self.save()

    def request(self, code, token, opts, payload, peer):
        """(code, options, payload) to answer with, or None for silence."""
        bad = [n for n, _ in opts if n & 1 and n not in KNOWN]
        if bad:
            return c(4, 2), [], b"unknown critical option %d" % bad[0]
        segs = [v.decode("utf-8", "replace") for n, v in opts if n == URI_PATH]
        query = [v.decode("utf-8", "replace") for n, v in opts
                 if n == URI_QUERY]
        path = "/" + "/".join(segs)
        method = METHODS.get(code)
        self.log(method or code, path, query, "from", peer)
        if method is None:
            return c(4, 5), [], b""
        if path == "/never":
            return None
        if path == "/slow" and method == "GET":
            ms = next((int(q[3:]) for q in query if q.startswith("ms=")), 3)
            time.sleep(min(ms, 1000) / 1000.0)
            return c(2, 5), [], b"slow"
        if path == "/big" and method == "GET":
            n = next((int(q[2:]) for q in query if q.startswith("n=")), 5000)
            body = b"".join(b"%07d\n" % i for i in range(n // 8 + 1))[:n]
            return self.block2(body, opts)
        if path == "/obs" and method == "GET":
            return self.observe(token, opts, peer)
        if method in ("PUT", "POST"):
            return self.upload(path, token, opts, payload, peer)
        text = "%s %s%s from %s identity %s" % (
            method, path, "?" + "&".join(query) if query else "",
            opt_text(opts, OPT_CLIENT, "-"), opt_text(opts, OPT_IDENTITY, "-"))
        return (c(2, 2) if method == "DELETE" else c(2, 5),
                [(CFORMAT, b"")], text.encode())

    def block2(self, body, opts):
        """RFC 7959 §2.4: the block asked for, 1024 bytes at most."""
        b2 = opt_uint(opts, BLOCK2)
        num, szx = (0, 6) if b2 is None else (b2 >> 4, min(b2 & 7, 6))
        if szx == 7:
            return c(4, 2), [], b"szx 7"
        size = 16 << szx
        if b2 is None and len(body) <= size:
            return c(2, 5), [(CFORMAT, b"")], body
        if num * size >= len(body) and num > 0:
            return c(4, 2), [], b"block past the end"
        more = (num + 1) * size < len(body)
        ropts = [(CFORMAT, b""), (BLOCK2, uint(num << 4 | more << 3 | szx))]
        if num == 0:
            ropts.append((SIZE2, uint(len(body))))
        return c(2, 5), ropts, body[num * size:(num + 1) * size]

    def upload(self, path, token, opts, payload, peer):
        """PUT/POST: echo the body; with Block1 (RFC 7959 §2.5) gather it."""
        b1 = opt_uint(opts, BLOCK1)
        if b1 is None:
            return c(2, 4), [], payload
        num, more, szx = b1 >> 4, b1 >> 3 & 1, b1 & 7
        if szx == 7:
            return c(4, 2), [], b"szx 7"
        # One body per peer, client of coapd, path and Request-Tag.
        key = (peer, opt_text(opts, OPT_CLIENT), path,
               tuple(v for n, v in opts if n == 292))
        body = self.uploads.pop(key, b"") if num > 0 else b""
        if num * (16 << szx) != len(body):
            return c(4, 8), [], b"expected block %d" % (len(body) >> 4 + szx)
        body += payload
        if more:
            if len(self.uploads) > 64:          # bound what strangers cost
                self.uploads.pop(next(iter(self.uploads)))
            self.uploads[key] = body
            return c(2, 31), [(BLOCK1, uint(b1))], b""
        text = "%d bytes sha256 %s" % (len(body),
                                        hashlib.sha256(body).hexdigest())
        return c(2, 4), [(BLOCK1, uint(num << 4 | szx))], text.encode()

    def observe(self, token, opts, peer):
        obs, key = opt_uint(opts, OBSERVE), (peer, token)
        ropts = [(CFORMAT, b"")] + self.max_age()
        if obs == 0:
            if key not in self.observers:
                self.stats["registrations"] += 1
            self.observers[key] = True
            ropts.append((OBSERVE, uint(self.tick & 0xFFFFFF)))
        elif obs == 1 and key in self.observers:
            self.deregister(key, "Observe=1")
        return c(2, 5), ropts, b"tick %d" % self.tick

    def max_age(self):
        if self.args.max_age is None:
            return []
        return [(14, uint(self.args.max_age))]    # Max-Age

    def deregister(self, key, why):
        del self.observers[key]
        self.stats["deregistrations"] += 1
        self.log("deregistered token %s (%s)" % (key[1].hex(), why))

    def notify(self):
        """Every --obs-interval s: a NON notification to every observer."""
        self.tick += 1
        had = bool(self.observers)
        for key in list(self.observers):
            peer, token = key
            mid = self.next_mid()
            msg = encode(CON if self.args.con else NON, c(2, 5), mid, token,
                         [(OBSERVE, uint(self.tick & 0xFFFFFF)),
                          (CFORMAT, b"")] + self.max_age(),
                         b"tick %d" % self.tick)
            if self.send(msg, peer):
                self.stats["notifications"] += 1
                self.notified[mid] = key
            else:                               # the peer is gone
                del self.observers[key]
                self.stats["dropped"] += 1
        while len(self.notified) > 4096:
            self.notified.popitem(last=False)
        if had:
            self.save()


def main():
    ap = argparse.ArgumentParser(description="an example coapd backend")
    ap.add_argument("path", nargs="?", help="Unix datagram socket to bind")
    ap.add_argument("--udp", metavar="HOST:PORT", help="bind UDP instead")
    ap.add_argument("--state", metavar="FILE", help="write counters here")
    ap.add_argument("--obs-interval", type=float, default=0.5)
    ap.add_argument("--max-age", type=int, help="Max-Age of /obs answers")
    ap.add_argument("--con", action="store_true",
                    help="confirmable notifications")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if bool(args.path) == bool(args.udp):
        ap.error("give a socket path or --udp HOST:PORT")
    if args.udp:
        host, _, port = args.udp.rpartition(":")
        host = host.strip("[]")
        sock = socket.socket(socket.AF_INET6 if ":" in host else
                             socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, int(port)))
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if os.path.exists(args.path):          # left by an earlier run
            os.unlink(args.path)
        sock.bind(args.path)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    be = Backend(sock, args)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    due = time.monotonic() + args.obs_interval
    try:
        while True:
            if sel.select(max(0.0, due - time.monotonic())):
                raw, peer = sock.recvfrom(65536)
                if peer:                       # an unbound sender: no reply
                    be.datagram(raw, peer)
            if time.monotonic() >= due:
                be.notify()
                due = time.monotonic() + args.obs_interval
    except KeyboardInterrupt:
        pass
    finally:
        if args.path and os.path.exists(args.path):
            os.unlink(args.path)


if __name__ == "__main__":
    main()
