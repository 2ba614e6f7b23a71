#!/bin/bash
# 75-no-malloc: the request path does not touch the heap.  coapd runs twice
# under a counting malloc shim (tests/alloc/malloc_count.c); the second run
# answers 20 times more requests (CON and NON GETs of a cached file, of a
# file read from disk, of a 4.04 and of /.well-known/core) and must make
# (almost) the same number of heap calls as the first.
. "$(dirname "$0")/lib.sh"

need_cmd cc
# The shim interposes malloc; ASan must own malloc and be loaded first.
[ "${COAPD_SANITIZE:-0}" = 1 ] && skip "malloc counting under ASan"
PORT=$(free_port)
export PORT
make_www
cd "$T" || fail "cd $T"
head -c 3000 /dev/urandom >www/big.bin
cc -shared -fPIC -O2 -o "$T/malloc_count.so" "$TOP/tests/alloc/malloc_count.c" ||
    fail "cannot build the malloc shim"
std_conf c.conf
# rate limits on (never reached): the bucket lookup is on the path too
echo 'limits = { rate = 1000000; burst = 1000000; };' >>c.conf

# run N: serve N rounds of requests, print the heap calls of the whole run.
run() {
	local n=$1
	MALLOC_COUNT_FILE="$T/count.$n" LD_PRELOAD="$T/malloc_count.so" \
	    start_coapd c.conf >&2
	python3 - "$PORT" "$n" <<'PY' || fail "requests failed"
import socket, struct, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
def req(mid, typ, path):
    opts = b""
    last = 0
    for seg in path.strip("/").split("/"):
        seg = seg.encode()
        d = 11 - last
        last = 11
        opts += bytes([(d << 4) | len(seg)]) + seg
    return struct.pack("!BBH", 0x40 | (typ << 4) | 2, 1, mid) + b"\x01\x02" + opts
mid = 0
for i in range(n):
    for path in ("/hello", "/files/big.bin", "/nothere", "/.well-known/core"):
        for typ in (0, 1):
            mid = (mid + 1) & 0xffff
            s.sendto(req(mid, typ, path), ("127.0.0.1", port))
            s.recvfrom(2048)
PY
	stop_coapd >&2
	read -r _ a _ f <"$T/count.$n"
	echo "$((a + f))"
}

small=$(run 50)
large=$(run 1000)
echo "# heap calls: 400 requests $small, 8000 requests $large"
# Start-up and shutdown allocate; requests must not (slack for timing of
# per-second revalidation and the like: far below one call per request).
assert_true "7600 more requests make fewer than 100 more heap calls" \
    test $((large - small)) -lt 100
finish
