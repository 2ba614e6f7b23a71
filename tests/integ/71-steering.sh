#!/bin/bash
# 71-steering: the reuseport BPF program sends every datagram of a client
# host to one worker, whatever its source port, and spreads hosts as
# net_steer_index() predicts.  Per-worker request counts come from the
# SIGUSR1 statistics in the log.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
make_www
std_conf "$T/coapd.conf" "" 2
start_coapd "$T/coapd.conf"

# worker_requests: "N0 N1" from the latest SIGUSR1 statistics.
worker_requests() {
	local before
	before=$(grep -c "stats, worker" "$COAPD_LOG")
	kill -USR1 "$COAPD_PID"
	for _ in $(seq 50); do
		[ "$(grep -c "stats, worker" "$COAPD_LOG")" -ge $((before + 2)) ] &&
			break
		sleep 0.1
	done
	grep "stats, worker" "$COAPD_LOG" | tail -2 |
	    sed 's/.*requests \([0-9]*\).*/\1/' | tr '\n' ' '
}

base=$(worker_requests)
python3 - "$PORT" <<'PY' || fail "requests from 127.0.0.1 failed"
import socket, struct, sys
port = int(sys.argv[1])
for i in range(40):			# 40 source ports of one host
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    s.sendto(struct.pack("!BBH", 0x41, 1, i) + b"\x07" + b"\xb5hello",
             ("127.0.0.1", port))
    s.recvfrom(2048)
    s.close()
PY
after=$(worker_requests)
read -r b0 b1 <<<"$base"
read -r a0 a1 <<<"$after"
d0=$((a0 - b0))
d1=$((a1 - b1))
echo "# one host, 40 ports: worker 0 +$d0, worker 1 +$d1"
assert_true "40 source ports of 127.0.0.1 all reach one worker ($d0/$d1)" \
    test $((d0 * d1)) -eq 0 -a $((d0 + d1)) -eq 40

# 16 hosts: each must land where the steering hash says.
expect=$(python3 - "$PORT" <<'PY'
import socket, struct, sys
port = int(sys.argv[1])
count = [0, 0]
for h in range(2, 18):
    addr = "127.0.0.%d" % h
    a = struct.unpack("!I", socket.inet_aton(addr))[0]
    count[(((a * 0x9e3779b1) & 0xffffffff) >> 16) % 2] += 5
    for i in range(5):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, 0))
        s.settimeout(2)
        s.sendto(struct.pack("!BBH", 0x41, 1, 100 + i) + b"\x07" +
                 b"\xb5hello", ("127.0.0.1", port))
        s.recvfrom(2048)
        s.close()
print(count[0], count[1])
PY
) || fail "requests from 16 hosts failed"
final=$(worker_requests)
read -r e0 e1 <<<"$expect"
read -r f0 f1 <<<"$final"
echo "# 16 hosts: expected $e0/$e1, got $((f0 - a0))/$((f1 - a1))"
assert_eq "$((f0 - a0)) $((f1 - a1))" "$e0 $e1" \
    "16 hosts land on the workers net_steer_index() predicts"
assert_true "both workers serve some of the 16 hosts" \
    test "$e0" -gt 0 -a "$e1" -gt 0
finish
