#!/bin/bash
# 67-reload-restart: a reload that changes a key which needs a restart
# (user, group, listen, workers, control_socket ...: OPT_RESTART in the
# tables, coapd(8) RELOAD) is refused as a whole: coapd-ctl reload exits 1
# and prints FILE:LINE: KEY: cannot change on reload (...); restart coapd
# to apply it; the routes added in the same file do not answer, the old
# ones do; after the file is put back a reload succeeds again.
. "$(dirname "$0")/lib.sh"

CTL=${COAPD_CTL:-$TOP/build/coapd-ctl}
[ -x "$CTL" ] || fail "$CTL is missing: run make build/coapd-ctl"
PORT=$(free_port)
OPORT=$(free_port)
while [ "$OPORT" = "$PORT" ]; do
	OPORT=$(free_port)
done
SOCK="$T/ctl.sock"
ME=$(id -un)
MYGROUP=$(id -gn)
make_www
printf 'new route\n' >"$T/www/new.txt"
NEW=',
  { path = "/new"; static = "'"$T"'/www/new.txt"; }'

# conf EXTRA_TOP [ROUTES]: the standard config, the control socket, EXTRA_TOP.
conf() {
	std_conf "$T/coapd.conf" "${2:-}"
	printf 'control_socket = "%s";\n%s\n' "$SOCK" "$1" >>"$T/coapd.conf"
}
conf ""
start_coapd "$T/coapd.conf"

# refused WHAT TEXT...: reload exits 1, stderr has every TEXT, /new is
# not served, /hello still is.
refused() {
	local what=$1 t
	shift
	"$CTL" -s "$SOCK" reload >"$T/rl.out" 2>"$T/rl.err"
	assert_eq "$?" 1 "$what: coapd-ctl reload exits 1"
	for t in "$@"; do
		assert_contains "$(cat "$T/rl.err")" "$t" "$what: says '$t'"
	done
	assert_contains "$(cat "$T/rl.err")" \
	    "rejected, the running configuration stays" "$what: old config stays"
	coap_get "coap://127.0.0.1:$PORT/new" >/dev/null
	assert_contains "$(cat "$COAP_ERR")" "4.04" \
	    "$what: route of the refused file not served"
	assert_eq "$(coap_get "coap://127.0.0.1:$PORT/hello")" "Hello, CoAP!" \
	    "$what: old route still served"
}

# user (and group) set where it was unset: the user coapd already is, so
# only the restart rule can refuse it.
conf "user = \"$ME\";
group = \"$MYGROUP\";" "$NEW"
lu=$(grep -n '^user' "$T/coapd.conf" | cut -d: -f1)
lg=$(grep -n '^group' "$T/coapd.conf" | cut -d: -f1)
refused "user and group" \
    "$T/coapd.conf:$lu: user: cannot change on reload (running unset, file \"$ME\"); restart coapd to apply it" \
    "$T/coapd.conf:$lg: group: cannot change on reload (running unset, file \"$MYGROUP\"); restart coapd to apply it"

# a listener added, workers changed
conf "" "$NEW"
sed -i "s|^           { address = \"::1\"; port = $PORT; } );|           { address = \"::1\"; port = $PORT; },\n           { address = \"127.0.0.1\"; port = $OPORT; } );|; s/^workers = 2;/workers = 3;/" \
    "$T/coapd.conf"
ll=$(grep -n '^listen' "$T/coapd.conf" | cut -d: -f1)
lw=$(grep -n '^workers' "$T/coapd.conf" | cut -d: -f1)
refused "listen and workers" \
    "$T/coapd.conf:$ll: listen: cannot change on reload" \
    "$T/coapd.conf:$lw: workers: cannot change on reload (running 2, file 3)"
assert_eq "$(ss -Hlun "sport = :$OPORT" | wc -l)" 0 \
    "the refused listener on port $OPORT is not bound"

# control_socket moved: the key removed counts as a change too
std_conf "$T/coapd.conf" "$NEW"
refused "control_socket removed" \
    "control_socket: cannot change on reload (running \"$SOCK\", file unset)"

# the same file with only routes changed: accepted
conf "" "$NEW"
out=$("$CTL" -s "$SOCK" reload 2>&1)
assert_eq "$?" 0 "reload with only a route added exits 0"
assert_eq "$(coap_get "coap://127.0.0.1:$PORT/new")" "new route" \
    "the added route answers"
assert_contains "$(cat "$COAPD_LOG")" \
    "user: cannot change on reload" "the refusal is logged too"
finish
