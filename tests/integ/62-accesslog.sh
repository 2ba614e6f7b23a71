#!/bin/bash
# 62-accesslog: log.access = true writes one line per answered request
# (immediate and separate answers) with peer, method, path, route, code and
# latency, and over DTLS the PSK identity; off, nothing per request.  On stderr lines read "coapd: ...";
# when stderr is journald's stream (JOURNAL_STREAM names it) and journald
# cannot be reached, lines carry a "<N>" priority prefix instead.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
make_www
cat >"$T/hook.sh" <<'SH'
#!/bin/sh
echo hooked
SH
chmod 0755 "$T/hook.sh"
std_conf "$T/coapd.conf" ',
  { path = "/h"; hook = [ "'"$T"'/hook.sh" ]; run_as_root = true; }'
sed -i 's/^log = .*/log = { level = "info"; access = true; };/' "$T/coapd.conf"
echo "separate_after_ms = 0;" >>"$T/coapd.conf"

start_coapd "$T/coapd.conf"
coap_get "coap://127.0.0.1:$PORT/hello" >/dev/null
coap_get "coap://127.0.0.1:$PORT/files/nope.txt" >/dev/null
coap_get "coap://127.0.0.1:$PORT/h" >"$T/got"
assert_eq "$(cat "$T/got")" "hooked" "hook answered"
stop_coapd
log=$(cat "$COAPD_LOG")
assert_contains "$log" "coapd: GET /hello 2.05 peer=127.0.0.1:" "access line of a file"
assert_contains "$log" "method=GET path=/hello route=/hello code=2.05 latency_us=" "fields of the access line"
assert_contains "$log" "GET /files/nope.txt 4.04" "access line of a 4.04"
assert_contains "$log" "path=/h route=/h code=2.05" "access line of a separate answer"

# Off: no line per request.
sed -i 's/access = true;/access = false;/' "$T/coapd.conf"
: >"$COAPD_LOG"
start_coapd "$T/coapd.conf"
coap_get "coap://127.0.0.1:$PORT/hello" >/dev/null
stop_coapd
assert_not_contains "$(cat "$COAPD_LOG")" "GET /hello" "no access line when off"

# Over DTLS a separate answer's line names the PSK identity, kept with the
# pending exchange until the hook answers.
# (dtls.sh skips the whole test when one of its clients is missing)
if command -v coap-client-openssl >/dev/null &&
    command -v coap-client-gnutls >/dev/null &&
    command -v openssl >/dev/null && command -v xxd >/dev/null; then
	. "$INTEG_DIR/dtls.sh"
	dtls_setup
	dtls_conf "$T/coapd.conf" "" ',
  { path = "/h"; hook = [ "'"$T"'/hook.sh" ]; run_as_root = true; }'
	sed -i 's/^log = .*/log = { level = "info"; access = true; };/' \
	    "$T/coapd.conf"
	echo "separate_after_ms = 0;" >>"$T/coapd.conf"
	: >"$COAPD_LOG"
	start_coapd "$T/coapd.conf"
	coaps_get coap-client-openssl sensor-1 "$KEY_SENSOR" \
	    "coaps://127.0.0.1:$DPORT/h" >"$T/got"
	assert_eq "$(cat "$T/got")" "hooked" "hook answered over DTLS"
	stop_coapd
	assert_contains "$(cat "$COAPD_LOG")" \
	    "psk_identity=sensor-1 method=GET path=/h route=/h code=2.05" \
	    "access line of a separate answer over DTLS"
else
	echo "# no DTLS clients here: the identity case is left out"
fi

# stderr is "journald's stream" but no journald answers: <N> prefixes.
: >"$T/j.log"
exec 7>>"$T/j.log"
js=$(stat -c '%d:%i' "$T/j.log")
JOURNAL_STREAM=$js "$COAPD" -c "$T/coapd.conf" 2>&7 >/dev/null &
COAPD_PID=$!
exec 7>&-
python3 "$INTEG_DIR/coap.py" wait 127.0.0.1 "$PORT" "$COAPD_PID" 5 ||
    fail "coapd did not start with JOURNAL_STREAM"
stop_coapd
if [ -S /run/systemd/journal/socket ]; then
	echo "# a journald runs here: its socket took the messages"
else
	assert_contains "$(cat "$T/j.log")" "<6>coapd 0.1.0 started" "<N> prefix on journald's stream"
	assert_not_contains "$(cat "$T/j.log")" "coapd: " "no program-name prefix on journald's stream"
fi
finish
