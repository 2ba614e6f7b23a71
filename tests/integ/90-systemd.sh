#!/bin/bash
# 90-systemd: coapd as Debian's systemd runs it.  Boots /lib/systemd/systemd
# as PID 1 in namespaces made here (tests/systemd/boot.sh: overlay root
# over /, private pid/mount/net/uts/ipc/cgroup namespaces, a fresh cgroup2
# hierarchy, container-hostile units masked), runs `make install` inside,
# and drives the shipped unit with systemctl, journalctl and libcoap's
# clients on the namespace's own loopback:
#   systemd-analyze verify is clean, security exposure under 2.0; the unit
#   starts (active, dynamic user, READY); the demo routes, an in-tree
#   symlink (openat2 is ENOSYS under the unit's seccomp filter), an
#   escaping one refused; PUT then GET on the installed writable route (in
#   StateDirectory); DTLS with the PSK through LoadCredential; a good
#   reload adds a route; a broken one changes nothing (and fails
#   `systemctl reload` through coapd-ctl); journalctl -o json shows
#   COAP_ fields; a worker stopped alone (ptrace) makes the watchdog
#   restart coapd (WatchdogSec=2s drop-in); stop is clean (exit 0).
# Needs root, unshare and overlayfs: skipped (77) otherwise.  Every mount
# and process lives in the namespaces, which die with systemd (killed by
# PID at the end).
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "not root: cannot boot systemd in namespaces"
need_cmd unshare nsenter systemctl journalctl systemd-analyze \
    coap-client-openssl make ip
[ -x /lib/systemd/systemd ] || skip "/lib/systemd/systemd is missing (package systemd)"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
    skip "no overlayfs"
grep -qw cgroup2 /proc/filesystems || skip "no cgroup2"
timeout 5 unshare --pid --mount --net --uts --ipc --cgroup --fork true \
    2>/dev/null || skip "unshare of pid/mount/net/uts/ipc/cgroup refused here"

R="$T/ns"
mkdir -p "$R"
UNSHARE_PID=""
SD=""
_end() {
	local rc=$?
	if [ -n "$SD" ] && [ $rc -ne 0 ] && [ -n "$(in_ns_q true && echo y)" ]; then
		echo "--- journal inside (last 40 lines) ---"
		in_ns journalctl -b --no-pager -n 40 2>/dev/null
	fi
	# PID 1 of the namespace: its death ends every process in it, and
	# with the last of them the mount namespace and all its mounts.
	[ -n "$SD" ] && kill -KILL "$SD" 2>/dev/null
	if [ -n "$UNSHARE_PID" ]; then
		_kill_wait "$UNSHARE_PID" 5 || kill -KILL "$UNSHARE_PID" 2>/dev/null
		wait "$UNSHARE_PID" 2>/dev/null
	fi
	(exit "$rc")
	_cleanup
}
trap _end EXIT

# in_ns CMD...: run CMD inside (all namespaces, root and cwd of PID 1),
# bounded to 20 s.
in_ns() {
	timeout -k 2 20 nsenter -t "$SD" -a -r -w -- "$@"
}
in_ns_q() { in_ns "$@" >/dev/null 2>&1; }

t_start=$SECONDS
unshare --pid --mount --net --uts --ipc --cgroup --fork --kill-child \
    bash "$TOP/tests/systemd/boot.sh" "$R" "$T/console.log" "$TOP" \
    2>"$T/unshare.err" &
UNSHARE_PID=$!
for ((i = 0; i < 50; i++)); do
	SD=$(cat "/proc/$UNSHARE_PID/task/$UNSHARE_PID/children" 2>/dev/null)
	SD=${SD%% *}
	[ -n "$SD" ] && [ "$(cat "/proc/$SD/comm" 2>/dev/null)" = systemd ] && break
	SD=""
	sleep 0.1
