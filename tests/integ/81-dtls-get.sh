#!/bin/bash
# 81-dtls-get: CoAP over DTLS 1.2 with PSK: libcoap's OpenSSL and GnuTLS
# clients over IPv4 and IPv6, the cipher suite logged, openssl s_client,
# Block2 over DTLS, the stateless cookie exchange, coapd -V.
# With COAPD_EXPECT_CCM8=1: TLS_PSK_WITH_AES_128_CCM_8 is negotiated.
. "$(dirname "$0")/lib.sh"
. "$INTEG_DIR/dtls.sh"

dtls_setup
head -c 5120 /dev/urandom >"$T/www/five.bin"
printf 'v1\n' >"$T/www/obs.txt"
dtls_conf "$T/coapd.conf" "hello_hold_s = 1;" ',
  { path = "/obs"; static = "'"$T"'/www/obs.txt"; observe = true; }'
start_coapd "$T/coapd.conf"

# --- libcoap clients ----------------------------------------------------
for client in coap-client-openssl coap-client-gnutls; do
	for host in 127.0.0.1 '[::1]'; do
		coaps_get $client sensor-1 "$KEY_SENSOR" \
		    "coaps://$host:$DPORT/hello" >"$T/got"
		assert_file_eq "$T/got" "$T/www/hello.txt" \
		    "$client GET coaps://$host/hello"
	done
done
assert_true "handshake logged with the cipher suite" \
    grep -q 'handshake done, identity "sensor-1", cipher suite TLS_PSK' \
    "$COAPD_LOG"
assert_true "handshake over IPv6 logged with the peer" \
    grep -q 'dtls \[::1\]:[0-9]*, handshake done' "$COAPD_LOG"
if [ "${COAPD_EXPECT_CCM8:-}" = 1 ]; then
	assert_true "libcoap clients negotiate TLS_PSK_WITH_AES_128_CCM_8" \
	    grep -q 'cipher suite TLS_PSK_WITH_AES_128_CCM_8' "$COAPD_LOG"
	assert_contains "$("$COAPD" -V)" "TLS_PSK_WITH_AES_128_CCM_8 (mandatory, RFC 7252 9.1.3.1): yes" \
	    "coapd -V offers CCM-8"
else
	v=$("$COAPD" -V)
	assert_contains "$v" "wolfSSL" "coapd -V names wolfSSL"
	if [[ $v == *"CCM_8 (mandatory, RFC 7252 9.1.3.1): yes"* ]]; then
		_ok "coapd -V: this wolfSSL offers CCM-8"
	else
		assert_contains "$v" "make WOLFSSL=build/wolfssl" \
		    "coapd -V says how to get CCM-8"
	fi
fi

# --- Block2 over DTLS: 5 KiB in 1024-byte blocks --------------------------
coaps_get coap-client-openssl sensor-1 "$KEY_SENSOR" \
    "coaps://127.0.0.1:$DPORT/files/five.bin" >"$T/got5"
assert_file_eq "$T/got5" "$T/www/five.bin" "Block2 download over DTLS (openssl)"
coaps_get coap-client-gnutls admin "$KEY_ADMIN" \
    "coaps://[::1]:$DPORT/files/five.bin" -b 256 >"$T/got5g"
assert_file_eq "$T/got5g" "$T/www/five.bin" "Block2 download over DTLS (gnutls, 256)"
assert_eq "$(sha256sum <"$T/got5" | cut -d' ' -f1)" \
    "$(sha256sum <"$T/www/five.bin" | cut -d' ' -f1)" "Block2 checksum"

# --- openssl s_client: handshake, then a CoAP GET through it ------------
cipher=PSK
[ "${COAPD_EXPECT_CCM8:-}" = 1 ] && cipher=PSK-AES128-CCM8
mkfifo "$T/sin"
timeout 10 openssl s_client -dtls1_2 -cipher "$cipher" \
    -psk "$(hexof "$KEY_SENSOR")" -psk_identity sensor-1 \
    -connect "127.0.0.1:$DPORT" <"$T/sin" >"$T/sout" 2>"$T/serr" &
