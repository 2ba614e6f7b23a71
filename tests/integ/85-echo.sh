#!/bin/bash
# 85-echo: the amplification guard and Echo (RFC 9175) on plain CoAP.
# A fresh address asking for 1 KiB with a small request gets a 4.01 Echo
# challenge no larger than 3x its request, not 1 KiB; repeating the Echo
# value gets the content, and libcoap's client completes the same GET by
# itself.  A PUT, POST or DELETE on a route open to a net: range, without
# an Echo value made for the sender's address, is refused and the file
# stays; the client that does receive our answers gets through.
. "$(dirname "$0")/lib.sh"
. "$INTEG_DIR/dtls.sh"	# stats helpers

PORT=$(free_port)
make_www
head -c 1024 /dev/urandom >"$T/www/kib.bin"
mkdir "$T/up"
printf 'original\n' >"$T/up/state.txt"
printf 'keep me\n' >"$T/up/other.txt"
std_conf "$T/coapd.conf" ",
  { path = \"/kib\"; static = \"$T/www/kib.bin\"; },
  { path = \"/up\"; static = \"$T/up\"; writable = true;
    methods = [ \"GET\", \"PUT\", \"POST\", \"DELETE\" ];
    allow = [ \"net:127.0.0.0/8\" ]; },
  { path = \"/obs\"; static = \"$T/www/hello.txt\"; observe = true; },
  { path = \"/run\"; methods = [ \"GET\", \"POST\" ]; run_as_root = true;
    hook = [ \"/bin/sh\", \"-c\", \"echo ran >>$T/ran; printf %0900d 0\" ]; },
  { path = \"/hobs\"; observe = true; interval_s = 1; run_as_root = true;
    hook = [ \"/bin/sh\", \"-c\", \"date +%s%N\" ]; }" 1
start_coapd "$T/coapd.conf"

PORT=$PORT T=$T py_checks "amplification guard and forged writes" <<'PY'
import os
import coap

port = int(os.environ["PORT"])
T = os.environ["T"]
kib = open(T + "/www/kib.bin", "rb").read()
ck = coap.Checker()

# --- a fresh address, 1 KiB asked with a small request -------------------
c = coap.Client(port, src="127.0.0.5")
req = c.build(coap.GET, "/kib")
ck.ok(len(req) <= 20, "the request is small (%d bytes)" % len(req))
c.send(req)
got = c.recv_all(1.0)
ck.eq(len(got), 1, "one datagram back")
m = coap.Msg(got[0]) if got else None
ck.code(m, coap.UNAUTHORIZED, "a fresh address gets a challenge")
echo = m.opt(coap.ECHO) if m else None
ck.ok(echo is not None and 1 <= len(echo) <= 40, "with an Echo option")
ck.ok(got and len(got[0]) <= 3 * len(req),
      "no more than 3x the request (%d bytes for %d)" %
      (len(got[0]) if got else 0, len(req)))
r = c.request(coap.GET, "/kib", options=[(coap.ECHO, echo)], echo=False)
ck.code(r, coap.CONTENT, "the request repeating the Echo value")
ck.ok(r is not None and r.payload == kib, "gets the whole 1 KiB")
r = c.request(coap.GET, "/kib", echo=False)
ck.code(r, coap.CONTENT, "and the address stays verified")

# the value is bound to the address: another one cannot use it
o = coap.Client(port, src="127.0.0.6")
r = o.request(coap.GET, "/kib", options=[(coap.ECHO, echo)], echo=False)
ck.code(r, coap.UNAUTHORIZED, "an Echo value of another address does not verify")
# a small answer needs no proof
r = o.request(coap.GET, "/hello", echo=False)
ck.code(r, coap.CONTENT, "a small answer goes to a fresh address")

# --- forged writes on a net: route ---------------------------------------
f = coap.Client(port, src="127.0.0.7")
for mcode, path, what in ((coap.PUT, "/up/state.txt", "PUT"),
                          (coap.POST, "/up/state.txt", "POST"),
                          (coap.DELETE, "/up/other.txt", "DELETE")):
    r = f.request(mcode, path, payload=b"forged" if mcode != coap.DELETE
                  else b"", echo=False)
    ck.code(r, coap.UNAUTHORIZED, "%s without Echo refused" % what)
    ck.ok(r is not None and r.opt(coap.ECHO) is not None,
          "%s: the 4.01 carries an Echo challenge" % what)
r = f.request(coap.PUT, "/up/state.txt", payload=b"forged",
              options=[(coap.ECHO, echo)], echo=False)
ck.code(r, coap.UNAUTHORIZED, "PUT with another address's Echo value refused")
ck.eq(open(T + "/up/state.txt", "rb").read(), b"original\n",
      "the file is unchanged")
ck.ok(os.path.exists(T + "/up/other.txt"), "the other file is still there")
r = f.request(coap.GET, "/up/state.txt", echo=False)
ck.code(r, coap.CONTENT, "GET on the net: route needs no Echo")
# the real client at that address repeats the Echo value (RFC 9175 §2.4)
r = f.request(coap.PUT, "/up/state.txt", payload=b"real\n")
ck.code(r, coap.CHANGED, "PUT repeating the Echo value")
ck.eq(open(T + "/up/state.txt", "rb").read(), b"real\n", "is stored")

# --- hooks: no run for a forged write, large late answers challenged ----
h = coap.Client(port, src="127.0.0.8")
r = h.request(coap.POST, "/run", payload=b"x", echo=False)
ck.code(r, coap.UNAUTHORIZED, "POST to a hook from a fresh address: challenged")
ck.ok(not os.path.exists(T + "/ran"), "and the hook did not run")
r = h.request(coap.POST, "/run", payload=b"x")
ck.code(r, coap.CHANGED, "POST repeating the Echo value runs it")
ck.eq(open(T + "/ran").read(), "ran\n", "once")
g = coap.Client(port, src="127.0.0.9")
req = g.build(coap.GET, "/run")
g.send(req)
got = g.recv_all(3.0)
ck.eq(len(got), 1, "GET of a hook's 900 bytes: one datagram back")
m = coap.Msg(got[0]) if got else None
ck.code(m, coap.UNAUTHORIZED, "a challenge, not the output")
ck.ok(got and len(got[0]) <= 3 * len(req), "within 3x the request")
r = g.request(coap.GET, "/run", options=[(coap.ECHO, m.opt(coap.ECHO))],
              echo=False)
ck.ok(r is not None and r.code == coap.CONTENT and len(r.payload) == 900,
      "with the Echo value, the 900 bytes")

# --- Observe: a registration is a stream to the address that asked -----
w = coap.Client(port, src="127.0.0.10")
r = w.request(coap.GET, "/obs", options=[(coap.OBSERVE, b"")], echo=False)
ck.code(r, coap.UNAUTHORIZED, "Observe from a fresh address: challenged")
r = w.request(coap.GET, "/obs", options=[(coap.OBSERVE, b""),
                                         (coap.ECHO, r.opt(coap.ECHO))],
              echo=False)
ck.code(r, coap.CONTENT, "with the Echo value")
ck.ok(r is not None and r.opt(coap.OBSERVE) is not None, "it observes")

# the same for a hook route, whose output changes every interval_s = 1
v = coap.Client(port, src="127.0.0.11")
v.send(v.build(coap.GET, "/hobs", options=[(coap.OBSERVE, b"")]))
got = v.recv_all(2.5)
ck.eq(len(got), 1, "Observe of a hook route from a fresh address: one answer")
m = coap.Msg(got[0]) if got else None
ck.code(m, coap.UNAUTHORIZED, "a challenge")
ck.ok(m is not None and m.opt(coap.OBSERVE) is None,
      "no observation (no notification in 2.5 s at interval_s = 1)")
r = v.request(coap.GET, "/hobs", options=[(coap.OBSERVE, b""),
                                          (coap.ECHO, m.opt(coap.ECHO))],
              echo=False)
ck.code(r, coap.CONTENT, "with the Echo value")
ck.ok(r is not None and r.opt(coap.OBSERVE) is not None, "it observes")
got = v.recv_all(2.5)
ck.ok(len(got) >= 1, "and notifications follow (%d in 2.5 s)" % len(got))
ck.done()
PY

# --- libcoap's client handles the challenge by itself --------------------
ch0=$(stat_value amp_challenges)
ver0=$(stat_value echo_verified)
coap_get "coap://127.0.0.1:$PORT/kib" >"$T/got"
assert_file_eq "$T/got" "$T/www/kib.bin" "coap-client-notls GETs the 1 KiB"
assert_eq $(($(stat_value amp_challenges) - ch0)) 1 "it was challenged once"
assert_eq $(($(stat_value echo_verified) - ver0)) 1 "and answered the Echo"
printf 'from libcoap\n' >"$T/body"
timeout 10 coap-client-notls -B 3 -m put -f "$T/body" \
    "coap://[::1]:$PORT/up/state.txt" 2>"$COAP_ERR"
assert_eq "$(cat "$T/up/state.txt")" "real" "::1 is outside net:127.0.0.0/8"
assert_contains "$(cat "$COAP_ERR")" "4.03" "so its PUT is forbidden"
ver0=$(stat_value echo_verified)
req0=$(stat_value echo_required)
timeout 10 coap-client-notls -B 3 -m put -f "$T/body" \
    "coap://127.0.0.1:$PORT/up/other.txt" 2>"$COAP_ERR"
assert_eq "$(cat "$T/up/other.txt")" "from libcoap" \
    "coap-client-notls PUTs on the net: route (Echo handled)"
assert_eq "$(stat_value echo_required)" "$req0" \
    "the address verified by its GET needs no new challenge"
# --- /.well-known/core lists only the routes the client may use ----------
coap_get "coap://127.0.0.1:$PORT/.well-known/core" >"$T/wk4"
coap_get "coap://[::1]:$PORT/.well-known/core" >"$T/wk6"
assert_contains "$(cat "$T/wk4")" "</up>" "/up listed for 127.0.0.1 (net:127.0.0.0/8)"
assert_contains "$(cat "$T/wk6")" "</kib>" "::1 gets the document"
assert_not_contains "$(cat "$T/wk6")" "</up>" "without /up, which ::1 may not use"

finish
