#!/bin/bash
# 59-backend-libcoap: Observe through a backend route in front of an
# independent CoAP server, libcoap's coap-server-notls, over both backend
# transports: directly (backend = "coap://...") and on a Unix socket
# through tests/backend/udp-bridge.py.  For each: a GET, a Block2
# response (a 3000-byte /example_data PUT first, read in 64-byte blocks)
# and an observation of its /time (a notification a second) with
# libcoap's coap-client-notls -s: the client gets at least 3
# notifications, the server sees one subscription, and once the client
# leaves, coapd deregisters upstream (the server removes the subscription).
. "$(dirname "$0")/lib.sh"

need_cmd coap-server-notls
BK=$TOP/tests/backend
PORT=$(free_port)
LPORT=$PORT
while [ "$LPORT" = "$PORT" ]; do LPORT=$(free_port); done
LC_PID="" BR_PID="" OBS=""
stop_at_exit OBS BR_PID LC_PID

cat >"$T/coapd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
workers = 2;
routes = (
  { path = "/lc"; backend = "coap://127.0.0.1:$LPORT"; timeout_s = 2;
    strip_prefix = true; observe = true; },
  { path = "/lcu"; backend = "$T/bridge.sock"; timeout_s = 2;
    strip_prefix = true; observe = true; }
);
log = { level = "info"; };
CONF

# -v 7: the server logs "create new subscription" and "removed
# subscription" (libcoap 4.3)
coap-server-notls -A 127.0.0.1 -p "$LPORT" -v 7 >"$T/lc.log" 2>&1 &
LC_PID=$!
python3 "$BK/udp-bridge.py" "$T/bridge.sock" "127.0.0.1:$LPORT" \
    2>"$T/bridge.log" &
BR_PID=$!
for ((i = 0; i < 100; i++)); do
	[ -S "$T/bridge.sock" ] && break
	sleep 0.05
done
assert_true "udp-bridge bound its socket" test -S "$T/bridge.sock"
python3 "$INTEG_DIR/coap.py" wait 127.0.0.1 "$LPORT" "$LC_PID" 5 ||
    fail "coap-server-notls does not answer on $LPORT"
start_coapd "$T/coapd.conf"
A=coap://127.0.0.1:$PORT

subs() { grep -c 'create new subscription' "$T/lc.log"; }
gone() { grep -c 'removed subscription' "$T/lc.log"; }

direct=$(coap_get "coap://127.0.0.1:$LPORT/")
assert_contains "$direct" "libcoap" "coap-server-notls answers directly"
head -c 3000 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 3000 \
    >"$T/data.txt"
for r in lc lcu; do
	# --- GET and Block2 -------------------------------------------------
	assert_eq "$(coap_get "$A/$r/")" "$direct" "GET /$r/ as directly"
	timeout 30 "$COAP_CLIENT" -B 20 -m put -f "$T/data.txt" -b 64 \
	    "$A/$r/example_data" >/dev/null 2>&1
	coap_get "$A/$r/example_data" -b 64 -B 20 >"$T/$r.data"
	assert_file_eq "$T/$r.data" "$T/data.txt" \
	    "/$r: PUT 3000 bytes (Block1 64), GET them back (Block2 64)"

	# --- Observe /time: 3 notifications, one subscription, deregistered -
	s0=$(subs) g0=$(gone)
	timeout 20 "$COAP_CLIENT" -B 10 -s 4 "$A/$r/time" \
	    >"$T/$r.obs" 2>"$T/$r.obs.err" &
	OBS=$!
	wait "$OBS"
	OBS=""
	# the client prints the payloads ("Dec 03 17:33:56") without separators
	n=$(grep -oE '[A-Z][a-z]{2} [0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}' \
	    "$T/$r.obs" | sort -u | grep -c .)
	assert_true "/$r/time observed 4 s: the answer and >= 3 notifications ($n distinct)" \
	    test "$n" -ge 4
	assert_eq "$(subs)" $((s0 + 1)) "/$r/time: one subscription upstream"
	for ((i = 0; i < 40; i++)); do
		[ "$(gone)" -gt "$g0" ] && break
		sleep 0.1
	done
	assert_eq "$(gone)" $((g0 + 1)) \
	    "/$r/time: the client left, coapd deregistered upstream"
done
assert_true "coapd still running" alive "$COAPD_PID"

finish