spid=$!
exec 7>"$T/sin"
wait_log 'handshake done, identity "sensor-1", cipher suite' 3
for ((i = 0; i < 40; i++)); do
	[ "$(grep -c 'handshake done' "$COAPD_LOG")" -ge 7 ] && break
	sleep 0.05
done
# CON GET /hello, MID 0x1234, no token
printf '\x40\x01\x12\x34\xb5hello' >&7
for ((i = 0; i < 40; i++)); do
	grep -q 'Hello, CoAP' "$T/sout" 2>/dev/null && break
	sleep 0.05
done
exec 7>&-
kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
assert_true "openssl s_client GET /hello over DTLS" \
    grep -q 'Hello, CoAP' "$T/sout"
if [ "${COAPD_EXPECT_CCM8:-}" = 1 ]; then
	assert_true "openssl s_client negotiated CCM-8" \
	    grep -q 'cipher suite TLS_PSK_WITH_AES_128_CCM_8 (PSK-AES128-CCM-8)' \
	    "$COAPD_LOG"
fi

# --- a new ClientHello from an address with a session: a new session -----
sport=$(free_port)
sleep 0.2	# a close_notify of the client above is processed first
base=$(stat_value dtls_sessions)
for round in 1 2; do
	rm -f "$T/sin" "$T/sout"
	mkfifo "$T/sin"
	timeout 10 openssl s_client -dtls1_2 -bind "127.0.0.1:$sport" \
	    -psk "$(hexof "$KEY_ADMIN")" -psk_identity admin \
	    -connect "127.0.0.1:$DPORT" <"$T/sin" >"$T/sout" 2>"$T/serr" &
	spid=$!
	exec 7>"$T/sin"
	# round 2's first hello reaches a session that spoke within
	# dtls.hello_hold_s (1 s here) and is held; its retransmission, a
	# second later, is answered
	for ((i = 0; i < 160; i++)); do
		[ "$(grep -c "handshake done, identity \"admin\"" \
		    "$COAPD_LOG")" -ge "$round" ] && break
		sleep 0.05
	done
	printf '\x40\x01\x30\x01\xb5hello' >&7
	for ((i = 0; i < 40; i++)); do
		grep -q 'Hello, CoAP' "$T/sout" 2>/dev/null && break
		sleep 0.05
	done
	assert_true "same source port, session $round served" \
	    grep -q 'Hello, CoAP' "$T/sout"
	# the client vanishes without close_notify: SIGKILL to s_client
	# itself (a child of timeout, which would pass on only a catchable
	# signal), before its input closes
	kill -KILL $(pgrep -P "$spid") "$spid" 2>/dev/null
	exec 7>&-
	wait "$spid" 2>/dev/null
done
assert_eq "$(stat_value dtls_sessions)" $((base + 1)) \
    "the second hello replaced the first session"

# --- Observe over DTLS: notifications sent later, encrypted ---------------
timeout 10 coap-client-openssl -B 5 -s 4 -u sensor-1 -k "$KEY_SENSOR" \
    -m get -o - "coaps://127.0.0.1:$DPORT/obs" >"$T/obs.out" 2>&1 &
opid=$!
wait_log 'handshake done' 3
sleep 1
printf 'v2\n' >"$T/www/obs.txt"
sleep 1
printf 'v3\n' >"$T/www/obs.txt"
wait "$opid"
assert_contains "$(tr '\n' ' ' <"$T/obs.out")" "v1 v2 v3" \
    "Observe notifications over DTLS"

# --- the cookie exchange itself (RFC 6347 4.2.1) --------------------------
assert_true "HelloVerifyRequest, bad cookie refused, good cookie accepted" \
    timeout 10 python3 "$INTEG_DIR/dtls_hello.py" cookie 127.0.0.1 "$DPORT"

# --- the plain listener still works beside DTLS -------------------------
coap_get "coap://127.0.0.1:$PORT/hello" >"$T/gotp"
assert_file_eq "$T/gotp" "$T/www/hello.txt" "plain CoAP beside DTLS"

finish
