#!/bin/bash
# 52-upload: writable routes with libcoap's client and raw requests: a
# 1 MiB Block1 upload (RFC 7959 §2.5) compared byte for byte, create-only
# with If-None-Match twice (the second is 4.12), If-Match, DELETE, 4.13
# with Size1 over max_body_bytes, two uploads of one client told apart by
# Request-Tag (RFC 9175), and a daemon killed in the middle of an upload
# leaving the target file as it was.
. "$(dirname "$0")/lib.sh"

need_cmd sha256sum
PORT=$(free_port)
export PORT
mkdir -p "$T/www" "$T/up"
head -c 1048576 /dev/urandom >"$T/in.bin"
cat >"$T/coapd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; },
           { address = "::1"; port = $PORT; } );
workers = 2;
max_body_bytes = 2097152;
routes = (
  { path = "/files"; static = "$T/www"; },
  { path = "/up"; static = "$T/up"; writable = true; },
  { path = "/mk"; static = "$T/up"; writable = true; create_dirs = true; },
  { path = "/tiny"; static = "$T/up"; writable = true; max_body_bytes = 1000; }
);
CONF
start_coapd "$T/coapd.conf"

sum() { sha256sum <"$1" | cut -d' ' -f1; }
# put URI [args...]: PUT with libcoap's client; its stderr in $COAP_ERR.
put() {
	local uri=$1
	shift
	timeout 60 "$COAP_CLIENT" -B 50 -m put "$@" "$uri" 2>"$COAP_ERR"
}

put "coap://127.0.0.1:$PORT/up/in.bin" -f "$T/in.bin" -b 1024
assert_eq "$(sum "$T/up/in.bin")" "$(sum "$T/in.bin")" \
    "1 MiB Block1 upload (1024-byte blocks): same SHA-256"
coap_get "coap://127.0.0.1:$PORT/up/in.bin" -b 1024 >"$T/got"
assert_eq "$(sum "$T/got")" "$(sum "$T/in.bin")" "and read back with Block2"
head -c 100000 /dev/urandom >"$T/in2.bin"
put "coap://[::1]:$PORT/up/in.bin" -f "$T/in2.bin" -b 64
assert_eq "$(sum "$T/up/in.bin")" "$(sum "$T/in2.bin")" \
    "replaced over ::1 with 64-byte blocks"
assert_eq "$(ls -A "$T/up" | grep -c '^\.coapd-')" 0 "no temporary file left"

# Create-only (If-None-Match, RFC 7252 §5.10.8.2): the second one is 4.12.
out=$(put "coap://127.0.0.1:$PORT/up/once.txt" -e first -O 5, -v 7 2>&1)
assert_contains "$out" "c:2.01" "If-None-Match on a new name: 2.01 Created"
out=$(put "coap://127.0.0.1:$PORT/up/once.txt" -e second -O 5, -v 7 2>&1)
assert_contains "$out" "c:4.12" "If-None-Match again: 4.12 Precondition Failed"
assert_eq "$(cat "$T/up/once.txt")" "first" "the first body stays"
out=$(put "coap://127.0.0.1:$PORT/up/once.txt" -e third -v 7 2>&1)
assert_contains "$out" "c:2.04" "PUT without condition replaces: 2.04 Changed"

# DELETE (RFC 7252 §5.8.4).
out=$(timeout 10 "$COAP_CLIENT" -B 3 -m delete -v 7 \
    "coap://127.0.0.1:$PORT/up/once.txt" 2>&1)
assert_contains "$out" "c:2.02" "DELETE: 2.02 Deleted"
assert_true "the file is gone" test ! -e "$T/up/once.txt"
coap_get "coap://127.0.0.1:$PORT/up/once.txt" >/dev/null
assert_contains "$(cat "$COAP_ERR")" "4.04" "GET after DELETE: 4.04"

# Not writable: 4.05.
out=$(put "coap://127.0.0.1:$PORT/files/x.txt" -e x -v 7 2>&1)
assert_contains "$out" "c:4.05" "PUT on a read-only route: 4.05"
out=$(timeout 10 "$COAP_CLIENT" -B 3 -m delete -v 7 \
    "coap://127.0.0.1:$PORT/files/x.txt" 2>&1)
assert_contains "$out" "c:4.05" "DELETE on a read-only route: 4.05"

# Over the limit: 4.13 (the client stops at the first refused block).
head -c 3000 /dev/urandom >"$T/3k.bin"
out=$(put "coap://127.0.0.1:$PORT/tiny/3k.bin" -f "$T/3k.bin" -b 256 -v 7 2>&1)
assert_contains "$out" "c:4.13" "3000 bytes to a 1000-byte route: 4.13"
assert_true "nothing stored past the limit" test ! -e "$T/up/3k.bin"

# Directories only with create_dirs.
out=$(put "coap://127.0.0.1:$PORT/up/a/b/c.txt" -e x -v 7 2>&1)
assert_contains "$out" "c:4.04" "PUT into a missing directory: 4.04"
out=$(put "coap://127.0.0.1:$PORT/mk/a/b/c.txt" -e x -v 7 2>&1)
assert_contains "$out" "c:2.01" "with create_dirs the directories are made"
assert_eq "$(cat "$T/up/a/b/c.txt" 2>/dev/null)" "x" "a/b/c.txt written"

py_checks "raw upload checks" <<'PY'
import os
import coap
from coap import Client, Checker

