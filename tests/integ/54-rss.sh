#!/bin/bash
# 54-rss: a 1 GiB (sparse) file served to 50 concurrent libcoap clients,
# each downloading from its own offset with Block2 for a few seconds, while
# a raw client asks for random blocks all over the file: coapd reads only
# the block asked for, so its peak RSS stays under 64 MiB.  (libcoap 4.3.1
# keeps a starting block number in 16 bits: its clients start within the
# first 64 MiB; the raw client covers the rest.)  Then 20 clients download
# again from other offsets: RSS stays within 2 MiB of its level after the
# first round.  What the first round adds is the dedup cache being touched
# (dedup_entries slots of a whole datagram each, allocated once, paged in
# as used): bounded by the configuration, whatever the file size.
. "$(dirname "$0")/lib.sh"

need_cmd truncate
PORT=$(free_port)
export PORT
mkdir -p "$T/www"
truncate -s 1G "$T/www/1g.bin"
printf 'tail' | dd of="$T/www/1g.bin" bs=1 seek=$((1024 * 1024 * 1024 - 4)) \
    conv=notrunc status=none
cat >"$T/coapd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
workers = 2;
dedup_entries = 4096;
routes = ( { path = "/files"; static = "$T/www"; } );
CONF
start_coapd "$T/coapd.conf"

rss_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$COAPD_PID/status"; }
before=$(rss_kib VmRSS)

pids=()
for ((i = 0; i < 50; i++)); do
	# -b NUM,SIZE starts the chain at block NUM: 50 places in the file.
	timeout 6 "$COAP_CLIENT" -B 10 -b $((i * 1300)),1024 -o "$T/c$i.out" \
	    "coap://127.0.0.1:$PORT/files/1g.bin" >/dev/null 2>&1 &
	pids+=($!)
done
timeout 10 python3 - >"$T/raw.out" <<'PY' &
import os, random, time
import coap
from coap import Client
port = int(os.environ["PORT"])
ok = bad = 0
cs = [Client(port) for _ in range(10)]
end = time.monotonic() + 5
while time.monotonic() < end:
    for c in cs:
        num = random.randrange(1 << 20)
        m = c.get("/files/1g.bin", timeout=1.0, tries=1,
                  options=[(coap.BLOCK2, coap.uint_bytes(num << 4 | 6))])
        if m is not None and m.code == coap.CONTENT and len(m.payload) == 1024:
            ok += 1
        else:
            bad += 1
m = cs[0].get("/files/1g.bin",
              options=[(coap.BLOCK2, coap.uint_bytes(0xfffff << 4 | 6))])
last = m is not None and m.payload.endswith(b"tail") and \
    not (m.uint(coap.BLOCK2) & 8)
print(ok, bad, "last" if last else "nolast")
PY
raw=$!
peak=0
for ((s = 0; s < 25; s++)); do
	r=$(rss_kib VmRSS)
	[ "${r:-0}" -gt "$peak" ] && peak=$r
	sleep 0.2
done
for p in "${pids[@]}" "$raw"; do
	wait "$p" 2>/dev/null
done
hwm=$(rss_kib VmHWM)
got=0
for ((i = 0; i < 50; i++)); do
	[ -s "$T/c$i.out" ] && got=$((got + 1))
done
echo "# RSS before ${before} KiB, peak sampled ${peak} KiB, VmHWM ${hwm} KiB"
assert_eq "$got" 50 "all 50 clients received data"
assert_true "peak RSS ${hwm} KiB < 64 MiB" test "$hwm" -lt 65536

# Round two: 20 clients at new offsets; the tables are warm now.
warm=$(rss_kib VmRSS)
pids=()
for ((i = 0; i < 20; i++)); do
	timeout 4 "$COAP_CLIENT" -B 10 -b $((i * 3000 + 700)),1024 \
	    -o "$T/d$i.out" "coap://127.0.0.1:$PORT/files/1g.bin" \
	    >/dev/null 2>&1 &
	pids+=($!)
done
peak2=0
for ((s = 0; s < 20; s++)); do
	r=$(rss_kib VmRSS)
	[ "${r:-0}" -gt "$peak2" ] && peak2=$r
	sleep 0.2
done
for p in "${pids[@]}"; do
	wait "$p" 2>/dev/null
done
got=0
for ((i = 0; i < 20; i++)); do
	[ -s "$T/d$i.out" ] && got=$((got + 1))
done
echo "# round two: RSS warm ${warm} KiB, peak sampled ${peak2} KiB"
assert_eq "$got" 20 "round two: all 20 clients received data"
assert_true "round two peak ${peak2} KiB within 2 MiB of ${warm} KiB" \
    test "$peak2" -lt $((warm + 2048))
# round one's growth: 2 workers x 4096 slots of COAP_MAX_MSG (1280) bytes + 4 MiB
assert_true "round one grew by $((hwm - before)) KiB, within the dedup bound" \
    test $((hwm - before)) -lt $((2 * 4096 * 1280 / 1024 + 4096))

read -r rok rbad rlast <"$T/raw.out"
echo "# raw client: ${rok:-0} random blocks served, ${rbad:-?} lost"
assert_true "random blocks across 1 GiB served (${rok:-0})" \
    test "${rok:-0}" -gt 100
# NUM 1048575 of 1024 bytes, the largest 20-bit NUM (RFC 7959 §2.2).
assert_eq "$rlast" last "the last block of 1 GiB is served, M=0"

finish
