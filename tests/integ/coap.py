"""coap.py - a raw CoAP (RFC 7252) codec and UDP client for the integration
tests.  The bytes are written by hand on purpose: the tests must be able to
send what no well-behaved CoAP library would (bad token lengths, reserved
nibbles, duplicate MIDs from chosen source ports).

Every socket is bound to a loopback address and connected to the daemon, so
nothing here talks off the host.  Every wait is bounded.

Used as a module by the test scripts (PYTHONPATH is set by lib.sh) and as a
small command line for lib.sh:

    python3 coap.py freeport              a UDP port free on 127.0.0.1 and ::1
    python3 coap.py wait HOST PORT PID S  wait <= S seconds for any answer
"""

import os
import random
import select
import socket
import struct
import sys
import time

CON, NON, ACK, RST = 0, 1, 2, 3
TYPE_NAMES = {CON: "CON", NON: "NON", ACK: "ACK", RST: "RST"}


def code(cls, detail):
    return (cls << 5) | detail


EMPTY = 0
GET, POST, PUT, DELETE = 1, 2, 3, 4
CREATED, DELETED, VALID, CHANGED, CONTENT = (code(2, d) for d in (1, 2, 3, 4, 5))
BAD_REQUEST = code(4, 0)
UNAUTHORIZED = code(4, 1)
BAD_OPTION = code(4, 2)
NOT_FOUND = code(4, 4)
METHOD_NOT_ALLOWED = code(4, 5)
NOT_ACCEPTABLE = code(4, 6)
REQUEST_ENTITY_TOO_LARGE = code(4, 13)
PROXYING_NOT_SUPPORTED = code(5, 5)

# Option numbers (RFC 7252 §5.10, RFC 7641, RFC 7959).
IF_MATCH = 1
URI_HOST = 3
ETAG = 4
IF_NONE_MATCH = 5
OBSERVE = 6
URI_PORT = 7
URI_PATH = 11
CONTENT_FORMAT = 12
MAX_AGE = 14
URI_QUERY = 15
ACCEPT = 17
BLOCK2 = 23
BLOCK1 = 27
SIZE2 = 28
PROXY_URI = 35
PROXY_SCHEME = 39
SIZE1 = 60
ECHO = 252  # RFC 9175

OPT_NAMES = {
    1: "If-Match", 3: "Uri-Host", 4: "ETag", 5: "If-None-Match",
    6: "Observe", 7: "Uri-Port", 8: "Location-Path", 11: "Uri-Path",
    12: "Content-Format", 14: "Max-Age", 15: "Uri-Query", 17: "Accept",
    20: "Location-Query", 23: "Block2", 27: "Block1", 28: "Size2",
    35: "Proxy-Uri", 39: "Proxy-Scheme", 60: "Size1",
}


def code_str(c):
    return "%d.%02d" % (c >> 5, c & 31)


