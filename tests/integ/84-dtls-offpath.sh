#!/bin/bash
# 84-dtls-offpath: an off-path attacker who can forge the source address
# and port of an established DTLS client cannot end or stall its session
# (RFC 6347 §4.1.2.7: invalid records are silently discarded; a record
# never spans datagrams; §4.2.8: a ClientHello without a valid cookie does
# not replace the session), and 500 cookie-valid handshakes left half-open
# (no PSK needed to get that far) evict no established session when
# dtls.max_sessions = 8.
#
# The client is openssl s_client behind a relay (dtls_spoof.py) whose
# upstream socket also sends the forged datagrams: coapd sees them from
# the client's very address and port.  A forged hello (no cookie, or a
# stale one) while the session is live gets no answer at all: a
# HelloVerifyRequest arriving on its established session stalls OpenSSL
# 3.0's s_client for good.  The relay would drop and count one if coapd
# sent it, so the stall cannot hide the other checks.
. "$(dirname "$0")/lib.sh"
. "$INTEG_DIR/dtls.sh"

trap "" PIPE	# a write to a client that is gone must not end the test
dtls_setup
dtls_conf "$T/coapd.conf" "max_sessions = 8; session_timeout_s = 60;" "" 1
start_coapd "$T/coapd.conf"

LPORT=$(free_port)
CPORT=$(free_port)
timeout 60 python3 "$INTEG_DIR/dtls_spoof.py" relay "$LPORT" 127.0.0.1 \
    "$DPORT" "$CPORT" 55 >"$T/relay.out" &
rpid=$!
for ((i = 0; i < 100; i++)); do
	grep -q ready "$T/relay.out" && break
	sleep 0.05
done
grep -q ready "$T/relay.out" || fail "the relay did not start"
sclient_open "$LPORT" || _nok "no handshake through the relay"
hs0=$(stat_value dtls_handshakes)
assert_eq "$hs0" 1 "one handshake"

# get N: CON GET /hello with MID 0x30, 0x40 + N through the session; the
# answer counts
gets=0
get() {
	gets=$((gets + 1))
	sclient_get "$(printf %02x $((0x40 + $1)))" hello 'Hello, CoAP' "$gets"
}

assert_true "GET through the session" get 1
mid=2
for kind in short header long garbage junk alert0 hs0 ccs hello cookie \
    short; do
	python3 "$INTEG_DIR/dtls_spoof.py" inject "$CPORT" "$kind"
	sleep 0.1
	assert_true "session still answers after a forged '$kind' datagram" \
	    get "$mid"
	mid=$((mid + 1))
done
assert_eq "$(stat_value dtls_handshakes)" "$hs0" "no new handshake"
assert_eq "$(stat_value dtls_sessions)" 1 "the session is the one held"
assert_true "forged records were counted" \
    test "$(stat_value dtls_records_invalid)" -ge 5
# the two forged hellos: held (the session is live), nothing kept, no
# HelloVerifyRequest towards the client
assert_eq "$(stat_value dtls_hello_held)" 2 \
    "forged hellos to a live session are held"
assert_eq "$(stat_value dtls_hello_verify)" 1 \
    "only the real hello got a HelloVerifyRequest"
assert_eq "$(grep -c "hvr dropped" "$T/relay.out")" 0 \
    "no HelloVerifyRequest reached the client's address"

# --- 500 half-open handshakes, max_sessions = 8 ---------------------------
out=$(timeout 30 python3 "$INTEG_DIR/dtls_hello.py" halfopen 127.0.0.1 \
    "$DPORT" 500)
echo "$out"
assert_eq "$out" "halfopen 500 of 500" "every half-open handshake got a ServerHello"
assert_true "GET through the established session after 500 half-open" \
    get "$mid"
assert_eq "$(stat_value dtls_handshakes)" "$hs0" "still no new handshake"
assert_true "half-open handshakes were evicted, not the session" \
    test "$(stat_value dtls_handshakes_evicted)" -ge 400
assert_eq "$(stat_value dtls_evicted)" 0 "no established session evicted"
# a legitimate new client still gets in
coaps_get coap-client-openssl admin "$KEY_ADMIN" \
    "coaps://127.0.0.1:$DPORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "a new client completes its handshake"
assert_true "and the first session still answers" get $((mid + 1))

sclient_close
kill "$rpid" 2>/dev/null
wait "$rpid" 2>/dev/null
finish
