#!/bin/bash
# 56-hook-limits: hook routes over time and under load (coapd.conf(5) HOOK
# CONTRACT, HOOKS): `coapd -t` refusing a missing or non-executable hook[0]
# and a root hook without user or run_as_root; on a single worker, a 2 s
# hook delaying no static GET; separate responses (empty ACK after
# separate_after_ms, seen by libcoap's client and by raw datagrams, a
# retransmitted request starting no second run, the separate CON response
# retransmitted until acknowledged); timeout_s killing the hook's process
# group (5.04); an RST of the pending request killing the run; 500
# requests to a max_running = 2 route giving 5.03 with Max-Age and leaving
# no zombie; hooks.max_running across routes; user/group (nobody); and
# term_grace_s at shutdown.
. "$(dirname "$0")/lib.sh"

need_cmd id getent
[ "$(id -u)" = 0 ] || skip "needs root (user = and run_as_root are checked)"
getent passwd nobody >/dev/null || skip "no user nobody"
getent group daemon >/dev/null || skip "no group daemon"
PORT=$(free_port)
export PORT
make_www
mkdir -p "$T/h"
# The user = test: nobody must reach the hook (mktemp made $T 0700).
chmod 755 "$T" "$T/h"

hook() {
	cat >"$T/h/$1"
	chmod 755 "$T/h/$1"
}
hook slow.sh <<'SH'
#!/bin/sh
# $1: a file that gets a line per run; $2: seconds to take
echo run >>"$1"
sleep "$2"
echo slept
SH
hook pg.sh <<'SH'
#!/bin/sh
# $1 gets "PID PGRP CHILD" (written whole, by rename); then the run takes
# far longer than any test waits, with a child in its process group.
f=$1
sleep 30 &
child=$!
read -r st </proc/$$/stat
set -- $st
echo "$$ $5 $child" >"$f.tmp"
mv "$f.tmp" "$f"
sleep 10
echo never
SH
hook stubborn.sh <<'SH'
#!/bin/sh
# SIGTERM ignored, by sleep too (an ignored signal stays so across exec)
trap '' TERM
echo $$ >"$1.tmp"
mv "$1.tmp" "$1"
sleep 10
SH
hook busy.sh <<'SH'
#!/bin/sh
sleep 0.2
echo ok
SH
hook id.sh <<'SH'
#!/bin/sh
echo "$(id -u) $(id -g) $(id -G)"
SH
printf '#!/bin/sh\necho x\n' >"$T/h/noexec.sh"
chmod 644 "$T/h/noexec.sh"
: >"$T/slow.count"
: >"$T/sep.count"

# --- coapd -t ---------------------------------------------------------------
# check_t CONFIG: coapd -t -c CONFIG; sets rc and err (stderr).
check_t() {
	timeout 10 "$COAPD" -t -c "$1" >"$T/t.out" 2>"$T/t.err"
	rc=$?
	err=$(cat "$T/t.err")
}
# assert_err_at FILE LINE WHAT: stderr has "...FILE:LINE: " at a line start.
assert_err_at() {
	if grep -Eq "^(.*/)?${1//./\\.}:$2: " "$T/t.err"; then
		_ok "$3"
	else
		_nok "$3: no '$1:$2: ' line in stderr: '$err'"
	fi
}
cat >"$T/missing.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
routes = (
  { path = "/files"; static = "$T/www"; },
  { path = "/m"; hook = [ "$T/h/no-such-hook.sh" ]; run_as_root = true; }
);
CONF
check_t "$T/missing.conf"
assert_eq "$rc" 1 "coapd -t, hook[0] missing: exit 1"
assert_err_at missing.conf 4 "hook[0] missing: error at missing.conf:4"
assert_contains "$err" "no-such-hook.sh" "hook[0] missing: the message names it"
cat >"$T/noexec.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
routes = (
  { path = "/n"; hook = [ "$T/h/noexec.sh" ]; run_as_root = true; }
);
CONF
check_t "$T/noexec.conf"
assert_eq "$rc" 1 "coapd -t, hook[0] mode 0644: exit 1"
assert_err_at noexec.conf 3 "hook[0] not executable: error at noexec.conf:3"
assert_contains "$err" "not executable" "hook[0] mode 0644: 'not executable'"
cat >"$T/root.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
routes = (
  { path = "/files"; static = "$T/www"; },

  { path = "/r"; hook = [ "$T/h/id.sh" ]; }
);
CONF
check_t "$T/root.conf"
assert_eq "$rc" 1 "coapd -t as root, no user nor run_as_root: exit 1"
assert_err_at root.conf 5 "root hook without user: error at root.conf:5"
assert_contains "$err" "run_as_root" "root hook without user: names run_as_root"

