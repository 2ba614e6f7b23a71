#!/bin/bash
# 55-hook: hook routes (coapd.conf(5) HOOK CONTRACT), what a run gets and
# what it answers: stdout as the payload of a GET, argv passed without a
# shell, a PUT's body on stdin echoed back, a 200 KiB Block1 upload
# reaching stdin intact, the clean environment (checked by the hook itself,
# and nothing leaked from coapd's own, such as SECRET), the default codes
# per method, a header block (Status, Content-Format, Max-Age, ETag,
# Location-Path) and bad ones (5.00), a non-zero exit (5.00, stderr in the
# log), a kill by a signal, output past max_output_bytes, max_body_bytes
# (4.13), and a 100 KiB output fetched with Block2 from one run.
# Timeouts, limits, separate responses, RST and user = live in 56-hook-limits.
. "$(dirname "$0")/lib.sh"

need_cmd sha256sum
PORT=$(free_port)
export PORT
make_www
mkdir -p "$T/h"
head -c 204800 /dev/urandom >"$T/in.bin"
head -c 102400 /dev/urandom >"$T/big.bin"
: >"$T/big.count"
: >"$T/b512.count"

# --- the hooks (executed directly: each needs its #! line) -----------------
# hook NAME: the script on stdin becomes $T/h/NAME, mode 0755.
hook() {
	cat >"$T/h/$1"
	chmod 755 "$T/h/$1"
}
hook hello.sh <<'SH'
#!/bin/sh
# argv as configured: no shell split the words or expanded the glob
printf 'hello [%s] [%s] %s\n' "$1" "$2" "$#"
SH
hook echo.sh <<'SH'
#!/bin/sh
exec cat
SH
hook sum.sh <<'SH'
#!/bin/sh
# $1: where to keep a copy of stdin; stdout: its SHA-256
tee "$1" | sha256sum | cut -c1-64
SH
hook env.sh <<'SH'
#!/bin/sh
# Checks its own environment: one "OK name" or "FAIL name: ..." line per
# check, then lines the test compares with what it knows (peer, names).
ck() {
	if [ "$2" = "$3" ]; then
		echo "OK $1"
	else
		echo "FAIL $1: got '$2', want '$3'"
	fi
}
ck path "$COAP_PATH" /env/42
ck route "$COAP_ROUTE" '/env/:id'
ck param "${COAP_PARAM_ID-unset}" 42
ck query "$QUERY_STRING" 'a=1&b=two'
ck bus "${RELAY_BUS-unset}" i2c-1
ck PATH "$PATH" /usr/local/bin:/usr/bin:/bin
ck secret "${SECRET-unset}" unset
ck home "${HOME-unset}" unset
ck cwd "$(pwd)" /
case $REMOTE_PORT in
''|*[!0-9]*) echo "FAIL port: '$REMOTE_PORT'" ;;
*) echo "OK port" ;;
esac
case $REQUEST_METHOD in
GET)	ck length "$CONTENT_LENGTH" 0
	ck format "${CONTENT_FORMAT-unset}" unset
	ck stdin "$(cat)" '' ;;
PUT)	ck length "$CONTENT_LENGTH" 3
	ck format "${CONTENT_FORMAT-unset}" 50
	ck stdin "$(cat)" xyz ;;
*)	echo "FAIL method: '$REQUEST_METHOD'" ;;
esac
# its own process group: field 5 of /proc/PID/stat (comm has no blank)
read -r st </proc/$$/stat
set -- $st
ck pgrp "$5" "$$"
echo "METHOD $REQUEST_METHOD"
echo "ADDR ${REMOTE_ADDR-unset}"
echo "PORT ${REMOTE_PORT-unset}"
echo "ACCEPT ${COAP_ACCEPT-unset}"
echo "NAMES $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' |
    grep -vx PWD | sort | tr '\n' ' ')"
