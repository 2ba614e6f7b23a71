#!/bin/bash
# 72-shed-ring: load shedding driven by the receive buffer ring (issue 16).
# 62-shed fills the pending exchange table; here the usage comes from the
# datagrams one wake-up of the worker finds waiting.
#
# How the backlog is made deterministic: coapd is stopped (SIGSTOP), a
# burst is sent, and it is continued (SIGCONT).  While it is stopped the
# datagrams wait in the sockets' receive queues and the multishot recvs
# cannot run (with DEFER_TASKRUN they run only inside io_uring_enter), so
# the first wake-up after SIGCONT finds the whole burst queued; nothing
# depends on how fast this script sends.  The ring has a fixed 2048
# buffers (WORKER_NBUFS, no config key), and the kernel hands a multishot
# recv's backlog over at most 32 datagrams per socket and run, the worker
# giving the buffers back every wake-up: the ring is never exhausted, so
# the thresholds are set to their floor instead: shed_at_percent = 2, i.e.
# 41 datagrams in one wake-up.  The worker listens on four addresses that
# share its one ring, so that wake-up carries at least 4 x 32 = 128 (6%)
# even on a kernel that caps each run.
#
# Checks: the worker sheds (logged and counted once), every burst CON is
# answered (the first wake-up's with 2.05, the later ones with 5.03 and
# Max-Age = limits.shed_max_age_s), a retransmission of a CON answered
# before the burst gets the very same bytes from the cache, a new CON
# queued behind the burst gets 5.03, a new NON nothing; then the level
# returns to normal and a fresh GET gets 2.05.
#
# Timing: the probes are queued behind the burst, so they are judged while
# shedding unless the worker stalls for a second (RL_LOAD_HOLD_NS) in the
# middle of the backlog; serial in run.sh for that reason.
. "$(dirname "$0")/lib.sh"

CTL=${COAPD_CTL:-$TOP/build/coapd-ctl}
[ -x "$CTL" ] || fail "$CTL is missing: run make build/coapd-ctl"
PORT=$(free_port)
export PORT
SOCK="$T/ctl.sock"
make_www
cat >"$T/coapd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; },
           { address = "127.0.0.2"; port = $PORT; },
           { address = "127.0.0.3"; port = $PORT; },
           { address = "127.0.0.4"; port = $PORT; } );
workers = 1;
control_socket = "$SOCK";
limits = { shed_max_age_s = 7; normal_below_percent = 1;
           throttle_at_percent = 2; shed_at_percent = 2; };
routes = ( { path = "/hello"; static = "$T/www/hello.txt"; } );
CONF
start_coapd "$T/coapd.conf"
export COAPD_PID

py_checks "ring backlog: shedding, cached retransmit, 5.03, no NON" <<'PY'
import os, signal, socket, time
import coap
from coap import Client, Checker
port, pid = int(os.environ["PORT"]), int(os.environ["COAPD_PID"])
PER = 250		# CONs per listen address: 1000 in all
ck = Checker()

# 1. an answered CON: its answer is in the dedup cache
r = Client(port)
req = r.build(coap.GET, "/hello")
r.send(req)
first = r.recv(2.0)
ck.ok(first is not None and coap.Msg(first).code == coap.CONTENT,
      "before the burst: 2.05")

# 2. the burst, queued while coapd is stopped; the probes behind it
def stopped():
    """Every thread of coapd is stopped: kill() returns before that."""
    d = "/proc/%d/task" % pid
    for t in os.listdir(d):
        with open("%s/%s/stat" % (d, t)) as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] != "T":
                return False
    return True

flood = [Client(port, host="127.0.0.%d" % (i + 1)) for i in range(4)]
for f in flood:	# room for all 250 answers while the others are read
    f.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