done
[ -n "$SD" ] || fail "systemd did not start in the namespaces ($(tail -n 5 "$T/unshare.err" "$T/console.log" 2>/dev/null))"
# Booted: running or degraded; a machine whose own units keep the boot
# "starting" (something not masked here waits forever) will do once
# basic.target is reached, which is all coapd.service needs.
state=""
for ((i = 0; i < 100; i++)); do
	state=$(in_ns systemctl is-system-running 2>/dev/null)
	case $state in running|degraded) break ;; esac
	if [ $i -ge 50 ] && [ "$(in_ns systemctl is-active basic.target)" = active ]; then
		state="starting, basic.target reached"
		break
	fi
	sleep 0.2
done
case $state in
running|degraded|starting*) _ok "systemd booted in the namespaces ($state, $((SECONDS - t_start)) s)" ;;
*) fail "systemd not up after 20 s: '$state'" ;;
esac
[ "$state" = degraded ] && in_ns systemctl --failed --no-pager | sed 's/^/# /'

# --- install ------------------------------------------------------------------
in_ns make -s -C "$TOP" install >"$T/install.log" 2>&1 ||
    fail "make install inside: $(tail -n 5 "$T/install.log")"
ROOTFS=/proc/$SD/root
[ -x "$ROOTFS/usr/local/sbin/coapd" ] || fail "coapd not installed inside"
if [ -n "${COAPD_SANITIZE:-}" ]; then
	# LeakSanitizer stops the world with ptrace, which the unit's
	# SystemCallFilter kills: its tracer dies and the exiting process
	# waits forever.  ASan and UBSan still run; leaks are found by the
	# other tests, outside the sandbox.
	mkdir -p "$ROOTFS/etc/systemd/system/coapd.service.d"
	printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' \
	    >"$ROOTFS/etc/systemd/system/coapd.service.d/asan.conf"
fi
in_ns systemctl daemon-reload

out=$(in_ns systemd-analyze verify /lib/systemd/system/coapd.service 2>&1)
assert_eq "$out" "" "systemd-analyze verify coapd.service is clean"
out=$(in_ns systemd-analyze security --no-pager coapd.service 2>&1 | tail -n 1)
exposure=$(sed -n 's/.*Overall exposure level for coapd.service: \([0-9.]*\).*/\1/p' <<<"$out")
echo "# $out"
assert_true "security exposure under 2.0 (${exposure:-?})" \
    awk -v e="${exposure:-99}" 'BEGIN { exit !(e < 2.0) }'
assert_contains "$(grep '^SystemCallFilter' "$ROOTFS/lib/systemd/system/coapd.service")" \
    "@system-service" "syscall filter keeps @system-service (io_uring: @aio)"