SH
hook meth.sh <<'SH'
#!/bin/sh
echo "$REQUEST_METHOD $PATH"
SH
hook hdr.sh <<'SH'
#!/bin/sh
case $1 in
full)	printf 'Status: 2.01\nContent-Format: 50\nMax-Age: 30\nETag: abc\n'
	printf 'Location-Path: /a/b\n\n{"ok":1}' ;;
notfound) printf 'Status: 4.04\nContent-Format: 0\n\nno relay %s\n' \
	    "$COAP_PARAM_ID" ;;
lower)	printf 'max-age: 5\r\ncontent-format: 0\r\n\r\nsmall' ;;
unknown) printf 'X-Relay: on\n\nbody\n' ;;
noend)	printf 'Status: 2.05\nbody without an empty line\n' ;;
esac
SH
hook fail.sh <<'SH'
#!/bin/sh
case $1 in
exit)	echo "relay $COAP_PARAM_ID is stuck" >&2
	echo "partial output"
	exit 3 ;;
signal)	echo "partial output"
	kill -9 $$ ;;
esac
SH
hook big.sh <<'SH'
#!/bin/sh
# $1: a file that gets a line per run; $2: the output
echo run >>"$1"
cat "$2"
SH
hook many.sh <<'SH'
#!/bin/sh
head -c 70000 /dev/zero
SH

# Any environment of coapd's must stay out of the hooks'.
export SECRET=leak-me HOME=/root

cat >"$T/coapd.conf" <<CONF
# written by $TEST_NAME
listen = ( { address = "127.0.0.1"; port = $PORT; },
           { address = "::1"; port = $PORT; } );
workers = 2;
hooks = { tmp_dir = "$T"; };
routes = (
  { path = "/files"; static = "$T/www"; },
  { path = "/hello"; hook = [ "$T/h/hello.sh", "one two", "*" ];
    run_as_root = true; },
  { path = "/echo"; hook = [ "$T/h/echo.sh" ];
    methods = [ "GET", "PUT", "POST" ]; run_as_root = true; },
  { path = "/small"; hook = [ "$T/h/echo.sh" ]; methods = [ "PUT" ];
    max_body_bytes = 100; run_as_root = true; },
  { path = "/sum"; hook = [ "$T/h/sum.sh", "$T/up.bin" ];
    methods = [ "PUT" ]; run_as_root = true; },
  { path = "/env/:id"; hook = [ "$T/h/env.sh" ]; methods = [ "GET", "PUT" ];
    env = { RELAY_BUS = "i2c-1"; }; run_as_root = true; },
  { path = "/code"; hook = [ "$T/h/meth.sh" ];
    methods = [ "GET", "POST", "PUT", "DELETE", "FETCH" ];
    env = { PATH = "/sbin:/bin"; }; run_as_root = true; },
  { path = "/hdr/full"; hook = [ "$T/h/hdr.sh", "full" ]; headers = true;
    methods = [ "POST" ]; run_as_root = true; },
  { path = "/hdr/:id"; hook = [ "$T/h/hdr.sh", "notfound" ]; headers = true;
    run_as_root = true; },
  { path = "/hdr/lower"; hook = [ "$T/h/hdr.sh", "lower" ]; headers = true;
    run_as_root = true; },
  { path = "/hdr/unknown"; hook = [ "$T/h/hdr.sh", "unknown" ];
    headers = true; run_as_root = true; },
  { path = "/hdr/noend"; hook = [ "$T/h/hdr.sh", "noend" ]; headers = true;
    run_as_root = true; },
  { path = "/plain"; hook = [ "$T/h/hdr.sh", "full" ]; methods = [ "POST" ];
    run_as_root = true; },
  { path = "/fail/:id"; hook = [ "$T/h/fail.sh", "exit" ];
    run_as_root = true; },
  { path = "/signal"; hook = [ "$T/h/fail.sh", "signal" ];
    run_as_root = true; },
  { path = "/big"; hook = [ "$T/h/big.sh", "$T/big.count", "$T/big.bin" ];
    run_as_root = true; },
  { path = "/b512"; hook = [ "$T/h/big.sh", "$T/b512.count", "$T/big.bin" ];
    block_size = 512; run_as_root = true; },
  { path = "/many"; hook = [ "$T/h/many.sh" ]; max_output_bytes = 65536;
    run_as_root = true; }
);
log = { level = "info"; };
CONF
timeout 10 "$COAPD" -t -c "$T/coapd.conf" >"$T/t.out" 2>&1
assert_eq "$?" 0 "coapd -t accepts the hook routes: $(head -c 300 "$T/t.out")"
start_coapd "$T/coapd.conf"
U=coap://127.0.0.1:$PORT

