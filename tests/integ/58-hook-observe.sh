#!/bin/bash
# 58-hook-observe: Observe on a hook route with a query (issue 11).  A GET
# with Uri-Query registers for path and query, so two queries are two
# resources: `coapd-ctl notify /env` runs the hook once per query, each
# observer gets its own query's output.  The environment of such a run
# describes the resource, not one arbitrary observer: REQUEST_METHOD=GET,
# COAP_PATH, QUERY_STRING, COAP_OBSERVE=1, and no REMOTE_ADDR/REMOTE_PORT.
# A notification larger than a block: its later blocks come from that
# run's output, not from a new run per block (whose output may differ).
. "$(dirname "$0")/lib.sh"

CTL=${COAPD_CTL:-$TOP/build/coapd-ctl}
[ -x "$CTL" ] || fail "$CTL is missing: run make build/coapd-ctl"
PORT=$(free_port)
export PORT
make_www
SOCK="$T/ctl.sock"
: >"$T/runs"
cat >"$T/env.sh" <<EOF
#!/bin/sh
echo "run \$QUERY_STRING" >>"$T/runs"
printf 'q=%s obs=%s addr=%s port=%s m=%s path=%s\n' "\$QUERY_STRING" \
    "\${COAP_OBSERVE:-none}" "\${REMOTE_ADDR:-none}" "\${REMOTE_PORT:-none}" \
    "\$REQUEST_METHOD" "\$COAP_PATH"
EOF
chmod +x "$T/env.sh"
# /big: 3 blocks, the run's number first, so each run's output differs
cat >"$T/big.sh" <<EOF
#!/bin/sh
echo run >>"$T/bigruns"
n=\$(wc -l <"$T/bigruns")
python3 -c "import sys; print(sys.argv[1] + 'x' * 3000)" "\$n"
EOF
chmod +x "$T/big.sh"
: >"$T/bigruns"
std_conf "$T/coapd.conf" ',
  { path = "/env"; hook = [ "'"$T"'/env.sh" ]; observe = true;
    run_as_root = true; },
  { path = "/big"; hook = [ "'"$T"'/big.sh" ]; observe = true;
    run_as_root = true; }'
echo "control_socket = \"$SOCK\";" >>"$T/coapd.conf"
start_coapd "$T/coapd.conf"

observers() { "$CTL" -s "$SOCK" stats | awk '$1 == "observers" { print $2 }'; }

timeout 10 $COAP_CLIENT -s 4 -B 5 -o "$T/obsC" \
    "coap://127.0.0.1:$PORT/env?unit=C" 2>/dev/null &
oc=$!
timeout 10 $COAP_CLIENT -s 4 -B 5 -o "$T/obsF" \
    "coap://127.0.0.1:$PORT/env?unit=F" 2>/dev/null &
of=$!
n=0
for ((i = 0; i < 40 && n != 2; i++)); do
	sleep 0.1
	n=$(observers)
done
assert_eq "$n" 2 "a GET with a query registers (two queries, two observers)"

out=$("$CTL" -s "$SOCK" notify /env)
assert_contains "$out" "/env: observers notified" "notify /env reaches them"
sleep 0.5
"$CTL" -s "$SOCK" notify /env >/dev/null	# same outputs: nothing sent
sleep 0.5
# before the clients deregister (libcoap's last GET runs the hook again)
assert_eq "$(grep -c '^run unit=C$' "$T/runs")" 3 \
    "unit=C: its registration and one run per notify"
assert_eq "$(grep -c '^run unit=F$' "$T/runs")" 3 \
    "unit=F: its own run per notify, not the other query's"
wait "$oc" "$of"
assert_true "unit=C: the client's own GET describes the client" \
    grep -qx 'q=unit=C obs=none addr=127.0.0.1 port=[0-9][0-9]* m=GET path=/env' \
    <(sed -n 1p "$T/obsC")
assert_eq "$(sed -n 2p "$T/obsC")" \
    "q=unit=C obs=1 addr=none port=none m=GET path=/env" \
    "unit=C: the notification's run describes the resource, no observer"
assert_eq "$(wc -l <"$T/obsC")" 2 "unit=C: one notification, none repeated"
assert_eq "$(sed -n 2p "$T/obsF")" \
    "q=unit=F obs=1 addr=none port=none m=GET path=/env" \
    "unit=F: notified with its own query's output"
assert_eq "$(wc -l <"$T/obsF")" 2 "unit=F: one notification, none repeated"

# --- a notification of three blocks -----------------------------------------
for ((i = 0; i < 40; i++)); do [ "$(observers)" = 0 ] && break; sleep 0.1; done
timeout 10 $COAP_CLIENT -s 4 -B 5 -o "$T/obsBig" \
    "coap://127.0.0.1:$PORT/big" 2>/dev/null &
ob=$!
for ((i = 0; i < 40; i++)); do [ "$(observers)" = 1 ] && break; sleep 0.1; done
assert_eq "$(observers)" 1 "/big: registered"
"$CTL" -s "$SOCK" notify /big >/dev/null
sleep 0.7
"$CTL" -s "$SOCK" notify /big >/dev/null
sleep 0.7
# before the client deregisters (its last GET runs the hook again)
assert_eq "$(wc -l <"$T/bigruns")" 3 \
    "/big: its registration and one run per notify, none per block"
wait "$ob"
assert_eq "$(grep -cE '^[0-9]+x{3000}$' "$T/obsBig")" 3 \
    "/big: every notification whole, its blocks from one run"
assert_eq "$(grep -cvE '^[0-9]+x{3000}$' "$T/obsBig")" 0 \
    "/big: no block of another run mixed in"
finish
