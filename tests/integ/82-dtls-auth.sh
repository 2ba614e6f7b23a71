#!/bin/bash
# 82-dtls-auth: wrong key and unknown identity get no answer and the
# half-open handshake is reaped and logged with the peer; route `allow`:
# 4.03 for another identity, 4.01 on plain CoAP, net: entries; a reload
# reads the psk_file again; a bad psk_file is refused with file:line.
. "$(dirname "$0")/lib.sh"
. "$INTEG_DIR/dtls.sh"

dtls_setup
dtls_conf "$T/coapd.conf" "" ',
  { path = "/admin"; static = "'"$T"'/www/hello.txt";
    allow = [ "psk:admin", "psk:sens*-9" ]; },
  { path = "/lan"; static = "'"$T"'/www/hello.txt";
    allow = [ "psk:admin", "net:127.0.0.0/8" ]; },
  { path = "/v6only"; static = "'"$T"'/www/hello.txt";
    allow = [ "net:::1/128" ]; }'
start_coapd "$T/coapd.conf"

# --- wrong key: no answer; the half-open handshake is reaped ------------
timeout 10 coap-client-openssl -B 2 -u sensor-1 -k wrong-key-wrong-key \
    -m get -o - "coaps://127.0.0.1:$DPORT/hello" >"$T/got" 2>"$COAP_ERR"
# (libcoap logs "cannot send CoAP pdu" on stdout)
assert_not_contains "$(cat "$T/got")" "Hello, CoAP" "wrong key: no answer"
assert_true "wrong key: half-open handshake reaped and logged" \
    wait_log "handshake not completed within 1 s, wrong key?" 3
assert_true "the reaped handshake names peer address and identity" \
    grep -Eq 'dtls 127\.0\.0\.1:[0-9]+, handshake not completed within 1 s, wrong key\? .*sensor-1' \
    "$COAPD_LOG"
assert_eq "$(stat_value dtls_sessions)" 0 "no session left after the wrong key"

# --- an identity not in the file ----------------------------------------
timeout 10 coap-client-gnutls -B 2 -u nobody -k "$KEY_SENSOR" \
    -m get -o - "coaps://[::1]:$DPORT/hello" >"$T/got" 2>"$COAP_ERR"
assert_not_contains "$(cat "$T/got")" "Hello, CoAP" "unknown identity: no answer"
assert_true "unknown identity logged" wait_log 'unknown PSK identity' 3

# --- allow ----------------------------------------------------------------
coaps_get coap-client-openssl admin "$KEY_ADMIN" \
    "coaps://127.0.0.1:$DPORT/admin" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "allowed identity served"
coaps_get coap-client-openssl sensor-1 "$KEY_SENSOR" \
    "coaps://127.0.0.1:$DPORT/admin" >"$T/got"
assert_contains "$(cat "$COAP_ERR")" "4.03" "another identity gets 4.03"
coaps_get coap-client-gnutls other "$KEY_OTHER" \
    "coaps://[::1]:$DPORT/admin" >"$T/got"
assert_contains "$(cat "$COAP_ERR")" "4.03" "another identity gets 4.03 (gnutls, v6)"
coap_get "coap://127.0.0.1:$PORT/admin" >"$T/got"
assert_contains "$(cat "$COAP_ERR")" "4.01" "plain CoAP gets 4.01"
assert_eq "$(wc -c <"$T/got")" 0 "plain CoAP: no payload"
coap_get "coap://127.0.0.1:$PORT/lan" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "plain CoAP served by a net: entry"
coaps_get coap-client-openssl sensor-1 "$KEY_SENSOR" \
    "coaps://127.0.0.1:$DPORT/lan" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "DTLS served by a net: entry"
coaps_get coap-client-openssl sensor-1 "$KEY_SENSOR" \
    "coaps://127.0.0.1:$DPORT/v6only" >"$T/got"
assert_contains "$(cat "$COAP_ERR")" "4.03" "net: only, other network: 4.03"
coaps_get coap-client-openssl sensor-1 "$KEY_SENSOR" \
    "coaps://[::1]:$DPORT/v6only" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "net:::1/128 over IPv6"

# --- reload reads the key file again --------------------------------------
echo "sensor-9:$(hexof sensor9-secret-key-x)" >>"$T/psk"
kill -HUP "$COAPD_PID"
wait_log "reloaded" 5
coaps_get coap-client-openssl sensor-9 sensor9-secret-key-x \
    "coaps://127.0.0.1:$DPORT/admin" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "key added on reload, glob psk:sens*-9"

# --- reload changes the cipher suites of new handshakes ------------------
sed -i 's|handshake_timeout_s = 1;|handshake_timeout_s = 1; ciphers = [ "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256" ];|' \
    "$T/coapd.conf"
kill -HUP "$COAPD_PID"
for ((i = 0; i < 50; i++)); do
	[ "$(grep -c reloaded "$COAPD_LOG")" -ge 2 ] && break
	sleep 0.05
done
coaps_get coap-client-openssl sensor-1 "$KEY_SENSOR" \
    "coaps://127.0.0.1:$DPORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "served after a cipher change"
assert_true "new handshakes use the reloaded cipher list" \
    grep -q 'cipher suite TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256' "$COAPD_LOG"

# --- a bad psk_file is refused with file:line -----------------------------
bad_case() {
	local what=$1 want=$2 out rc
	out=$("$COAPD" -t -c "$T/bad.conf" 2>&1)
	rc=$?
	assert_eq "$rc" 1 "$what: coapd -t exits 1"
	assert_contains "$out" "$want" "$what: reported with file:line"
	out=$("$COAPD" -c "$T/bad.conf" 2>&1)
	rc=$?
	assert_eq "$rc" 1 "$what: coapd refuses to start"
	assert_contains "$out" "$want" "$what: start-up says why"
}
cp "$T/psk" "$T/bad.psk"
sed "s|psk_file = \"$T/psk\"|psk_file = \"bad.psk\"|" "$T/coapd.conf" \
    >"$T/bad.conf"
chmod 0644 "$T/bad.psk"
bad_case "mode 0644" \
    "$T/bad.conf:6: dtls.psk_file: \"bad.psk\" ($T/bad.psk): readable by group or others (mode 0644): make it 0600"
chmod 0640 "$T/bad.psk"
bad_case "mode 0640" "readable by group or others (mode 0640)"
chmod 0600 "$T/bad.psk"
printf 'this line has no colon\n' >>"$T/bad.psk"
bad_case "malformed line" \
    "$T/bad.psk:6: malformed line, expected \"identity:hexkey\""
sed -i '$d' "$T/bad.psk"
printf 'tiny:00112233\n' >>"$T/bad.psk"
bad_case "short key" \
    "$T/bad.psk:6: key of identity \"tiny\" has 4 bytes, it must have 16 to 64"
# the running daemon refuses such a file on reload and keeps serving
cp "$T/bad.psk" "$T/psk"
kill -HUP "$COAPD_PID"
wait_log "reload failed" 5
coaps_get coap-client-openssl admin "$KEY_ADMIN" \
    "coaps://127.0.0.1:$DPORT/admin" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "bad key file on reload: old keys serve"

finish