sum() { sha256sum <"$1" | cut -d' ' -f1; }

# --- GET: stdout is the payload; argv without a shell ----------------------
assert_eq "$(coap_get "$U/hello")" "hello [one two] [*] 2" \
    "GET /hello: the hook's stdout, argv as configured (no shell)"
assert_eq "$(coap_get "coap://[::1]:$PORT/hello")" "hello [one two] [*] 2" \
    "GET /hello over ::1"

# --- PUT: the body on stdin, echoed back ------------------------------------
out=$(timeout 10 "$COAP_CLIENT" -B 3 -m put -e 'ping pong' -o - "$U/echo" \
    2>"$COAP_ERR")
assert_eq "$out" "ping pong" "PUT /echo: the body comes back from cat"

# --- a 200 KiB Block1 upload on stdin ---------------------------------------
out=$(timeout 60 "$COAP_CLIENT" -B 50 -m put -f "$T/in.bin" -b 1024 -o - \
    "$U/sum" 2>"$COAP_ERR")
assert_eq "$out" "$(sum "$T/in.bin")" \
    "200 KiB Block1 PUT: the hook's SHA-256 of stdin matches"
assert_eq "$(sum "$T/up.bin" 2>/dev/null)" "$(sum "$T/in.bin")" \
    "200 KiB Block1 PUT: the hook's copy of stdin is identical"

# --- the environment, as the hook sees it -----------------------------------
out=$(coap_get "$U/env/42?a=1&b=two")
assert_not_contains "$out" "FAIL" "GET /env/42: every environment check OK"
assert_eq "$(printf '%s\n' "$out" | grep -c "^OK ")" 14 \
    "GET /env/42: 14 checks ran"
assert_contains "$out" "OK secret" "SECRET from coapd's environment not seen"
assert_contains "$out" "ADDR 127.0.0.1" "REMOTE_ADDR is the client's"

# --- 100 KiB output with Block2 from one run --------------------------------
coap_get "$U/big" -b 1024 >"$T/big.got"
assert_file_eq "$T/big.got" "$T/big.bin" "100 KiB with Block2: byte-identical"
assert_eq "$(grep -c . "$T/big.count")" 1 "100 KiB with Block2: one run"

# --- a non-zero exit: 5.00, and stderr in the log ---------------------------
coap_get "$U/fail/7" >"$T/fail.out"
assert_contains "$(cat "$COAP_ERR" "$T/fail.out")" "5.00" "exit 3: 5.00"
assert_true "exit 3: stderr logged with the route" \
    grep -q '/fail/:id.*relay 7 is stuck' "$COAPD_LOG"

py_checks "raw hook checks" <<'PY'
import os
import coap
from coap import Client, Checker

port = int(os.environ["PORT"])
T = os.environ["T"]
ck = Checker("55-hook")
FETCH = 5
LOCATION_PATH = 8
TOO_LARGE = coap.code(4, 13)
ERROR = coap.code(5, 0)


