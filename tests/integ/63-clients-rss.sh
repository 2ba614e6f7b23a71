#!/bin/bash
# 63-clients-rss: bounded state (issue 16).  100,000 requests from 100,000
# distinct source endpoints (1000 loopback addresses x 100 ports) in one
# burst: every per-client table stays within its bound (dedup_entries,
# limits.max_clients, evicting), the daemon's peak RSS within what those
# bounds and the fixed buffers cost, and a normal client is served after.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
make_www
WORKERS=2 DEDUP=2048 MAXCL=256
cat >"$T/coapd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
workers = $WORKERS;
dedup_entries = $DEDUP;
limits = { rate = 5; burst = 10; max_clients = $MAXCL; };
routes = ( { path = "/hello"; static = "$T/www/hello.txt"; } );
CONF
start_coapd "$T/coapd.conf"

rss_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$COAPD_PID/status"; }
# stats NAME: counter NAME from a fresh SIGUSR1 report
stats() {
	local before
	before=$(grep -c "stats, worker" "$COAPD_LOG")
	kill -USR1 "$COAPD_PID"
	for _ in $(seq 50); do
		[ "$(grep -c "stats, worker" "$COAPD_LOG")" -gt "$before" ] &&
			break
		sleep 0.1
	done
	grep "stats, " "$COAPD_LOG" | grep -v "stats, worker" |
	    grep -o "[, ]$1 [0-9]*" | tail -1 |
	    awk '{ print $2 }'
}
before=$(rss_kib VmRSS)

timeout 60 python3 - <<'PY' || fail "the burst could not be sent"
import os, socket, struct, time
import coap
port = int(os.environ["PORT"])
# One socket per source port; IP_PKTINFO (8) picks the source address of
# each datagram among 1000 loopback addresses: 100,000 endpoints.
socks = []
for i in range(100):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    socks.append(s)
srcs = [socket.inet_aton("127.3.%d.%d" % (a // 250, a % 250 + 1))
        for a in range(1000)]
t0 = time.monotonic()
n = 0
for s in socks:
    for a in srcs:
        msg = coap.encode(coap.CON, coap.GET, n & 0xffff, b"",
                          coap.uri_options("/hello"))
        s.sendmsg([msg], [(socket.IPPROTO_IP, 8,
                           struct.pack("@i4s4s", 0, a, bytes(4)))],
                  0, ("127.0.0.1", port))
        n += 1
print("# %d datagrams from %d endpoints in %.2f s" %
      (n, len(socks) * len(srcs), time.monotonic() - t0))
PY

# until the worker has taken what the kernel queued (bounded)
prev=-1
for _ in $(seq 30); do
	rx=$(stats rx)
	[ "$rx" = "$prev" ] && break
	prev=$rx
	sleep 0.3
done
hwm=$(rss_kib VmHWM)
now=$(rss_kib VmRSS)
clients=$(stats rl_clients)
# What the bounds cost (coapd.conf(5) LIMITS "Bounded state"), per worker:
# buffer ring 2048 x 2 KiB, send slots 1024 x ~1.3 KiB, dedup entries
# ~1.4 KiB each, buckets 96 bytes each; plus 8 MiB for everything else.
bound=$((before + WORKERS * (4096 + 1400 + DEDUP * 14 / 10 + MAXCL * 96 / 1024) + 8192))
echo "# rx $rx, RSS before $before KiB, after $now KiB, peak $hwm KiB," \
    "bound $bound KiB; buckets $clients"
assert_true "a real burst was received (rx $rx >= 20000)" test "${rx:-0}" -ge 20000
assert_true "peak RSS $hwm KiB within the bound $bound KiB" test "$hwm" -le "$bound"
assert_true "buckets held ($clients) <= workers x max_clients" \
    test "${clients:-999999}" -le $((WORKERS * MAXCL))
assert_true "full bucket tables evicted the least recently seen" \
    test "$(stats rl_evicted)" -gt 0
assert_true "the full dedup cache evicted its oldest entries" \
    test "$(stats dedup_evicted)" -gt 0

# a normal client is served afterwards
out=$(timeout 10 "$COAP_CLIENT" -a 127.0.0.9 -B 5 "coap://127.0.0.1:$PORT/hello" 2>>"$COAP_ERR")
assert_eq "$out" "Hello, CoAP!" "a normal client is served after the burst"

finish