os.kill(pid, signal.SIGSTOP)
try:
    t0 = time.monotonic()
    while not stopped() and time.monotonic() - t0 < 5:
        time.sleep(0.01)
    ck.ok(stopped(), "coapd stopped")
    sent = {}
    for f in flood:
        for _ in range(PER):
            m = f.build(coap.GET, "/hello")
            sent[(f.local, coap.Msg(m).mid)] = m
            f.send(m)
    r.send(req)				# retransmission: same MID, token
    probe = r.build(coap.GET, "/hello")	# a new CON
    r.send(probe)
    non = r.build(coap.GET, "/hello", mtype=coap.NON)
    r.send(non)
    time.sleep(0.2)
finally:
    os.kill(pid, signal.SIGCONT)

# 3. every burst CON gets an ACK: 2.05 first, 5.03 with Max-Age 7 later
codes = {}
bad_age = 0
for f in flood:
    for raw in f.recv_all(5.0, limit=PER):
        m = coap.Msg(raw)
        if m.type != coap.ACK or (f.local, m.mid) not in sent:
            continue
        codes[m.code] = codes.get(m.code, 0) + 1
        if m.code == coap.code(5, 3) and m.uint(coap.MAX_AGE) != 7:
            bad_age += 1
served, shed = codes.get(coap.CONTENT, 0), codes.get(coap.code(5, 3), 0)
print("# burst: %d served, %d shed" % (served, shed))
ck.eq(served + shed, 4 * PER, "every burst CON answered (2.05 or 5.03)")
ck.ok(served >= 41, "the first wake-up's datagrams are served", served)
ck.ok(shed > 0, "the later ones get 5.03", shed)
ck.eq(bad_age, 0, "every 5.03 carries Max-Age = shed_max_age_s")

# 4. the probes, judged while shedding
got, non_answers = {}, 0
for raw in r.recv_all(1.0):
    m = coap.Msg(raw)
    got.setdefault(m.mid, []).append(raw)
    non_answers += m.token == coap.Msg(non).token
ck.eq(got.get(coap.Msg(req).mid), [first],
      "retransmitted CON answered from the cache, same bytes")
p = [coap.Msg(x) for x in got.get(coap.Msg(probe).mid, [])]
ck.eq([(x.type, x.code, x.uint(coap.MAX_AGE)) for x in p],
      [(coap.ACK, coap.code(5, 3), 7)], "new CON behind the burst: 5.03")
ck.eq(non_answers, 0, "new NON while shedding: no answer")
with open(os.path.join(os.environ["T"], "shed503"), "w") as fh:
    fh.write("%d\n" % (shed + len(p)))
ck.done()
PY

# back to normal: usage is 0% now, and the level held for a second
for _ in $(seq 50); do
	grep -q "load level normal" "$COAPD_LOG" && break
	sleep 0.1
done
assert_contains "$(grep "load level" "$COAPD_LOG" | tr '\n' ' ')" \
    "load level shedding (usage" "entering shedding logged"
py_checks "a fresh GET after the burst: 2.05" <<'PY'
import os
import coap
from coap import Client, Checker
ck = Checker()
m = Client(int(os.environ["PORT"])).get("/hello", tries=1)
ck.eq(m is not None and m.code, coap.CONTENT, "fresh GET: 2.05")
ck.done()
PY

"$CTL" -s "$SOCK" stats --json >"$T/stats.json"
assert_eq "$?" 0 "coapd-ctl stats --json exits 0"
# metric KEY...: one counter, KEYs the path under "metrics"
metric() {
	python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))["metrics"]
for k in sys.argv[2:]:
    v = v[k]
print(v)' "$T/stats.json" "$@"
}
assert_eq "$(metric load_entered shedding)" 1 "entering shedding counted once"
assert_eq "$(metric load_entered throttled)" 0 "straight to shedding"
assert_eq "$(metric load_entered normal)" 1 "returning to normal counted once"
assert_eq "$(metric load_level)" 0 "level normal again"
assert_eq "$(metric shed_503)" "$(cat "$T/shed503" 2>/dev/null)" \
    "shed_503 counts the 5.03 answers seen"
assert_eq "$(metric drops shed_non)" 1 "the NON dropped while shedding"
assert_eq "$(grep -c "load level shedding" "$COAPD_LOG")" 1 \
    "shedding logged once"

finish