def ask(c, mcode, path, options=(), payload=b"", mtype=coap.CON):
    m = c.final(c.build(mcode, path, mtype=mtype, options=options,
                        payload=payload))
    # RFC 9175: a fresh address is challenged; repeat with the Echo value
    if m is not None and m.code == coap.UNAUTHORIZED and \
            m.opt(coap.ECHO) is not None:
        m = c.final(c.build(mcode, path, mtype=mtype, payload=payload,
                             options=list(options) +
                             [(coap.ECHO, m.opt(coap.ECHO))]))
    return m


def env_lines(m):
    out = {}
    for line in (m.payload if m else b"").decode(errors="replace").split("\n"):
        k, _, v = line.partition(" ")
        out.setdefault(k, []).append(v)
    return out


BASE = ["COAP_PARAM_ID", "COAP_PATH", "COAP_ROUTE", "CONTENT_LENGTH", "PATH",
        "QUERY_STRING", "RELAY_BUS", "REMOTE_ADDR", "REMOTE_PORT",
        "REQUEST_METHOD"]

# The environment: GET over IPv4 with Accept, PUT over IPv6 with a body.
for host, mcode, opts, body, extra in (
        ("127.0.0.1", coap.GET, [(coap.ACCEPT, coap.uint_bytes(50))], b"",
         ["COAP_ACCEPT"]),
        ("::1", coap.PUT, [(coap.CONTENT_FORMAT, coap.uint_bytes(50))],
         b"xyz", ["CONTENT_FORMAT"])):
    with Client(port, host) as c:
        m = ask(c, mcode, "/env/42?a=1&b=two", opts, body)
        what = "%s /env/42 over %s" % ("GET" if mcode == coap.GET else "PUT",
                                       host)
        ck.code(m, coap.CONTENT if mcode == coap.GET else coap.CHANGED,
                what + ": 2.05/2.04")
        e = env_lines(m)
        ck.eq(e.get("FAIL", []), [], what + ": no FAIL line from the hook")
        ck.eq(len(e.get("OK", [])), 14, what + ": 14 OK lines")
        ck.eq(e.get("ADDR"), [c.local[0]], what + ": REMOTE_ADDR")
        ck.eq(e.get("PORT"), [str(c.local[1])], what + ": REMOTE_PORT")
        ck.eq(e.get("ACCEPT"), ["50" if mcode == coap.GET else "unset"],
              what + ": COAP_ACCEPT")
        names = (e.get("NAMES") or [""])[0].split()
        ck.eq(names, sorted(BASE + extra),
              what + ": exactly the contract's variables")

