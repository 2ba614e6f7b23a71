# dtls.sh - helpers for the DTLS tests (tests/integ/8N-dtls-*.sh), sourced
# after lib.sh.
#
# dtls_setup writes $T/psk (mode 0600) with three identities whose keys
# are ASCII strings (libcoap's -k takes the key as text), picks a plain
# port $PORT (start_coapd waits on it) and a DTLS port $DPORT.
# COAPD_EXPECT_CCM8=1 (make check-wolfssl) says the binary under test is
# linked against build/wolfssl and must negotiate TLS_PSK_WITH_AES_128_CCM_8.

KEY_SENSOR=sensor1-secret-key
KEY_ADMIN=admin-secret-key-0001
KEY_OTHER=other-secret-key-0002

need_cmd coap-client-openssl coap-client-gnutls openssl xxd

hexof() {
	printf %s "$1" | xxd -p -c 256
}

dtls_setup() {
	PORT=$(free_port)
	DPORT=$(free_port)
	while [ "$DPORT" = "$PORT" ]; do
		DPORT=$(free_port)
	done
	export PORT DPORT
	make_www
	{
		echo "# written by $TEST_NAME"
		echo "sensor-1:$(hexof "$KEY_SENSOR")"
		echo "admin:$(hexof "$KEY_ADMIN")"
		echo "other:$(hexof "$KEY_OTHER")"
	} >"$T/psk"
	chmod 0600 "$T/psk"
}

# dtls_conf FILE [DTLS_EXTRA [ROUTES_EXTRA [WORKERS]]]: plain listener on
# $PORT, DTLS on $DPORT (127.0.0.1 and ::1), the standard routes.
dtls_conf() {
	local dextra=${2:-} rextra=${3:-} workers=${4:-2}
	cat >"$1" <<EOT
# written by $TEST_NAME
listen = ( { address = "127.0.0.1"; port = $PORT; },
           { address = "127.0.0.1"; port = $DPORT; dtls = true; },
           { address = "::1"; port = $DPORT; dtls = true; } );
workers = $workers;
dtls = { psk_file = "$T/psk"; handshake_timeout_s = 1; $dextra };
routes = (
  { path = "/hello"; static = "$T/www/hello.txt"; },
  { path = "/files"; static = "$T/www"; }$rextra
);
log = { level = "info"; };
EOT
}

# coaps_get CLIENT ID KEY URI [args...]: GET over DTLS with a libcoap
# client, payload on stdout, the client's stderr in $COAP_ERR.
coaps_get() {
	local client=$1 id=$2 key=$3 uri=$4
	shift 4
	timeout 10 "$client" -B 3 -u "$id" -k "$key" -m get -o - "$@" "$uri" \
	    2>"$COAP_ERR"
}

# stats: ask coapd for its counters (SIGUSR1) and print the stats line.
stats() {
	signal_coapd USR1 ' stats, rx '
	grep ' stats, rx ' "$COAPD_LOG" | tail -n 1
}

# stat_value NAME: one counter of the latest stats line.
stat_value() {
	stats | sed -n "s/.* $1 \([0-9]*\).*/\1/p"
}

rss_kb() {
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$COAPD_PID/status"
}

# wait_log TEXT SECONDS: wait (bounded) until the log contains TEXT.
wait_log() {
	local i n=$(($2 * 20))
	for ((i = 0; i < n; i++)); do
		grep -qF -- "$1" "$COAPD_LOG" && return 0
		sleep 0.05
	done
	return 1
}

# sclient_open PORT: openssl s_client (DTLS 1.2, identity sensor-1) holding
# one session to 127.0.0.1:PORT, reading a fifo that fd $SC_FD writes,
# its output in $T/out and stderr in $T/err; its PID in SC_PID, stopped
# at exit.  Returns once coapd logged "handshake done", 1 if not in 10 s.
SC_PID="" SC_FD=""
stop_at_exit SC_PID
sclient_open() {
	mkfifo "$T/in"
	timeout 60 openssl s_client -dtls1_2 -quiet \
	    -psk "$(hexof "$KEY_SENSOR")" -psk_identity sensor-1 \
	    -connect "127.0.0.1:$1" <"$T/in" >"$T/out" 2>"$T/err" &
	SC_PID=$!
	exec {SC_FD}>"$T/in"
	wait_log "handshake done" 10
}

# sclient_get MID PATH WANT N: a CON GET of PATH (one segment of 1..12
# bytes) with Message ID 0x30MID (MID: two hex digits) through the
# session; waits (bounded) until WANT was seen N times in $T/out.  No 0x0a
# byte may be sent: s_client reads its input by lines.
sclient_get() {
	local i
	printf "\\x40\\x01\\x30\\x$1\\x$(printf %02x $((0xb0 + ${#2})))%s" \
	    "$2" >&"$SC_FD"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c "$3" "$T/out")" -ge "$4" ] && return 0
		sleep 0.05
	done
	return 1
}

# sclient_close: end the session's client (its input closed first).
sclient_close() {
	exec {SC_FD}>&-
	kill "$SC_PID" 2>/dev/null
	wait "$SC_PID" 2>/dev/null
	SC_PID=""
}
