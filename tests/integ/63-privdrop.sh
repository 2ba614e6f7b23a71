#!/bin/bash
# 63-privdrop: started as root with user/group set, coapd binds, reads its
# key file and opens its trees as root, then runs as that user: the
# process's /proc/PID/status shows the user's ids in every slot, only
# that group as supplementary group and no capabilities; files, DTLS (key read before
# the drop) and hooks (as that user, no run_as_root needed) still work; a
# hook route cannot ask for another user; reloads run as that user (a key
# file it cannot read fails the reload, which says why).  Skipped when not
# root.
. "$(dirname "$0")/lib.sh"
. "$INTEG_DIR/dtls.sh"

[ "$(id -u)" -eq 0 ] || skip "not root: nothing to drop"
getent passwd nobody >/dev/null && getent group nogroup >/dev/null ||
    skip "no user nobody / group nogroup"
NOBODY=$(id -u nobody)
NOGROUP=$(getent group nogroup | cut -d: -f3)

PORT=$(free_port)
export PORT
chmod 0755 "$T"		# the trees and the hook must be reachable by nobody
make_www
dtls_setup
cat >"$T/who.sh" <<'SH'
#!/bin/sh
echo "$(id -u):$(id -g)"
SH
chmod 0755 "$T/who.sh"
dtls_conf "$T/coapd.conf" "" ',
  { path = "/who"; hook = [ "'"$T"'/who.sh" ]; }'
printf 'user = "nobody";\ngroup = "nogroup";\n' >>"$T/coapd.conf"

out=$("$COAPD" -t -c "$T/coapd.conf" 2>&1)
assert_contains "$out" "configuration OK" "a hook needs no run_as_root once coapd drops root"

start_coapd "$T/coapd.conf"
st=$(cat "/proc/$COAPD_PID/status")
assert_eq "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' <<<"$st")" \
    "$NOBODY $NOBODY $NOBODY $NOBODY" "real, effective, saved and fs uid are nobody's"
assert_eq "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' <<<"$st")" \
    "$NOGROUP $NOGROUP $NOGROUP $NOGROUP" "every gid is nogroup's"
assert_eq "$(awk '/^Groups:/ { $1 = ""; print }' <<<"$st" | xargs)" "$NOGROUP" \
    "supplementary groups: nogroup only (root's are gone)"
assert_eq "$(awk '/^CapEff:/ { print $2 }' <<<"$st")" "0000000000000000" "no effective capabilities"
assert_contains "$(cat "$COAPD_LOG")" "running as user nobody" "the drop is logged"

coap_get "coap://127.0.0.1:$PORT/hello" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "files served after the drop"
assert_eq "$(coap_get "coap://127.0.0.1:$PORT/who")" "$NOBODY:$NOGROUP" "the hook runs as nobody"
got=$(coaps_get coap-client-openssl sensor-1 "$KEY_SENSOR" "coaps://127.0.0.1:$DPORT/hello")
assert_eq "$got" "$(cat "$T/www/hello.txt")" "DTLS with the key read before the drop"

# A reload runs as nobody too: the config and the trees are readable by it
# (the key file is not: it is root's 0600, so the reload says so and the
# running configuration stays).
sed -i 's|^  { path = "/files"; static = "'"$T"'/www"; }|  { path = "/again"; static = "'"$T"'/www/hello.txt"; },\n&|' "$T/coapd.conf"
chown nobody "$T/psk"
kill -HUP "$COAPD_PID"
for ((i = 0; i < 50; i++)); do
	grep -q "reloaded" "$COAPD_LOG" && break
	sleep 0.1
done
coap_get "coap://127.0.0.1:$PORT/again" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "a reload after the drop (key file given to nobody)"
chown root "$T/psk"
kill -HUP "$COAPD_PID"
for ((i = 0; i < 50; i++)); do
	grep -q "reload failed" "$COAPD_LOG" && break
	sleep 0.1
done
assert_contains "$(cat "$COAPD_LOG")" "Permission denied" \
    "a key file nobody cannot read fails the reload, with the reason"
coap_get "coap://127.0.0.1:$PORT/again" >"$T/got"
assert_file_eq "$T/got" "$T/www/hello.txt" "and the running configuration stays"

# A reload that names another user (or group) is refused: the process
# cannot become someone else without root, and keeps serving as nobody.
chown nobody "$T/psk"
sed -i 's/^user = "nobody";/user = "daemon";/; s/^group = "nogroup";/group = "daemon";/' \
    "$T/coapd.conf"
lu=$(grep -n '^user' "$T/coapd.conf" | cut -d: -f1)
lg=$(grep -n '^group' "$T/coapd.conf" | cut -d: -f1)
kill -HUP "$COAPD_PID"
for ((i = 0; i < 50; i++)); do
	[ "$(grep -c "reload failed\|rejected" "$COAPD_LOG")" -ge 2 ] && break
	sleep 0.1
done
log=$(cat "$COAPD_LOG")
assert_contains "$log" \
    "$T/coapd.conf:$lu: user: cannot change on reload (running \"nobody\", file \"daemon\"); restart coapd to apply it" \
    "a reload to another user is refused, with file:line"
assert_contains "$log" \
    "$T/coapd.conf:$lg: group: cannot change on reload (running \"nogroup\", file \"daemon\")" \
    "and so is another group"
assert_eq "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$COAPD_PID/status")" \
    "$NOBODY $NOBODY $NOBODY $NOBODY" "still running as nobody"
assert_eq "$(coap_get "coap://127.0.0.1:$PORT/who")" "$NOBODY:$NOGROUP" \
    "hooks still run as nobody"
sed -i 's/^user = "daemon";/user = "nobody";/; s/^group = "daemon";/group = "nogroup";/' \
    "$T/coapd.conf"

# A hook route asking for another user cannot be honoured any more.
cp "$T/coapd.conf" "$T/bad.conf"
sed -i 's|hook = \[ "'"$T"'/who.sh" \]; }|hook = [ "'"$T"'/who.sh" ]; user = "daemon"; }|' "$T/bad.conf"
out=$("$COAPD" -t -c "$T/bad.conf" 2>&1)
assert_contains "$out" "user: coapd will be not root and cannot run hooks as \"daemon\"" \
    "a hook route cannot name another user"
finish