# Default codes, and env's PATH replacing the default one.
with Client(port) as c:
    for mcode, want, name in ((coap.GET, coap.CONTENT, "GET"),
                              (FETCH, coap.CONTENT, "FETCH"),
                              (coap.POST, coap.CHANGED, "POST"),
                              (coap.PUT, coap.CHANGED, "PUT"),
                              (coap.DELETE, coap.DELETED, "DELETE")):
        m = ask(c, mcode, "/code")
        ck.code(m, want, "%s with exit 0: %s" % (name, coap.code_str(want)))
        ck.eq(m and m.payload, ("%s /sbin:/bin\n" % name).encode(),
              "%s: REQUEST_METHOD %s, PATH from env" % (name, name))
    m = ask(c, coap.PUT, "/hello")
    ck.code(m, coap.METHOD_NOT_ALLOWED, "PUT on a GET-only hook route: 4.05")

    # Headers.
    m = ask(c, coap.POST, "/hdr/full")
    ck.code(m, coap.CREATED, "headers: Status 2.01")
    ck.eq(m and m.uint(coap.CONTENT_FORMAT), 50, "headers: Content-Format 50")
    ck.eq(m and m.uint(coap.MAX_AGE), 30, "headers: Max-Age 30")
    ck.eq(m and m.opt(coap.ETAG), b"abc", "headers: ETag abc")
    ck.eq(m and m.opts(LOCATION_PATH), [b"a", b"b"],
          "headers: Location-Path /a/b")
    ck.eq(m and m.payload, b'{"ok":1}', "headers: the payload after them")
    m = ask(c, coap.GET, "/hdr/9")
    ck.code(m, coap.NOT_FOUND, "headers: Status 4.04 gives 4.04")
    ck.eq(m and m.payload, b"no relay 9\n", "4.04 with the hook's payload")
    m = ask(c, coap.GET, "/hdr/lower")
    ck.code(m, coap.CONTENT, "headers in lower case, CRLF: 2.05")
    ck.eq(m and m.uint(coap.MAX_AGE), 5, "lower-case max-age: 5")
    ck.eq(m and m.payload, b"small", "CRLF header block: payload")
    m = ask(c, coap.GET, "/hdr/unknown")
    ck.code(m, ERROR, "an unknown header: 5.00")
    m = ask(c, coap.GET, "/hdr/noend")
    ck.code(m, ERROR, "headers without an empty line: 5.00")
    m = ask(c, coap.POST, "/plain")
    ck.code(m, coap.CHANGED, "without headers = true: 2.04 for POST")
    ck.ok(m is not None and m.payload.startswith(b"Status: 2.01\n"),
          "without headers = true: the header lines are payload", repr(m))

    # Failures.
    m = ask(c, coap.GET, "/fail/3")
    ck.code(m, ERROR, "exit 3: 5.00")
    ck.ok(m is not None and b"hook exited with status 3" in m.payload,
          "exit 3: a diagnostic payload", repr(m))
    ck.ok(m is not None and b"partial" not in m.payload,
          "exit 3: stdout not sent", repr(m))
    m = ask(c, coap.GET, "/signal")
    ck.code(m, ERROR, "killed by SIGKILL: 5.00")
    ck.ok(m is not None and b"signal" in m.payload,
          "killed by a signal: the payload says so", repr(m))
    m = ask(c, coap.GET, "/many")
    ck.code(m, ERROR, "70000 bytes past max_output_bytes 65536: 5.00")
    ck.ok(m is not None and len(m.payload) < 200,
          "past max_output_bytes: only a diagnostic", repr(m))
    m = ask(c, coap.PUT, "/small", payload=b"x" * 200)
    ck.code(m, TOO_LARGE, "200 bytes to max_body_bytes = 100: 4.13")
    m = ask(c, coap.PUT, "/small", payload=b"y" * 100)
    ck.eq(m and m.payload, b"y" * 100, "100 bytes to max_body_bytes = 100")

    # Block2 by hand: one run for block 0 and the next blocks.
    big = open(os.path.join(T, "big.bin"), "rb").read()
    cnt = os.path.join(T, "big.count")
    runs0 = open(cnt).read().count("run")
    blocks, etags, m = [], set(), None
    for num in range(200):
        m = ask(c, coap.GET, "/big",
                [(coap.BLOCK2, coap.uint_bytes(num << 4 | 6))])
        if m is None or m.code != coap.CONTENT:
            break
        blocks.append(m.payload)
        etags.add(m.opt(coap.ETAG))
        if not (m.uint(coap.BLOCK2) or 0) & 8:
            break
    ck.eq(b"".join(blocks), big, "raw Block2: 100 blocks, the whole output")
    ck.ok(len(etags) == 1 and None not in etags,
          "raw Block2: one ETag on every block", repr(etags))
    ck.eq(open(cnt).read().count("run") - runs0, 1, "raw Block2: one run")
    # block_size = 512: the route's size without the client asking.
    m = ask(c, coap.GET, "/b512")
    ck.ok(m is not None and m.code == coap.CONTENT and
          m.payload == big[:512] and m.uint(coap.BLOCK2) == (8 | 5),
          "block_size 512: block 0 of 512 bytes, M=1", repr(m))
ck.done()
PY

assert_not_contains "$(cat "$COAPD_LOG")" "leak-me" \
    "SECRET's value nowhere in coapd's log"
finish