# --- the daemon -------------------------------------------------------------
cat >"$T/coapd.conf" <<CONF
# written by $TEST_NAME
listen = ( { address = "127.0.0.1"; port = $PORT; },
           { address = "::1"; port = $PORT; } );
workers = 1;
separate_after_ms = 200;
hooks = { max_running = 3; tmp_dir = "$T"; term_grace_s = 1; };
# No graceful wait for hooks in flight at SIGTERM (61-sdnotify tests it):
# the term_grace_s check below needs the stop to go to the hooks at once.
shutdown_grace_s = 0;
routes = (
  { path = "/files"; static = "$T/www"; },
  { path = "/slow"; hook = [ "$T/h/slow.sh", "$T/slow.count", "2" ];
    timeout_s = 5; run_as_root = true; },
  { path = "/sep"; hook = [ "$T/h/slow.sh", "$T/sep.count", "1.5" ];
    timeout_s = 5; run_as_root = true; },
  { path = "/to"; hook = [ "$T/h/pg.sh", "$T/to.pids" ]; timeout_s = 1;
    run_as_root = true; },
  { path = "/rst"; hook = [ "$T/h/pg.sh", "$T/rst.pids" ]; timeout_s = 30;
    run_as_root = true; },
  { path = "/busy"; hook = [ "$T/h/busy.sh" ]; max_running = 2;
    run_as_root = true; },
  { path = "/gl"; hook = [ "$T/h/slow.sh", "$T/gl.count", "0.5" ];
    max_running = 8; run_as_root = true; },
  { path = "/who"; hook = [ "$T/h/id.sh" ]; user = "nobody"; },
  { path = "/whog"; hook = [ "$T/h/id.sh" ]; user = "nobody";
    group = "daemon"; },
  { path = "/stubborn"; hook = [ "$T/h/stubborn.sh", "$T/stubborn.pid" ];
    timeout_s = 30; run_as_root = true; }
);
log = { level = "info"; };
CONF
check_t "$T/coapd.conf"
assert_eq "$rc $err" "0 " "coapd -t accepts the configuration"
start_coapd "$T/coapd.conf"
export COAPD_PID
U=coap://127.0.0.1:$PORT

# --- user = "nobody", group = ----------------------------------------------
nob="$(id -u nobody) $(id -g nobody) $(id -g nobody)"
if setpriv --reuid=nobody --regid=nogroup --clear-groups \
    test -x "$T/h/id.sh" 2>/dev/null; then
	assert_eq "$(coap_get "$U/who")" "$nob" \
	    "user = nobody: uid, gid and groups of nobody"
	assert_eq "$(coap_get "$U/whog")" "$(id -u nobody) 1 1" \
	    "user = nobody, group = daemon: gid 1, no other group"
else
	echo "# $T/h/id.sh is not reachable by nobody (TMPDIR?): not tested"
fi

# --- a separate response seen by libcoap's client --------------------------
timeout 10 "$COAP_CLIENT" -B 5 -v 7 -o - "$U/sep" >"$T/sep.out" 2>&1
ack=$(grep -n 't:ACK c:0.00' "$T/sep.out" | head -n 1 | cut -d: -f1)
resp=$(grep -n 't:CON c:2.05' "$T/sep.out" | head -n 1 | cut -d: -f1)
assert_true "coap-client: an empty ACK, then a separate CON 2.05" \
    test -n "$ack" -a -n "$resp" -a "${ack:-0}" -lt "${resp:-0}"
assert_contains "$(cat "$T/sep.out")" "slept" \
    "coap-client: the 1.5 s hook's output arrives"

py_checks "raw hook timing and limit checks" <<'PY'
import os
import time
import coap
from coap import Client, Checker, Msg

port = int(os.environ["PORT"])
T = os.environ["T"]
coapd = os.environ["COAPD_PID"]
ck = Checker("56-hook-limits")
GATEWAY_TIMEOUT = coap.code(5, 4)
UNAVAILABLE = coap.code(5, 3)


