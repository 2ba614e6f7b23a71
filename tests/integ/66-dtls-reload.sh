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

sclient_open "$DPORT" || _nok "no DTLS handshake"
assert_eq "$(json_metric dtls_handshakes)" 1 "one handshake"

assert_true "GET through the session before the reload" \
    sclient_get 41 hello 'Hello, CoAP' 1
dtls_conf "$T/coapd.conf" "session_timeout_s = 60;" ',
  { path = "/new"; static = "'"$T"'/www/new.txt"; }' 1
echo "control_socket = \"$SOCK\";" >>"$T/coapd.conf"
out=$("$CTL" -s "$SOCK" reload 2>&1)
assert_eq "$?" 0 "coapd-ctl reload exits 0"
assert_contains "$out" "reloaded, 3 routes" "reload took the new route"
assert_true "the same session answers after the reload" \
    sclient_get 42 hello 'Hello, CoAP' 2
assert_true "the route added by the reload answers through it" \
    sclient_get 43 new 'added by the reload' 1
assert_eq "$(json_metric dtls_handshakes)" 1 "no new handshake"
assert_eq "$(json_metric dtls_sessions)" 1 "the session is the one held"
assert_true "s_client still runs (session not closed)" alive "$SC_PID"

sclient_close
finish