def uint_bytes(v):
    """Shortest network-order encoding of an unsigned option value."""
    if v == 0:
        return b""
    return v.to_bytes((v.bit_length() + 7) // 8, "big")


def _nibble(n):
    if n < 13:
        return n, b""
    if n < 269:
        return 13, bytes([n - 13])
    return 14, struct.pack("!H", n - 269)


def _val(v):
    if isinstance(v, int):
        return uint_bytes(v)
    if isinstance(v, str):
        return v.encode()
    return bytes(v)


def encode_options(options):
    """options: iterable of (number, value); sorted stably by number."""
    out = bytearray()
    last = 0
    for num, val in sorted(options, key=lambda o: o[0]):
        val = _val(val)
        dn, de = _nibble(num - last)
        ln, le = _nibble(len(val))
        out.append((dn << 4) | ln)
        out += de + le + val
        last = num
    return bytes(out)


def encode(mtype, mcode, mid, token=b"", options=(), payload=b"", ver=1):
    """A complete datagram.  token must be 0..8 bytes (build bad ones by
    hand)."""
    assert len(token) <= 8
    out = bytearray([(ver << 6) | (mtype << 4) | len(token), mcode])
    out += struct.pack("!H", mid & 0xFFFF) + token
    out += encode_options(options)
    if payload:
        out += b"\xff" + payload
    return bytes(out)


def uri_options(path):
    """'/a/b?x=1&y' -> Uri-Path a, b and Uri-Query x=1, y."""
    opts = []
    query = None
    if "?" in path:
        path, query = path.split("?", 1)
    for seg in path.split("/"):
        if seg:
            opts.append((URI_PATH, seg.encode()))
    if query:
        for q in query.split("&"):
            opts.append((URI_QUERY, q.encode()))
    return opts


class Msg:
    """A decoded message."""

    def __init__(self, raw):
        self.raw = bytes(raw)
        if len(raw) < 4:
            raise ValueError("short message (%d bytes)" % len(raw))
        b0 = raw[0]
        self.ver = b0 >> 6
        self.type = (b0 >> 4) & 3
        tkl = b0 & 15
        if tkl > 8:
            raise ValueError("token length %d" % tkl)
        self.code = raw[1]
        self.mid = struct.unpack("!H", raw[2:4])[0]
        if len(raw) < 4 + tkl:
            raise ValueError("truncated token")
        self.token = bytes(raw[4:4 + tkl])
        self.options = []
        self.payload = b""
        i = 4 + tkl
        num = 0
        while i < len(raw):
            b = raw[i]
            i += 1
            if b == 0xFF:
                self.payload = bytes(raw[i:])
                if not self.payload:
                    raise ValueError("payload marker without payload")
                break
            d, ln = b >> 4, b & 15
            d, i = self._ext(raw, i, d)
            ln, i = self._ext(raw, i, ln)
            if i + ln > len(raw):
                raise ValueError("option value runs past the end")
            num += d
            self.options.append((num, bytes(raw[i:i + ln])))
            i += ln

    @staticmethod
    def _ext(raw, i, n):
        if n == 13:
            if i + 1 > len(raw):
                raise ValueError("truncated option header")
            return raw[i] + 13, i + 1
        if n == 14:
            if i + 2 > len(raw):
                raise ValueError("truncated option header")
            return struct.unpack("!H", raw[i:i + 2])[0] + 269, i + 2
        if n == 15:
            raise ValueError("reserved option nibble 15")
        return n, i

    def opt(self, num):
        """First value of option num, or None."""
        for n, v in self.options:
            if n == num:
                return v
        return None

    def opts(self, num):
        return [v for n, v in self.options if n == num]

    def uint(self, num):
        v = self.opt(num)
        return None if v is None else int.from_bytes(v, "big")

    @property
    def code_str(self):
        return code_str(self.code)

    def __repr__(self):
        opts = ", ".join("%s:%s" % (OPT_NAMES.get(n, str(n)),
                                    v.hex() if v else "''")
                         for n, v in self.options)
        pl = self.payload[:60]
        return "<%s %s mid=%d tok=%s [%s] %r%s>" % (
            TYPE_NAMES[self.type], code_str(self.code), self.mid,
            self.token.hex(), opts, pl,
            "..." if len(self.payload) > 60 else "")


def decode(raw):
    return Msg(raw)


def is_v6(host):
    return ":" in host


class Client:
    """A UDP socket bound to a loopback source and connected to the server."""

    def __init__(self, port, host="127.0.0.1", src=None, src_port=0):
        fam = socket.AF_INET6 if is_v6(host) else socket.AF_INET
        self.host, self.port = host, port
        self.s = socket.socket(fam, socket.SOCK_DGRAM)
        if src is None:
            src = "::1" if is_v6(host) else "127.0.0.1"
        self.s.bind((src, src_port))
        self.s.connect((host, port))
        self.mid = random.randrange(0x10000)
        self.tok = random.randrange(1 << 32)

    def close(self):
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    @property
    def local(self):
        return self.s.getsockname()

    def next_mid(self):
        self.mid = (self.mid + 1) & 0xFFFF
        return self.mid

    def next_token(self, n=4):
        self.tok = (self.tok + 1) & ((1 << (8 * n)) - 1)
        return self.tok.to_bytes(n, "big")

    def send(self, data):
        try:
            self.s.send(data)
        except ConnectionRefusedError:
            # An ICMP error from an earlier datagram; the send still
            # happened or the server is gone: the caller sees no answer.
            pass

    def recv(self, timeout=1.0):
        """One datagram within timeout seconds, or None."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                return None
            try:
                return self.s.recv(65536)
            except ConnectionRefusedError:
                continue

    def recv_all(self, window=0.5, limit=1000):
        """Every datagram arriving within window seconds (at most limit)."""
        out = []
        end = time.monotonic() + window
        while len(out) < limit:
            d = self.recv(max(0.0, end - time.monotonic()))
            if d is None:
                break
            out.append(d)
        return out

    def drain(self):
        while self.recv(0) is not None:
            pass

    def build(self, mcode=GET, path="/", mtype=CON, options=(),
              payload=b"", token=None, mid=None):
        if token is None:
            token = self.next_token()
        if mid is None:
            mid = self.next_mid()
        return encode(mtype, mcode, mid, token,
                      uri_options(path) + list(options), payload)

    def exchange(self, data, timeout=3.0, tries=3):
        """Send data (a request) and return the matching answer as Msg, or
        None.  A CON is retransmitted with the same bytes (RFC 7252 §4.2);
        answers are matched by MID (ACK/RST) or token (NON/CON)."""
        req = Msg(data)
        for _ in range(tries):
            self.send(data)
            end = time.monotonic() + timeout / tries
            while True:
                raw = self.recv(max(0.0, end - time.monotonic()))
                if raw is None:
                    break
                try:
                    m = Msg(raw)
                except ValueError:
                    continue
                if m.type in (ACK, RST) and m.mid == req.mid:
                    return m
                if m.type in (CON, NON) and m.token == req.token and \
                        m.code != EMPTY:
                    return m
            if req.type != CON:
                break
        return None

    def final(self, data, timeout=8.0, ack=True):
        """Send data (a request) once and return its final answer as Msg,
        or None after timeout s: an empty ACK is passed over, a separate
        response is matched by token and, when CON, acknowledged (unless
        ack is False)."""
        req = Msg(data)
        self.send(data)
        end = time.monotonic() + timeout
        while True:
            raw = self.recv(max(0.0, end - time.monotonic()))
            if raw is None:
                return None
            m = Msg(raw)
            if m.type == ACK and m.mid == req.mid:
                if m.code == EMPTY:
                    continue
                return m
            if m.type in (CON, NON) and m.token == req.token:
                if m.type == CON and ack:
                    self.send(encode(ACK, 0, m.mid))
                return m

    def request(self, mcode=GET, path="/", mtype=CON, options=(),
                payload=b"", token=None, mid=None, timeout=3.0, tries=3,
                echo=True):
        """One request and its answer (Msg or None).  A 4.01 with an Echo
        option is answered as RFC 9175 §2.4 clients (libcoap's) do: the
        request is sent again, with a new MID, carrying the Echo value;
        echo=False returns the 4.01 itself."""
        m = self.exchange(self.build(mcode, path, mtype, options, payload,
                                     token, mid), timeout, tries)
        if echo and m is not None and m.code == UNAUTHORIZED and \
                m.opt(ECHO) is not None and \
                all(o[0] != ECHO for o in options):
            opts = list(options) + [(ECHO, m.opt(ECHO))]
            m = self.exchange(self.build(mcode, path, mtype, opts, payload,
                                         token), timeout, tries)
        return m

    def get(self, path, **kw):
        return self.request(GET, path, **kw)


class Checker:
    """TAP-like assertions that keep going, so one run reports every
    problem; done() exits 1 when any check failed."""

    def __init__(self, name=None):
        self.name = name or os.path.basename(sys.argv[0])
        self.failed = 0
        self.n = 0

    def ok(self, cond, what, detail=""):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, what), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s%s" % (self.n, what,
                                        ": " + detail if detail else ""),
                  flush=True)
        return bool(cond)

    def eq(self, got, want, what):
        return self.ok(got == want, what,
                       "got %r, want %r" % (got, want))

    def code(self, m, want, what):
        """m is a Msg or None; want a code number."""
        if m is None:
            return self.ok(False, what, "no answer, want %s" % code_str(want))
        return self.ok(m.code == want, what, "got %r, want %s" %
                       (m, code_str(want)))

    def done(self):
        print("# %d checks, %d failed" % (self.n, self.failed), flush=True)
        sys.exit(1 if self.failed else 0)


def free_port(tries=100):
    """A port that is free for UDP on both 127.0.0.1 and ::1 right now.

    Chosen below the kernel's ephemeral range, so a client socket bound
    to port 0 later (coap-client, a test's own sockets) cannot take it
    while a test restarts coapd on the same port."""
    import random
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    low = max(low, 12000)
    for _ in range(tries):
        s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            port = random.randrange(10000, low)
            try:
                s4.bind(("127.0.0.1", port))
            except OSError:
                continue
            try:
                s6.bind(("::1", port))
            except OSError:
                continue
            return port
        finally:
            s4.close()
            s6.close()
    raise SystemExit("no free UDP port found in %d tries" % tries)


def read_file(path):
    """The bytes of a file (a served one, to compare answers with)."""
    with open(path, "rb") as f:
        return f.read()


def replace_file(path, data):
    """Replace a served file whole, by rename: coapd never sees it half
    written, and its watcher sees one change."""
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rindex(")") + 2] != "Z"


def wait_ready(host, port, pid, seconds):
    """Poll with CON GET /.well-known/core until any datagram answers.
    Returns 0 when ready, 1 on timeout, 2 when pid exited."""
    end = time.monotonic() + seconds
    with Client(port, host) as c:
        while time.monotonic() < end:
            if pid and not _alive(pid):
                return 2
            c.send(c.build(GET, "/.well-known/core"))
            if c.recv(0.1) is not None:
                return 0
    return 1


def main(argv):
    if len(argv) >= 2 and argv[1] == "freeport":
        print(free_port())
        return 0
    if len(argv) == 6 and argv[1] == "wait":
        return wait_ready(argv[2], int(argv[3]), int(argv[4]),
                          float(argv[5]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