def stat(pid):
    """(state, ppid, pgrp) of pid, or None when it is gone."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    f = st[st.rindex(")") + 2:].split()
    return f[0], f[1], f[2]


def procs():
    out = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            s = stat(p)
            if s:
                out[p] = s
    return out


def children():
    return {p: s for p, s in procs().items() if s[1] == coapd}


def gone(pid):
    s = stat(pid)
    return s is None or s[0] == "Z"


def wait_until(cond, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def wait_file(path, seconds=3.0):
    if not wait_until(lambda: os.path.exists(path), seconds):
        return None
    with open(path) as f:
        return f.read().split()


def count(name):
    with open(os.path.join(T, name)) as f:
        return f.read().count("run")


def for_token(c, token, timeout):
    """The next datagram with token within timeout s, or None."""
    end = time.monotonic() + timeout
    while True:
        raw = c.recv(max(0.0, end - time.monotonic()))
        if raw is None:
            return None
        m = Msg(raw)
        if m.token == token:
            return m


# --- a 2 s hook does not delay a static GET on the one worker --------------
with Client(port) as hc, Client(port) as sc:
    req = hc.build(coap.GET, "/slow", mtype=coap.NON)
    t0 = time.monotonic()
    hc.send(req)
    ck.ok(wait_until(lambda: count("slow.count") == 1, 1.5),
          "the 2 s hook has started")
    lat = []
    for _ in range(10):
        t = time.monotonic()
        m = sc.get("/files/hello.txt", timeout=1.0, tries=1)
        lat.append(time.monotonic() - t)
        if m is None or m.payload != b"Hello, CoAP!\n":
            break
    ck.eq(len(lat), 10, "10 static GETs answered while the hook runs")
    ck.ok(time.monotonic() - t0 < 1.8, "... all before the hook is done")
    ck.ok(max(lat) < 0.05, "static GET while a hook is pending: %.1f ms "
          "at most (< 50)" % (max(lat) * 1000))
    m = for_token(hc, Msg(req).token, 4.0)
    took = time.monotonic() - t0
    ck.ok(m is not None and m.code == coap.CONTENT and
          m.payload == b"slept\n" and 1.9 <= took < 4.0,
          "the hook's answer after %.2f s (2 s hook)" % took, repr(m))

# --- a separate response, raw ----------------------------------------------
with Client(port) as c:
    req = c.build(coap.GET, "/sep")
    r = Msg(req)
    runs0 = count("sep.count")
    t0 = time.monotonic()
    c.send(req)
    raw = c.recv(1.5)
    m = Msg(raw) if raw else None
    took = time.monotonic() - t0
    ck.ok(m is not None and m.type == coap.ACK and m.code == coap.EMPTY and
          m.mid == r.mid and 0.15 <= took < 1.0,
          "CON to a 1.5 s hook: an empty ACK after %.0f ms "
          "(separate_after_ms = 200)" % (took * 1000), repr(m))
    time.sleep(0.2)
    c.send(req)                     # the client retransmits
    raw = c.recv(1.0)
    m = Msg(raw) if raw else None
    ck.ok(m is not None and m.type == coap.ACK and m.code == coap.EMPTY and
          m.mid == r.mid, "the retransmitted request: an empty ACK again",
          repr(m))
    sep = for_token(c, r.token, 3.0)
    took = time.monotonic() - t0
    ck.ok(sep is not None and sep.type == coap.CON and
          sep.code == coap.CONTENT and sep.payload == b"slept\n" and
          sep.mid != r.mid and took >= 1.4,
          "the separate response: CON 2.05 after %.2f s" % took, repr(sep))
    ck.eq(count("sep.count") - runs0, 1, "the retransmission ran nothing")
    if sep is not None:
        again = for_token(c, r.token, 3.8)
        ck.ok(again is not None and again.type == coap.CON and
              again.mid == sep.mid,
              "the unacknowledged separate response is retransmitted",
              repr(again))
        c.send(coap.encode(coap.ACK, 0, sep.mid))
        ck.eq(c.recv(0.3), None, "nothing after its ACK")

# --- timeout_s = 1: 5.04 and the process group killed ----------------------
with Client(port) as c:
    t0 = time.monotonic()
    m = c.final(c.build(coap.GET, "/to"), timeout=5.0)
    took = time.monotonic() - t0
    ck.code(m, GATEWAY_TIMEOUT, "hook sleeping past timeout_s = 1: 5.04")
    ck.ok(0.9 <= took < 2.5, "5.04 after %.2f s (timeout_s = 1)" % took)
    ck.ok(m is not None and b"timed out" in m.payload,
          "5.04 with a diagnostic payload", repr(m))
    ids = wait_file(os.path.join(T, "to.pids"), 0.5) or ["", "", ""]
    pid, pgrp, child = ids
    ck.ok(pid != "" and pgrp == pid,
          "the hook ran in its own process group", repr(ids))
    ck.ok(pid != "" and wait_until(lambda: stat(pid) is None, 2.0),
          "the hook (pid %s) is gone and reaped: no /proc/%s" % (pid, pid))
    ck.ok(child != "" and wait_until(lambda: gone(child), 2.0),
          "its child in the group (pid %s) is killed too" % child)
    ck.eq([p for p, s in procs().items() if pgrp and s[2] == pgrp and
           s[0] != "Z"], [], "no live process left in group %s" % pgrp)

# --- an RST of the pending CON kills the run -------------------------------
with Client(port) as c:
    req = c.build(coap.GET, "/rst")
    r = Msg(req)
    c.send(req)
    ids = wait_file(os.path.join(T, "rst.pids")) or ["", "", ""]
    pid, pgrp, child = ids
    ck.ok(pid != "" and not gone(pid), "the /rst hook runs", repr(ids))
    c.drain()                   # the empty ACK
    c.send(coap.encode(coap.RST, 0, r.mid))
    ck.ok(pid != "" and wait_until(lambda: stat(pid) is None, 2.0),
          "after the client's RST the hook (pid %s) is gone" % pid)
    ck.ok(child != "" and wait_until(lambda: gone(child), 2.0),
          "and its child (pid %s)" % child)
    late = [Msg(d) for d in c.recv_all(0.5)]
    ck.eq([m for m in late if m.token == r.token], [],
          "no answer to the request reset")

# --- 500 requests to a max_running = 2 route -------------------------------
with Client(port) as c:
    sent = {}
    codes = {}
    max_ages = set()
    t0 = time.monotonic()
    for burst in range(10):
        for _ in range(50):
            req = c.build(coap.GET, "/busy", mtype=coap.NON)
            sent[Msg(req).token] = True
            c.send(req)
        end = time.monotonic() + 0.1
        while time.monotonic() < end:
            raw = c.recv(max(0.0, end - time.monotonic()))
            if raw is None:
                break
            m = Msg(raw)
            if sent.pop(m.token, None):
                codes[m.code] = codes.get(m.code, 0) + 1
                if m.code == UNAVAILABLE:
                    max_ages.add(m.uint(coap.MAX_AGE))
    end = time.monotonic() + 3.0
    while sent and time.monotonic() < end:
        raw = c.recv(max(0.0, end - time.monotonic()))
        if raw is None:
            break
        m = Msg(raw)
        if sent.pop(m.token, None):
            codes[m.code] = codes.get(m.code, 0) + 1
            if m.code == UNAVAILABLE:
                max_ages.add(m.uint(coap.MAX_AGE))
    took = time.monotonic() - t0
    shown = {coap.code_str(k): v for k, v in codes.items()}
    ck.eq(len(sent), 0, "500 NON requests in %.1f s: all answered %r" %
          (took, shown))
    ck.ok(codes.get(UNAVAILABLE, 0) > 0, "some are 5.03 past max_running = 2")
    ck.ok(codes.get(coap.CONTENT, 0) > 0, "some ran (2.05)")
    ck.eq(sorted(codes), sorted(k for k in (coap.CONTENT, UNAVAILABLE)
                                if k in codes), "only 2.05 and 5.03")
    ck.ok(max_ages and None not in max_ages and 0 not in max_ages,
          "every 5.03 has a Max-Age: %r" % max_ages)
    ck.ok(wait_until(lambda: not any(s[0] != "Z" for s in
                                     children().values()), 3.0),
          "every run is over 3 s later")
    time.sleep(0.2)
    ck.eq(sorted(p for p, s in children().items() if s[0] == "Z"), [],
          "no zombie child of coapd (pid %s)" % coapd)
    ck.eq(sorted(children()), [], "no child of coapd left at all")

# --- hooks.max_running = 3 across routes -----------------------------------
with Client(port) as c:
    toks = []
    for _ in range(6):
        req = c.build(coap.GET, "/gl", mtype=coap.NON)
        toks.append(Msg(req).token)
        c.send(req)
    got = {}
    end = time.monotonic() + 2.5
    while len(got) < 6 and time.monotonic() < end:
        raw = c.recv(max(0.0, end - time.monotonic()))
        if raw is None:
            break
        m = Msg(raw)
        if m.token in toks:
            got[m.token] = m.code
    codes = sorted(coap.code_str(v) for v in got.values())
    ck.eq(codes, ["2.05"] * 3 + ["5.03"] * 3,
          "6 at once, route max_running 8, hooks.max_running 3")
ck.done()
PY

assert_true "timeout logged" grep -q 'hook /to.*timed out' "$COAPD_LOG"

# --- term_grace_s at shutdown: SIGTERM, then SIGKILL after 1 s --------------
python3 - <<'PY'
import os
import coap
with coap.Client(int(os.environ["PORT"])) as c:
    c.send(c.build(coap.GET, "/stubborn", mtype=coap.NON))
PY
for ((i = 0; i < 60; i++)); do
	[ -s "$T/stubborn.pid" ] && break
	sleep 0.05
done
spid=$(cat "$T/stubborn.pid" 2>/dev/null)
assert_true "a hook that ignores SIGTERM runs (pid ${spid:-none})" alive "$spid"
t0=$(date +%s%N)
stop_coapd
ms=$((($(date +%s%N) - t0) / 1000000))
assert_true "shutdown waited term_grace_s = 1 ($ms ms), not 5 s" \
    test "$ms" -ge 800 -a "$ms" -lt 4000
assert_true "the hook ignoring SIGTERM is gone after shutdown" \
    test -n "$spid" -a ! -e "/proc/${spid:-x}"
finish
