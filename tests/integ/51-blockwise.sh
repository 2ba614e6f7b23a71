#!/bin/bash
# 51-blockwise: Block2 downloads (RFC 7959) with libcoap's client, checksums
# compared: a 1 MiB file with 16-, 256- and 1024-byte blocks, the same file
# again out of the page cache (its blocks read on the worker's ring:
# reads_async counts them), and a 100 MiB file with 1024-byte blocks.  (100 MiB in 16-byte blocks would be 6.5
# million round trips, 256-byte ones 400,000: minutes, not seconds; the
# block arithmetic they would test is the same as for 1 MiB.)  Then the
# ETag on every block, and a file changing between blocks.
. "$(dirname "$0")/lib.sh"

need_cmd sha256sum
CTL=${COAPD_CTL:-$TOP/build/coapd-ctl}
[ -x "$CTL" ] || fail "$CTL is missing: run make build/coapd-ctl"
PORT=$(free_port)
export PORT
mkdir -p "$T/www"
head -c 1048576 /dev/urandom >"$T/www/1m.bin"
head -c 104857600 /dev/urandom >"$T/www/100m.bin"
cat >"$T/coapd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
workers = 2;
routes = (
  { path = "/files"; static = "$T/www"; },
  { path = "/small"; static = "$T/www"; block_size = 64; }
);
control_socket = "$T/ctl.sock";
CONF
start_coapd "$T/coapd.conf"

sum() { sha256sum <"$1" | cut -d' ' -f1; }

for b in 16 256 1024; do
	timeout 60 "$COAP_CLIENT" -B 50 -b "$b" -o "$T/got" \
	    "coap://127.0.0.1:$PORT/files/1m.bin" 2>"$COAP_ERR"
	assert_eq "$(sum "$T/got")" "$(sum "$T/www/1m.bin")" \
	    "1 MiB with $b-byte blocks: same SHA-256"
	rm -f "$T/got"
done

# Out of the page cache (written back, then dropped: ext4 and the like;
# tmpfs keeps its pages), every block would wait for the disk: each is
# read on the ring as a pending exchange, the worker free meanwhile.
reads_async() {
	"$CTL" -s "$T/ctl.sock" stats | awk '$1 == "reads_async" { print $2 }'
}
r0=$(reads_async)
python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.fsync(fd)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$T/www/1m.bin"
timeout 60 "$COAP_CLIENT" -B 50 -b 1024 -o "$T/got" \
    "coap://127.0.0.1:$PORT/files/1m.bin" 2>"$COAP_ERR"
assert_eq "$(sum "$T/got")" "$(sum "$T/www/1m.bin")" \
    "1 MiB out of the page cache: same SHA-256"
rm -f "$T/got"
r1=$(reads_async)
if [ "$(stat -f -c %T "$T/www")" = tmpfs ]; then
	assert_eq "$r1" "$r0" "tmpfs: no block read on the ring"
else
	assert_true "blocks read on the ring after the cache was dropped" \
	    [ $((r1 - r0)) -gt 0 ]
	# the first reads start the kernel's readahead: the rest is cached by then
	echo "reads_async: $((r1 - r0)) of 1024 blocks"
fi

start=$SECONDS
timeout 90 "$COAP_CLIENT" -B 80 -b 1024 -o "$T/got" \
    "coap://127.0.0.1:$PORT/files/100m.bin" 2>"$COAP_ERR"
assert_eq "$(sum "$T/got")" "$(sum "$T/www/100m.bin")" \
    "100 MiB with 1024-byte blocks: same SHA-256 ($((SECONDS - start)) s)"
rm -f "$T/got" "$T/www/100m.bin"

# The route's block_size caps what the client asks for.
timeout 20 "$COAP_CLIENT" -B 15 -b 1024 -o "$T/got" \
    "coap://127.0.0.1:$PORT/small/1m.bin" 2>"$COAP_ERR"
assert_eq "$(sum "$T/got")" "$(sum "$T/www/1m.bin")" \
    "1 MiB from a route with block_size 64"

py_checks "ETag and Size2 on blocks" <<'PY'
import os
import coap
from coap import Client, Checker

port = int(os.environ["PORT"])
path = os.path.join(os.environ["T"], "www", "1m.bin")
ck = Checker("51-blockwise")
with open(path, "rb") as f:
    data = f.read()

def block(c, num, szx):
    return c.get("/files/1m.bin",
                 options=[(coap.BLOCK2, coap.uint_bytes(num << 4 | szx))])

with Client(port) as c:
    first = block(c, 0, 6)
    ck.code(first, coap.CONTENT, "block 0 is 2.05")
    et = first.opt(coap.ETAG) if first else None
    ck.eq(first and first.uint(coap.SIZE2), len(data), "Size2 on block 0")
    bad = []
    for num in (1, 2, 500, 1023):
        m = block(c, num, 6)
        if (m is None or m.opt(coap.ETAG) != et or
                m.payload != data[num * 1024:(num + 1) * 1024]):
            bad.append(num)
    ck.ok(et is not None and not bad, "every block: same ETag, right bytes",
          repr(bad))
    last = block(c, 1023, 6)
    ck.ok(last is not None and not (last.uint(coap.BLOCK2) & 8),
          "block 1023 of 1 MiB has M=0", repr(last))
    # RFC 7959 §2.4: a file replaced mid-transfer shows a new ETag.
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(data[::-1])
    os.rename(tmp, path)
    m = block(c, 3, 6)
    ck.ok(m is not None and m.opt(coap.ETAG) != et and
          m.payload == data[::-1][3072:4096],
          "after a replace the next block has a new ETag", repr(m))
    m = block(c, 1024, 6)
    ck.ok(m is not None and m.code == coap.BAD_REQUEST,
          "block past the end is 4.00", repr(m))
ck.done()
PY

finish
