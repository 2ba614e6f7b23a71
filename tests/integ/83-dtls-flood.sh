#!/bin/bash
# 83-dtls-flood: 10,000 cookieless ClientHellos from 500 source ports
# (design.md: libcoap's DTLS servers then refuse a legitimate client for
# more than 10 s) leave the session table empty and RSS flat, and a
# legitimate client is served within a second meanwhile.  Then a table of
# max_sessions = 10 with 20 clients: the 10 newest are served, the 10
# least recently used were evicted, new clients still get in.
. "$(dirname "$0")/lib.sh"
. "$INTEG_DIR/dtls.sh"

ms() {
	echo $(($(date +%s%N) / 1000000))
}

dtls_setup
dtls_conf "$T/coapd.conf"
start_coapd "$T/coapd.conf"

# Warm up: the first burst touches send buffers that then stay resident.
python3 "$INTEG_DIR/dtls_hello.py" flood 127.0.0.1 "$DPORT" 100 20 >/dev/null
rss0=$(rss_kb)
hvr0=$(stat_value dtls_hello_verify)

timeout 20 python3 "$INTEG_DIR/dtls_hello.py" flood 127.0.0.1 "$DPORT" 500 20 \
    >"$T/flood.out" &
fpid=$!
sleep 0.02
t0=$(ms)
coaps_get coap-client-openssl sensor-1 "$KEY_SENSOR" \
    "coaps://127.0.0.1:$DPORT/hello" >"$T/got"
t1=$(ms)
wait "$fpid"
cat "$T/flood.out"
assert_file_eq "$T/got" "$T/www/hello.txt" "legitimate client served during the flood"
if [ $((t1 - t0)) -lt 1000 ]; then
	_ok "legitimate client served in $((t1 - t0)) ms (< 1 s)"
else
	_nok "legitimate client took $((t1 - t0)) ms (>= 1 s)"
fi
sent=$(sed -n 's/^sent \([0-9]*\) in \([0-9.]*\) s.*/\1/p' "$T/flood.out")
secs=$(sed -n 's/^sent [0-9]* in \([0-9.]*\) s.*/\1/p' "$T/flood.out")
assert_eq "$sent" 10000 "10,000 ClientHellos sent"
assert_true "sent in under a second ($secs s)" \
    python3 -c "import sys; sys.exit(0 if float('$secs') < 1 else 1)"
sleep 0.3
assert_eq "$(stat_value dtls_sessions)" 0 "session table empty after the flood"
hvr=$(stat_value dtls_hello_verify)
assert_true "every ClientHello answered statelessly ($((hvr - hvr0)) HVRs)" \
    test $((hvr - hvr0)) -ge 10000
rss1=$(rss_kb)
# ASan keeps freed memory in quarantine (and shadows it), so a sanitizer
# build grows by a few MiB without a leak; a leak of even one allocation
# per ClientHello would still be tens of MiB.
grow_max=1024
[ "${COAPD_SANITIZE:-0}" = 1 ] && grow_max=16384
if [ $((rss1 - rss0)) -lt "$grow_max" ]; then
	_ok "RSS flat: $rss0 kB -> $rss1 kB"
else
	_nok "RSS grew by $((rss1 - rss0)) kB ($rss0 kB -> $rss1 kB)"
fi
coaps_get coap-client-gnutls admin "$KEY_ADMIN" \
    "coaps://[::1]:$DPORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "served after the flood"
stop_coapd

# --- max_sessions = 10, one worker, 20 clients holding sessions ----------
dtls_conf "$T/coapd.conf" "max_sessions = 10; session_timeout_s = 60;" "" 1
start_coapd "$T/coapd.conf"
base=$(grep -c 'handshake done' "$COAPD_LOG")
declare -a fd pid
for ((i = 0; i < 20; i++)); do
	mkfifo "$T/in.$i"
	timeout 60 openssl s_client -dtls1_2 \
	    -psk "$(hexof "$KEY_SENSOR")" -psk_identity sensor-1 \
	    -connect "127.0.0.1:$DPORT" <"$T/in.$i" >"$T/out.$i" \
	    2>"$T/err.$i" &
	pid[i]=$!
	exec {f}>"$T/in.$i"
	fd[i]=$f
	for ((n = 0; n < 100; n++)); do
		[ "$(grep -c 'handshake done' "$COAPD_LOG")" -gt \
		    $((base + i)) ] && break
		sleep 0.03
	done
done
assert_eq $(($(grep -c 'handshake done' "$COAPD_LOG") - base)) 20 \
    "20 handshakes"
assert_eq "$(stat_value dtls_sessions)" 10 "the table holds max_sessions = 10"
assert_eq "$(stat_value dtls_evicted)" 10 "10 least recently used evicted"
# (MID 0x2030 + i: no byte of a request is a newline, which s_client
# may send as a datagram of its own)
# CON GET /hello through every session, newest first
for ((i = 19; i >= 0; i--)); do
	printf "\\x40\\x01\\x20\\x$(printf %02x $((i + 0x30)))\\xb5hello" >&"${fd[i]}"
done
# the answers, each through its s_client: up to 5 s on a loaded machine,
# then a moment for any the evicted ones would (wrongly) get
for ((n = 0; n < 100; n++)); do
	k=0
	for ((i = 10; i < 20; i++)); do
		grep -q 'Hello, CoAP' "$T/out.$i" && k=$((k + 1))
	done
	[ "$k" -eq 10 ] && break
	sleep 0.05
done
sleep 0.5
served=""
for ((i = 0; i < 20; i++)); do
	grep -q 'Hello, CoAP' "$T/out.$i" && served="$served $i"
	exec {fd[i]}>&-
done
assert_eq "$served" " 10 11 12 13 14 15 16 17 18 19" "the 10 newest are served"
for ((i = 0; i < 20; i++)); do
	# an evicted client never hears of it: stop it (timeout passes it on)
	kill "${pid[i]}" 2>/dev/null
	wait "${pid[i]}" 2>/dev/null
done
coaps_get coap-client-openssl admin "$KEY_ADMIN" \
    "coaps://127.0.0.1:$DPORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "a new client gets in when the table is full"

finish
