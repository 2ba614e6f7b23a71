#!/bin/bash
# 66-dtls-reload: a DTLS session survives a reload (issue 17) with no new
# handshake.  openssl s_client holds one session; a CoAP GET goes through
# it before and after `coapd-ctl reload` of a config that adds a route;
# both are answered, the new route answers through the old session, and
# dtls_handshakes in `coapd-ctl stats --json` stays 1.
. "$(dirname "$0")/lib.sh"
. "$INTEG_DIR/dtls.sh"

CTL=${COAPD_CTL:-$TOP/build/coapd-ctl}
[ -x "$CTL" ] || fail "$CTL is missing: run make build/coapd-ctl"
trap "" PIPE	# a write to a client that is gone must not end the test
dtls_setup
SOCK="$T/ctl.sock"
printf 'added by the reload\n' >"$T/www/new.txt"
dtls_conf "$T/coapd.conf" "session_timeout_s = 60;" "" 1
echo "control_socket = \"$SOCK\";" >>"$T/coapd.conf"
start_coapd "$T/coapd.conf"

# json_metric NAME: one counter from coapd-ctl stats --json.
json_metric() {
	"$CTL" -s "$SOCK" stats --json | python3 -c \
	    'import json, sys; print(json.load(sys.stdin)["metrics"][sys.argv[1]])' "$1"
}

mkfifo "$T/in"
timeout 60 openssl s_client -dtls1_2 -quiet \
    -psk "$(hexof "$KEY_SENSOR")" -psk_identity sensor-1 \
    -connect "127.0.0.1:$DPORT" <"$T/in" >"$T/out" 2>"$T/err" &
spid=$!
exec {fd}>"$T/in"
wait_log "handshake done" 10 || _nok "no DTLS handshake"
assert_eq "$(json_metric dtls_handshakes)" 1 "one handshake"

# get MID PATH WANT N: CON GET PATH (one segment of 1..12 bytes) with MID
# 0x30MID through the session; waits until WANT was seen N times.  No 0x0a
# byte: s_client reads its input by lines.
get() {
	local i
	printf "\\x40\\x01\\x30\\x$1\\x$(printf %02x $((0xb0 + ${#2})))%s" \
	    "$2" >&"$fd"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c "$3" "$T/out")" -ge "$4" ] && return 0
		sleep 0.05
	done
	return 1
}

assert_true "GET through the session before the reload" \
    get 41 hello 'Hello, CoAP' 1
dtls_conf "$T/coapd.conf" "session_timeout_s = 60;" ',
  { path = "/new"; static = "'"$T"'/www/new.txt"; }' 1
echo "control_socket = \"$SOCK\";" >>"$T/coapd.conf"
out=$("$CTL" -s "$SOCK" reload 2>&1)
assert_eq "$?" 0 "coapd-ctl reload exits 0"
assert_contains "$out" "reloaded, 3 routes" "reload took the new route"
assert_true "the same session answers after the reload" \
    get 42 hello 'Hello, CoAP' 2
assert_true "the route added by the reload answers through it" \
    get 43 new 'added by the reload' 1
assert_eq "$(json_metric dtls_handshakes)" 1 "no new handshake"
assert_eq "$(json_metric dtls_sessions)" 1 "the session is the one held"
assert_true "s_client still runs (session not closed)" alive "$spid"

exec {fd}>&-
kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
finish
