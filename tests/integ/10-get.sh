#!/bin/bash
# 10-get: static files over IPv4 and IPv6, file and directory routes,
# Content-Format from the extension, ETag and Max-Age, NON answered with NON,
# 4.04, directory listings and Block2.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
make_www
# A route with a relative target: resolved against the config's directory.
std_conf "$T/coapd.conf" ',
  { path = "/rel"; static = "www/sub/deep.txt"; }'
# Hostile and odd entries in the served tree.
printf 'root:x:0:0:secret outside the tree\n' >"$T/outside.txt"
ln -s "$T/outside.txt" "$T/www/escape-abs"
ln -s ../outside.txt "$T/www/escape-rel"
mkfifo "$T/www/pipe"
: >"$T/www/empty.txt"
# A listing larger than one block: 60 links of about 50 bytes.
mkdir -p "$T/www/many"
for ((i = 0; i < 60; i++)); do
	printf '%d\n' "$i" >"$T/www/many/sensor-reading-with-a-long-name-$i.json"
done
start_coapd "$T/coapd.conf"

# --- libcoap's client -------------------------------------------------------
coap_get "coap://127.0.0.1:$PORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "GET /hello over 127.0.0.1"

coap_get "coap://[::1]:$PORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "GET /hello over [::1]"

coap_get "coap://127.0.0.1:$PORT/files/data.json" >"$T/got"
assert_file_eq "$T/got" "$T/www/data.json" "GET /files/data.json (directory route)"

coap_get "coap://[::1]:$PORT/files/sub/deep.txt" >"$T/got"
assert_file_eq "$T/got" "$T/www/sub/deep.txt" "GET /files/sub/deep.txt (subdirectory)"

coap_get "coap://127.0.0.1:$PORT/files/blob.bin" >"$T/got"
assert_file_eq "$T/got" "$T/www/blob.bin" "GET /files/blob.bin (binary)"

coap_get "coap://127.0.0.1:$PORT/rel" >"$T/got"
assert_file_eq "$T/got" "$T/www/sub/deep.txt" "GET /rel (relative static path)"

# 5000 bytes: more than one block, the client follows Block2 (RFC 7959).
coap_get "coap://127.0.0.1:$PORT/files/big.txt" >"$T/got"
assert_file_eq "$T/got" "$T/www/big.txt" "GET /files/big.txt (Block2)"

out=$(coap_get "coap://127.0.0.1:$PORT/hello" -v 7)
assert_contains "$out" "t:ACK c:2.05" "CON GET answered by a piggybacked 2.05 ACK"

out=$(coap_get "coap://127.0.0.1:$PORT/hello" -N -v 7)
assert_contains "$out" "t:NON c:2.05" "NON GET answered by a NON 2.05"

coap_get "coap://127.0.0.1:$PORT/nope" >"$T/got"
assert_contains "$(cat "$COAP_ERR")" "4.04" "GET /nope reports 4.04"
assert_eq "$(wc -c <"$T/got")" 0 "GET /nope has no payload"

coap_get "coap://127.0.0.1:$PORT/files/missing.txt" >/dev/null
assert_contains "$(cat "$COAP_ERR")" "4.04" "GET /files/missing.txt reports 4.04"

out=$(coap_get "coap://127.0.0.1:$PORT/files")
assert_contains "$out" "hello.txt" "directory listing names hello.txt"
assert_contains "$out" "data.json" "directory listing names data.json"
assert_contains "$out" "<" "directory listing is link-format"
assert_not_contains "$out" "escape-" "listing leaves out links that lead outside"

# Small blocks chosen by the client (RFC 7959 §2.4: the server follows).
coap_get "coap://127.0.0.1:$PORT/files/big.txt" -b 64 >"$T/got"
assert_file_eq "$T/got" "$T/www/big.txt" "GET /files/big.txt with 64-byte blocks"

out=$(coap_get "coap://127.0.0.1:$PORT/files/many")
n=$(grep -o 'sensor-reading-with-a-long-name-[0-9]*\.json' <<<"$out" | sort -u | wc -l)
assert_eq "$n" 60 "a listing larger than one block lists all 60 files"

coap_get "coap://127.0.0.1:$PORT/files/empty.txt" >"$T/got"
assert_eq "$(wc -c <"$T/got")" 0 "GET of an empty file"
assert_not_contains "$(cat "$COAP_ERR")" "4." "GET of an empty file is no error"

for l in escape-abs escape-rel; do
	coap_get "coap://127.0.0.1:$PORT/files/$l" >"$T/got"
	assert_not_contains "$(cat "$T/got")" "secret outside" \
	    "symlink $l out of the tree is not followed"
done

# --- raw requests: exact options -------------------------------------------
py_checks "raw GET checks" <<'EOF'
import os
import time
import coap
from coap import Client, Checker

port = int(os.environ["PORT"])
www = os.path.join(os.environ["T"], "www")
ck = Checker("10-get")

def content(name):
    with open(os.path.join(www, name), "rb") as f:
        return f.read()

