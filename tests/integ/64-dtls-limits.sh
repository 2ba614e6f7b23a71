#!/bin/bash
# 64-dtls-limits: over DTLS a PSK identity has its own bucket
# (limits.identity_rate / identity_burst), shared by every address it comes
# from; another identity from the same address is not affected.  libcoap's
# coap-client-openssl, one handshake per request, from three addresses.
. "$(dirname "$0")/lib.sh"
. "$INTEG_DIR/dtls.sh"
need_cmd coap-client-openssl xxd

dtls_setup
# one worker: buckets are per worker, and the addresses of one identity
# may be steered to different workers (coapd.conf(5) identity_rate)
dtls_conf "$T/coapd.conf" "" "" 1
echo 'limits = { identity_rate = 1; identity_burst = 2; };' >>"$T/coapd.conf"
start_coapd "$T/coapd.conf"

ok=0 limited=0
t0=$(date +%s%N)
for i in 5 6 7 5 6 7; do
	out=$(coaps_get coap-client-openssl sensor-1 "$KEY_SENSOR" \
	    "coaps://127.0.0.1:$DPORT/hello" -a "127.0.0.$i")
	case "$out$(cat "$COAP_ERR")" in
	*"Hello, CoAP!"*) ok=$((ok + 1)) ;;
	*4.29*) limited=$((limited + 1)) ;;
	esac
done
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# sensor-1 from 3 addresses: $ok served, $limited x 4.29 in $ms ms"
# 2 at once, then 1 a second
if [ "$ms" -lt 1000 ]; then
	assert_eq "$ok" 2 "identity bucket: exactly its burst served"
else
	assert_true "identity bucket: 2 + 1/s served ($ok in $ms ms)" \
	    test "$ok" -ge 2 -a "$ok" -le $((2 + ms / 1000))
fi
assert_true "identity over its rate got 4.29 ($limited)" test "$limited" -ge 1
assert_eq "$((ok + limited))" 6 "every request answered, 2.05 or 4.29"
out=$(coaps_get coap-client-openssl admin "$KEY_ADMIN" \
    "coaps://127.0.0.1:$DPORT/hello" -a 127.0.0.7)
assert_eq "$out" "Hello, CoAP!" "another identity from the same address is served"
kill -USR1 "$COAPD_PID"
for _ in $(seq 30); do
	grep -q "stats, rate_limited_address" "$COAPD_LOG" && break
	sleep 0.1
done
line=$(grep "stats, rate_limited_address" "$COAPD_LOG" | tail -1)
assert_contains "$line" "rate_limited_identity $limited" \
    "refusals counted for the identity bucket"
assert_contains "$line" "rate_limited_address 0" "no address bucket involved"

finish