port = int(os.environ["PORT"])
up = os.path.join(os.environ["T"], "up")
ck = Checker("52-upload")
REQUEST_TAG = 292
CONTINUE = coap.code(2, 31)
INCOMPLETE = coap.code(4, 8)
PRECONDITION_FAILED = coap.code(4, 12)
TOO_LARGE = coap.code(4, 13)

def block1(num, more, szx):
    return coap.uint_bytes(num << 4 | (8 if more else 0) | szx)

def put(c, path, num, more, szx, data, tag=None, extra=()):
    opts = [(coap.BLOCK1, block1(num, more, szx))] + list(extra)
    if tag is not None:
        opts.append((REQUEST_TAG, tag))
    opts.sort(key=lambda o: o[0])
    return c.request(coap.PUT, path, options=opts, payload=data)

with Client(port) as c:
    # 4.13 carries Size1 = the route's limit.
    m = c.request(coap.PUT, "/tiny/big", payload=b"x" * 1001)
    ck.code(m, TOO_LARGE, "1001 bytes over a 1000-byte limit: 4.13")
    ck.eq(m and m.uint(coap.SIZE1), 1000, "4.13 carries Size1 1000")
    m = put(c, "/tiny/big", 0, True, 2, b"x" * 64,
            extra=[(coap.SIZE1, coap.uint_bytes(5000))])
    ck.code(m, TOO_LARGE, "Size1 5000 announced: 4.13 at the first block")

    # RFC 9175: two uploads of one client to one path, interleaved.
    a, b = b"A" * 100, b"B" * 100
    ck.code(put(c, "/up/tag.bin", 0, True, 2, a[:64], tag=b"\x01"),
            CONTINUE, "tag 1 block 0: 2.31")
    ck.code(put(c, "/up/tag.bin", 0, True, 2, b[:64], tag=b"\x02"),
            CONTINUE, "tag 2 block 0: 2.31")
    ck.code(put(c, "/up/tag.bin", 1, False, 2, a[64:], tag=b"\x01"),
            coap.CREATED, "tag 1 block 1: 2.01")
    with open(os.path.join(up, "tag.bin"), "rb") as f:
        ck.eq(f.read(), a, "tag 1's body stored whole")
    ck.code(put(c, "/up/tag.bin", 1, False, 2, b[64:], tag=b"\x02"),
            coap.CHANGED, "tag 2 block 1: 2.04")
    with open(os.path.join(up, "tag.bin"), "rb") as f:
        ck.eq(f.read(), b, "tag 2's body replaced it whole")

    # RFC 7959 §2.5: a gap is 4.08 and nothing is stored.
    ck.code(put(c, "/up/gap.bin", 0, True, 2, b"g" * 64), CONTINUE,
            "gap: block 0 is 2.31")
    ck.code(put(c, "/up/gap.bin", 2, False, 2, b"g" * 10), INCOMPLETE,
            "gap: block 2 after 0 is 4.08")
    ck.ok(not os.path.exists(os.path.join(up, "gap.bin")),
          "gap: no file stored")

    # If-Match with the current ETag, then with a stale one.
    m = c.request(coap.PUT, "/up/m.txt", payload=b"one")
    ck.code(m, coap.CREATED, "PUT m.txt: 2.01")
    et = m.opt(coap.ETAG) if m else b""
    m = c.request(coap.PUT, "/up/m.txt", payload=b"two",
                  options=[(coap.IF_MATCH, et)])
    ck.code(m, coap.CHANGED, "If-Match current ETag: 2.04")
    m = c.request(coap.PUT, "/up/m.txt", payload=b"three",
                  options=[(coap.IF_MATCH, et)])
    ck.code(m, PRECONDITION_FAILED, "If-Match stale ETag: 4.12")
    m = c.request(coap.DELETE, "/up/m.txt", options=[(coap.IF_MATCH, et)])
    ck.code(m, PRECONDITION_FAILED, "DELETE If-Match stale ETag: 4.12")
    ck.ok(os.path.exists(os.path.join(up, "m.txt")), "m.txt kept")
ck.done()
PY

# A daemon killed mid-upload leaves the target as it was (the body goes to
# a temporary file that is renamed only when complete).
printf 'old contents\n' >"$T/up/victim.bin"
timeout 30 "$COAP_CLIENT" -B 20 -m put -f "$T/in.bin" -b 16 \
    "coap://127.0.0.1:$PORT/up/victim.bin" >/dev/null 2>&1 &
client=$!
sleep 1
kill -KILL "$COAPD_PID"
wait "$COAPD_PID" 2>/dev/null
COAPD_PID=""
kill "$client" 2>/dev/null
wait "$client" 2>/dev/null
assert_eq "$(cat "$T/up/victim.bin")" "old contents" \
    "killed mid-upload: the target is untouched"
# Without O_TMPFILE (some file systems) a named .coapd-up-* dotfile stays.
if python3 -c 'import os, sys; os.close(os.open(sys.argv[1],
    os.O_TMPFILE | os.O_WRONLY, 0o600))' "$T/up" 2>/dev/null; then
	assert_eq "$(ls -A "$T/up" | grep -c '^\.coapd-')" 0 \
	    "killed mid-upload: no temporary file left (O_TMPFILE)"
else
	echo "# no O_TMPFILE on $T: a named temporary file may stay"
fi
start_coapd "$T/coapd.conf"
coap_get "coap://127.0.0.1:$PORT/up/victim.bin" >"$T/got"
assert_eq "$(cat "$T/got")" "old contents" "served as before after a restart"

finish