# As installed, untouched: no DTLS, no /etc/credstore/coapd.psk (the
# unit's LoadCredential= must not stop it from starting).
in_ns systemctl start coapd || {
	_nok "systemctl start coapd (as installed) failed"
	in_ns journalctl -u coapd -n 15 --no-pager | sed 's/^/    journal: /'
}
assert_eq "$(in_ns systemctl is-active coapd)" active "active as installed, without the credential"
got=$(in_ns coap-client-notls -B 3 -m get -o - coap://127.0.0.1/hello 2>/dev/null)
assert_eq "$got" "$(cat "$ROOTFS/usr/local/share/coapd/demo/hello.txt")" "GET /hello as installed"
in_ns systemctl stop coapd

# The demo configuration with DTLS on, its key as a credential, the
# access log, and symlinks in the served tree.
DEMO=$ROOTFS/usr/local/share/coapd/demo
ln -s hello.txt "$DEMO/link.txt"
ln -s ../../../../etc/hostname "$DEMO/escape"
mkdir -p "$ROOTFS/etc/credstore"
grep -v '^#' "$TOP/conf/coapd.psk" >"$ROOTFS/etc/credstore/coapd.psk"
chmod 0600 "$ROOTFS/etc/credstore/coapd.psk"
CONF=$ROOTFS/etc/coapd.conf
sed -i -e 's|^#\t, { address = "::"; port = 5684; dtls = true; }|\t, { address = "::"; port = 5684; dtls = true; }|' \
    -e 's|^#\(\tpsk_file = "credential:coapd.psk";\)|\1|' \
    -e 's|^\taccess = false;|\taccess = true;|' "$CONF"
grep -q '^	psk_file = "credential:coapd.psk";' "$CONF" ||
    fail "installed coapd.conf has no credential psk_file to enable"
grep -q '^	, { address = "::"; port = 5684; dtls = true; }' "$CONF" ||
    fail "could not enable the DTLS listener in the installed coapd.conf"
# The installed config passes coapd -t outside the unit too (credential
# looked up in /etc/credstore).
out=$(in_ns env -u CREDENTIALS_DIRECTORY /usr/local/sbin/coapd -t -c /etc/coapd.conf 2>&1)
assert_contains "$out" "configuration OK" "coapd -t of the installed config"

# --- start --------------------------------------------------------------------
in_ns systemctl start coapd || _nok "systemctl start coapd failed"
assert_eq "$(in_ns systemctl is-active coapd)" active "coapd active after start"
MAIN=$(in_ns systemctl show -p MainPID --value coapd)
uid=$(in_ns awk '/^Uid:/ { print $2 }' "/proc/$MAIN/status")
assert_true "runs as the dynamic user, not root (uid ${uid:-?})" test "${uid:-0}" -ne 0
st=$(in_ns systemctl show -p StatusText --value coapd)
assert_contains "$st" "routes" "STATUS= shown by systemctl ($st)"
assert_eq "$(in_ns systemctl show -p WatchdogUSec --value coapd)" 30s "WatchdogSec= set"
assert_not_contains "$(in_ns journalctl -u coapd --no-pager -o cat)" "io_uring" \
    "no io_uring complaint under the seccomp filter"

# get URI [ARGS]: coap-client inside the namespace (its own loopback).
get() {
	local uri=$1
	shift
	in_ns coap-client-notls -B 3 -m get -o - "$@" "$uri" 2>"$COAP_ERR"
}
got=$(get coap://127.0.0.1/hello)
assert_eq "$got" "$(cat "$DEMO/hello.txt")" "GET /hello"
assert_contains "$(get coap://[::1]/.well-known/core)" "</hello>" "GET /.well-known/core over IPv6"
assert_contains "$(get coap://127.0.0.1/status)" '"gateway":"demo"' "the demo hook runs"
assert_contains "$(get coap://127.0.0.1/sensors)" "temp" "GET /sensors (directory listing)"
# The in-tree symlink goes through the fallback walk only if openat2 is
# refused in there: check with a probe run the unit's way.
mkdir -p "$ROOTFS/usr/local/lib/coapd-test"
cat >"$T/o2.c" <<'C'
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>
int main(void) {
	struct open_how h = { .flags = O_RDONLY, .resolve = RESOLVE_BENEATH };
	long r = syscall(SYS_openat2, AT_FDCWD, ".", &h, sizeof(h));
	printf("openat2: %s\n", r < 0 ? strerror(errno) : "works");
	return 0;
}
C
if cc -o "$ROOTFS/usr/local/lib/coapd-test/o2probe" "$T/o2.c" 2>/dev/null; then
	out=$(in_ns systemd-run --wait -P -q -p DynamicUser=yes \
	    -p "SystemCallFilter=@system-service" \
	    /usr/local/lib/coapd-test/o2probe 2>&1)
	assert_contains "$out" "openat2: Function not implemented" \
	    "openat2 is ENOSYS under DynamicUser= (the walk is what serves symlinks)"
fi
got=$(get coap://127.0.0.1/link.txt)
assert_eq "$got" "$(cat "$DEMO/hello.txt")" "in-tree symlink served under the unit's seccomp filter"
get coap://127.0.0.1/escape >"$T/esc"
assert_eq "$(cat "$T/esc")" "" "symlink leaving the tree: no content"
assert_contains "$(cat "$COAP_ERR")" "4.04" "symlink leaving the tree: 4.04"

# --- the writable route, in StateDirectory ---------------------------------
in_ns coap-client-notls -B 3 -m put -e "stored by 90-systemd" \
    coap://127.0.0.1/upload/note.txt >/dev/null 2>"$COAP_ERR"
assert_not_contains "$(cat "$COAP_ERR")" "5.00" "PUT /upload/note.txt not refused"
assert_eq "$(get coap://127.0.0.1/upload/note.txt)" "stored by 90-systemd" "GET of the file just PUT"
assert_eq "$(cat "$ROOTFS/var/lib/private/coapd/upload/note.txt" 2>/dev/null)" \
    "stored by 90-systemd" "stored under /var/lib/private/coapd (StateDirectory, DynamicUser)"

# --- DTLS with the PSK from LoadCredential ---------------------------------
got=$(in_ns coap-client-openssl -B 5 -u sensor-1 -k sensor1-secret-key -m get -o - \
    coaps://127.0.0.1/hello 2>"$COAP_ERR")
assert_eq "$got" "$(cat "$DEMO/hello.txt")" "DTLS GET with the credential's key"
got=$(in_ns coap-client-openssl -B 3 -u sensor-1 -k wrong-key-wrong-key -m get -o - \
    coaps://127.0.0.1/hello 2>/dev/null)
assert_not_contains "$got" "$(cat "$DEMO/hello.txt")" "DTLS with a wrong key gets nothing"

# --- reload -------------------------------------------------------------------
cp "$CONF" "$T/coapd.conf.good"
python3 - "$CONF" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
i = s.rindex(");")
s = s[:i] + ''',
	{ path = "/new"; static = "/usr/local/share/coapd/demo/hello.txt"; },
	{ path = "/ro"; static = "/usr/local/share/coapd/demo/fw";
	  writable = true; }
''' + s[i:]
open(p, "w").write(s)
PY
in_ns systemctl reload coapd
assert_eq "$?" 0 "systemctl reload with a good config"
got=""
for ((i = 0; i < 30; i++)); do
	got=$(get coap://127.0.0.1/new)
	[ -n "$got" ] && break
	sleep 0.1
done
assert_eq "$got" "$(cat "$DEMO/hello.txt")" "the reload added /new"
# A writable route outside StateDirectory: ProtectSystem=strict makes it
# read-only; the client gets 5.00 and the journal says why.
in_ns coap-client-notls -B 3 -m put -e "nope" coap://127.0.0.1/ro/x.txt \
    >/dev/null 2>"$COAP_ERR"
assert_contains "$(cat "$COAP_ERR")" "5.00" "PUT outside StateDirectory: 5.00"
assert_contains "$(in_ns journalctl -u coapd --no-pager -o cat)" \
    "route /ro, PUT /usr/local/share/coapd/demo/fw/x.txt failed: Read-only file system" \
    "the failed write is logged"

cp "$CONF" "$T/coapd.conf.new"
printf 'routes = ( { path = "/broken"; static = "/nonexistent"; } );\nbogus_key = 1;\n' >>"$CONF"
in_ns systemctl reload coapd 2>"$T/reload.err"
rrc=$?
assert_true "systemctl reload fails on a broken config (rc $rrc)" test "$rrc" -ne 0
sleep 0.5
assert_eq "$(in_ns systemctl is-active coapd)" active "still active after a broken reload"
assert_eq "$(get coap://127.0.0.1/new)" "$(cat "$DEMO/hello.txt")" "a broken reload changes nothing"
assert_contains "$(in_ns journalctl -u coapd --no-pager -o cat)" "/etc/coapd.conf:" \
    "the broken reload's errors are in the journal with file:line"
cp "$T/coapd.conf.new" "$CONF"

# --- journald fields ----------------------------------------------------------
js=$(in_ns journalctl -u coapd -o json --no-pager)
assert_contains "$js" '"COAP_PEER":"127.0.0.1:' "journal: COAP_PEER"
assert_contains "$js" '"COAP_PSK_IDENTITY":"sensor-1"' "journal: COAP_PSK_IDENTITY"
assert_contains "$js" '"COAP_ROUTE":"/upload"' "journal: COAP_ROUTE"
assert_contains "$js" '"COAP_CODE":"2.01"' "journal: COAP_CODE" 
assert_contains "$js" '"COAP_LATENCY_US":"' "journal: COAP_LATENCY_US"
assert_contains "$js" '"CODE_FILE":"src/' "journal: CODE_FILE"
assert_contains "$js" '"CODE_LINE":"' "journal: CODE_LINE"
assert_contains "$js" '"PRIORITY":"4"' "journal: PRIORITY of a warning"

# --- the watchdog restarts a coapd whose worker is stuck ----------------------
# WatchdogSec=2s for this check; one worker thread stopped alone (ptrace
# from inside the namespace, PTRACE_SEIZE + PTRACE_INTERRUPT): coapd stops
# pinging, systemd aborts it and Restart=on-failure starts a new one.
mkdir -p "$ROOTFS/etc/systemd/system/coapd.service.d"
printf '[Service]\nWatchdogSec=2s\n' >"$ROOTFS/etc/systemd/system/coapd.service.d/wd.conf"
in_ns systemctl daemon-reload
in_ns systemctl restart coapd
MAIN=$(in_ns systemctl show -p MainPID --value coapd)
TID=$(in_ns ls "/proc/$MAIN/task" | grep -vx "$MAIN" | head -n 1)
in_ns timeout 15 python3 - "$TID" <<'PY' &
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
tid = int(sys.argv[1])
if libc.ptrace(0x4206, tid, None, None) != 0:       # PTRACE_SEIZE
    sys.exit("seize: %s" % os.strerror(ctypes.get_errno()))
libc.ptrace(0x4207, tid, None, None)                 # PTRACE_INTERRUPT
time.sleep(4)                # twice WatchdogSec=: systemd has acted
libc.ptrace(17, tid, None, None)                     # PTRACE_DETACH
PY
TRACER=$!
restarted=""
for ((i = 0; i < 120; i++)); do
	now=$(in_ns systemctl show -p MainPID --value coapd)
	if [ "$(in_ns systemctl show -p NRestarts --value coapd)" -ge 1 ] &&
	    [ -n "$now" ] && [ "$now" != 0 ] && [ "$now" != "$MAIN" ] &&
	    [ "$(in_ns systemctl is-active coapd)" = active ]; then
		restarted=$now
		break
	fi
	sleep 0.1
done
wait "$TRACER" 2>/dev/null
assert_true "a stuck worker gets coapd restarted by the watchdog (pid $MAIN -> ${restarted:-none})" \
    test -n "$restarted"
jl=$(in_ns journalctl -u coapd --no-pager -o cat)
assert_contains "$jl" "made no progress" "coapd logged the stuck worker"
assert_contains "$jl" "Watchdog timeout" "systemd saw the watchdog time out"
assert_eq "$(in_ns coap-client-notls -B 3 -m get -o - coap://127.0.0.1/hello 2>/dev/null)" \
    "$(cat "$DEMO/hello.txt")" "serving again after the restart"
rm -f "$ROOTFS/etc/systemd/system/coapd.service.d/wd.conf"
in_ns systemctl daemon-reload

# --- stop ---------------------------------------------------------------------
in_ns systemctl stop coapd
assert_eq "$?" 0 "systemctl stop"
assert_eq "$(in_ns systemctl is-active coapd)" inactive "inactive after stop"
assert_eq "$(in_ns systemctl show -p Result --value coapd)" success "stop result: success"
assert_eq "$(in_ns systemctl show -p ExecMainStatus --value coapd)" 0 "exit status 0"
assert_contains "$(in_ns journalctl -u coapd --no-pager -o cat)" "stopped" "stopped cleanly"
echo "# 90-systemd ran in $((SECONDS - t_start)) s"
finish