with Client(port) as c:
    req = c.build(coap.GET, "/hello", token=b"\x01\x02\x03\x04\x05\x06\x07\x08")
    m = c.exchange(req)
    ck.code(m, coap.CONTENT, "GET /hello is 2.05")
    if m:
        r = coap.Msg(req)
        ck.eq(m.type, coap.ACK, "answer to a CON is an ACK")
        ck.eq(m.mid, r.mid, "ACK carries the request's MID")
        ck.eq(m.token, r.token, "8-byte token echoed")
        ck.eq(m.payload, content("hello.txt"), "payload is the file")
        ck.eq(m.uint(coap.CONTENT_FORMAT), 0, "Content-Format 0 (text/plain)")
        ck.eq(m.uint(coap.MAX_AGE), 30, "Max-Age 30 from the route")
        et = m.opt(coap.ETAG)
        ck.ok(et is not None and 1 <= len(et) <= 8, "ETag of 1..8 bytes",
              repr(m))
        m2 = c.get("/hello")
        ck.ok(m2 is not None and m2.opt(coap.ETAG) == et,
              "same file, same ETag", repr(m2))

    for name, ct in (("data.json", 50), ("data.cbor", 60), ("page.xml", 41),
                     ("blob.bin", 42), ("hello.txt", 0)):
        m = c.get("/files/" + name)
        ck.code(m, coap.CONTENT, "GET /files/%s is 2.05" % name)
        if m:
            ck.eq(m.uint(coap.CONTENT_FORMAT), ct,
                  "Content-Format of %s" % name)
            ck.eq(m.payload, content(name), "payload of %s" % name)

    m = c.get("/files")
    ck.code(m, coap.CONTENT, "GET /files (directory) is 2.05")
    if m:
        ck.eq(m.uint(coap.CONTENT_FORMAT), 40,
              "directory listing has Content-Format 40")
        ck.ok(b"hello.txt" in m.payload and b"sub" in m.payload,
              "listing names files and subdirectories", repr(m))

    # NON request: NON answer with the token echoed.
    tok = b"\xaa\xbb"
    m = c.request(coap.GET, "/hello", mtype=coap.NON, token=tok)
    ck.code(m, coap.CONTENT, "NON GET /hello is 2.05")
    if m:
        ck.eq(m.type, coap.NON, "NON request gets a NON response")
        ck.eq(m.token, tok, "NON response echoes the token")
        ck.eq(m.payload, content("hello.txt"), "NON response payload")

    for path in ("/nope", "/files/missing.txt", "/hello/x", "/hellox",
                 "/files/../hello.txt"):
        ck.code(c.get(path), coap.NOT_FOUND, "GET %s is 4.04" % path)
    # "..", "." and "/" inside segments never leave the tree.
    for segs in ((b"files", b"..", b"..", b"etc", b"passwd"),
                 (b"files", b".", b"hello.txt"),
                 (b"files", b"sub/../../hello.txt"),
                 (b"files", b"/etc/passwd")):
        m = c.request(coap.GET, "/", options=[(coap.URI_PATH, s) for s in segs])
        ck.ok(m is not None and m.code >> 5 == 4 and b"root:" not in m.payload,
              "Uri-Path %r is refused with a 4.xx" % (segs,), repr(m))

    # A FIFO in the tree must not stall a worker (nor be served).
    t0 = time.monotonic()
    m = c.get("/files/pipe", timeout=3.0, tries=1)
    ck.ok(m is not None and m.code >> 5 == 4,
          "GET of a FIFO is answered with a 4.xx", repr(m))
    ck.ok(time.monotonic() - t0 < 2.0, "GET of a FIFO answered at once")
    bad = [i for i in range(20) if (lambda m: m is None or m.code !=
           coap.CONTENT)(c.get("/hello", timeout=2.0, tries=1))]
    ck.ok(not bad, "served normally after the FIFO", repr(bad))

    m = c.get("/files/empty.txt")
    ck.code(m, coap.CONTENT, "GET of an empty file is 2.05")
    if m:
        ck.eq(m.payload, b"", "empty file, empty payload")
    m = c.get("/files", options=[(coap.ACCEPT, 0)])
    ck.code(m, coap.NOT_ACCEPTABLE, "Accept: 0 on a listing is 4.06")
    m = c.get("/files", options=[(coap.ACCEPT, 40)])
    ck.code(m, coap.CONTENT, "Accept: 40 on a listing is 2.05")

    # Block2 past the end: a 4.xx, no payload.
    m = c.get("/files/big.txt", options=[(coap.BLOCK2, (500 << 4) | 2)])
    ck.ok(m is not None and m.code >> 5 == 4 and not m.payload,
          "Block2 num 500 (past the end) is a 4.xx", repr(m))
    # Block 1 of 64-byte blocks is bytes 64..127.
    m = c.get("/files/big.txt", options=[(coap.BLOCK2, (1 << 4) | 2)])
    ck.ok(m is not None and m.code == coap.CONTENT and
          m.payload == content("big.txt")[64:128] and
          m.uint(coap.BLOCK2) == (1 << 4) | 8 | 2,
          "Block2 1/64 carries bytes 64..127 and M=1", repr(m))

    # The first block of a large file carries Block2 and Size2.
    m = c.get("/files/big.txt")
    ck.code(m, coap.CONTENT, "GET /files/big.txt is 2.05")
    if m:
        b2 = m.uint(coap.BLOCK2)
        ck.ok(b2 is not None and b2 & 0x8, "first block has Block2 with M=1",
              repr(m))
        ck.ok(len(m.payload) <= 1024, "first block is at most 1024 bytes")
        ck.eq(m.uint(coap.SIZE2), len(content("big.txt")),
              "first block carries Size2 = the file size")

with Client(port, host="::1") as c:
    m = c.get("/files/data.json")
    ck.code(m, coap.CONTENT, "GET over ::1 is 2.05")
    if m:
        ck.eq(m.payload, content("data.json"), "payload over ::1")

ck.done()
EOF

finish
