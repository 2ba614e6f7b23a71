#!/bin/bash
# 69-rundir: outside systemd (no $RUNTIME_DIRECTORY) the default control
# socket's directory /run/coapd is made when absent: mode 0755, owned by
# `user` when coapd drops to it, and the socket (0600) too, so coapd-ctl
# reaches it and the daemon removes it at exit after the drop.  Runs in a
# private mount namespace with a fresh tmpfs on /run (the host's /run is
# never touched); skipped without root or unshare.
. "$(dirname "$0")/lib.sh"

CTL=${COAPD_CTL:-$TOP/build/coapd-ctl}
[ -x "$CTL" ] || fail "$CTL is missing: run make build/coapd-ctl"
[ "$(id -u)" = 0 ] || skip "needs root (a private mount namespace)"
need_cmd unshare
getent passwd nobody >/dev/null && getent group nogroup >/dev/null ||
    skip "no user nobody / group nogroup"
unshare --mount --propagation private true 2>/dev/null ||
    skip "unshare --mount is not allowed here"
PORT=$(free_port)
export PORT CTL COAPD T
chmod 0755 "$T"
make_www
std_conf "$T/coapd.conf"
printf 'user = "nobody";\ngroup = "nogroup";\n' >>"$T/coapd.conf"

# Everything inside the namespace; it prints KEY=VALUE lines.
env -u RUNTIME_DIRECTORY timeout 30 unshare --mount --propagation private bash -c '
mount -t tmpfs -o mode=0755 tmpfs /run || exit 3
echo "before=$(test -e /run/coapd && echo present || echo absent)"
"$COAPD" -c "$T/coapd.conf" >>"$T/coapd.log" 2>&1 &
pid=$!
for ((i = 0; i < 50; i++)); do
	[ -S /run/coapd/control ] && break
	sleep 0.1
done
echo "dir=$(stat -c "%a %U:%G" /run/coapd 2>/dev/null)"
echo "sock=$(stat -c "%a %U:%G %F" /run/coapd/control 2>/dev/null)"
"$CTL" status >"$T/status.out" 2>&1
echo "ctl=$?"
kill -TERM "$pid"
wait "$pid"
echo "exit=$?"
echo "after=$(test -e /run/coapd/control && echo left || echo removed)"
' >"$T/ns.out" 2>&1
rc=$?
cat "$T/ns.out" | sed 's/^/# /'
[ $rc -eq 3 ] && skip "cannot mount a tmpfs in the namespace"
v() { sed -n "s/^$1=//p" "$T/ns.out"; }
assert_eq "$(v before)" absent "/run/coapd absent at start (fresh /run)"
assert_eq "$(v dir)" "755 nobody:nogroup" "/run/coapd made 0755, owned by user"
assert_eq "$(v sock)" "600 nobody:nogroup socket" \
    "control socket 0600, owned by user"
assert_eq "$(v ctl)" 0 "coapd-ctl status reaches it (default path)"
assert_contains "$(cat "$T/status.out")" "config $T/coapd.conf" \
    "and it is this coapd"
assert_eq "$(v exit)" 0 "clean exit on SIGTERM"
assert_eq "$(v after)" removed "socket removed at exit after the drop"
assert_contains "$(cat "$COAPD_LOG")" "running as user nobody" "privileges dropped"
finish
