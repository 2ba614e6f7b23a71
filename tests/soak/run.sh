#!/bin/bash
# tests/soak/run.sh - `make soak`: coapd under mixed traffic with faults
# for SOAK_S seconds (default 600; at least 90), on loopback only; the
# traffic and the end checks are tests/soak/load.py's.  RSS and fds over
# time go to SOAK_OUT (build/soak)/soak.csv and, with gnuplot, soak.png.
# Exit 0 when every end check passed.
. "$(dirname "$0")/../integ/lib.sh"

SOAK_S=${SOAK_S:-600}
[ "$SOAK_S" -ge 90 ] || fail "SOAK_S=$SOAK_S: at least 90 (uploads settle for 75 s)"
OUT=${SOAK_OUT:-$TOP/build/soak}
mkdir -p "$OUT"
need_cmd coap-client-openssl
PORT=$(free_port)
DPORT=$(free_port)
while [ "$DPORT" = "$PORT" ]; do DPORT=$(free_port); done

mkdir -p "$T/www" "$T/up" "$T/h" "$T/rt"
# coapd's control socket in $T/rt, not /run/coapd (another coapd may hold it)
export RUNTIME_DIRECTORY="$T/rt"
printf 'Hello, soak!\n' >"$T/www/hello.txt"
printf 'first\n' >"$T/www/obs.txt"
head -c 20000 /dev/urandom >"$T/www/big.bin"
key=soak-sensor-key-0123
printf %s "$key" >"$T/psk.key"
echo "sensor-1:$(printf %s "$key" | od -An -tx1 | tr -d ' \n')" >"$T/psk"
chmod 0600 "$T/psk"
printf '#!/bin/sh\nprintf ok\n' >"$T/h/ok.sh"
printf '#!/bin/sh\necho dying >&2\nexit 3\n' >"$T/h/crash.sh"
printf '#!/bin/sh\nsleep 5\n' >"$T/h/slow.sh"
# garbage that never starts with an empty line (which would end the headers
# and make the rest a valid body): 1 run in 256 did
printf '#!/bin/sh\nprintf x\nhead -c 300 /dev/urandom\n' >"$T/h/garbage.sh"
chmod 0755 "$T"/h/*.sh
cat >"$T/coapd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; },
           { address = "127.0.0.1"; port = $DPORT; dtls = true; } );
workers = 2;
# Cached answers live 20 s instead of 247 and idle DTLS sessions (one new
# client every 5 s) 20 s: both tables reach their steady size during the
# warm-up, so RSS growth after it means a leak, not a table filling up.
exchange_lifetime_s = 20;
dtls = { psk_file = "$T/psk"; session_timeout_s = 20; };
hooks = { tmp_dir = "$T"; };
routes = (
  { path = "/hello"; static = "$T/www/hello.txt"; },
  { path = "/obs"; static = "$T/www/obs.txt"; observe = true; },
  { path = "/files"; static = "$T/www"; },
  { path = "/up"; static = "$T/up"; writable = true; block_size = 64;
    methods = [ "GET", "PUT", "DELETE" ]; max_body_bytes = 65536; },
  { path = "/hook/ok"; hook = [ "$T/h/ok.sh" ]; timeout_s = 1;
    run_as_root = true; },
  { path = "/hook/crash"; hook = [ "$T/h/crash.sh" ]; timeout_s = 1;
    run_as_root = true; },
  { path = "/hook/slow"; hook = [ "$T/h/slow.sh" ]; timeout_s = 1;
    run_as_root = true; },
  { path = "/hook/garbage"; hook = [ "$T/h/garbage.sh" ]; timeout_s = 1;
    headers = true; run_as_root = true; },
  { path = "/be"; backend = "$T/app.sock"; timeout_s = 1;
    strip_prefix = true; }
);
log = { level = "warn"; };
CONF
start_coapd "$T/coapd.conf"
echo "# soak: $SOAK_S s, coapd pid $COAPD_PID, port $PORT, DTLS $DPORT"
if python3 "$TOP/tests/soak/load.py" "$PORT" "$DPORT" "$COAPD_PID" "$T" \
    "$SOAK_S" python3 "$TOP/tests/backend/echo-backend.py" "$T/app.sock"
then
	_ok "soak end checks"
else
	_nok "soak end checks"
fi
cp "$T/soak.csv" "$OUT/soak.csv"
if command -v gnuplot >/dev/null 2>&1; then
	gnuplot <<GP && echo "# plot: $OUT/soak.png"
set terminal png size 900,500
set output "$OUT/soak.png"
set datafile separator ","
set key autotitle columnhead
set title "coapd soak: $SOAK_S s of mixed traffic, faults, SIGHUP every 30 s"
set xlabel "seconds"
set ylabel "RSS (KiB)"
set y2label "open descriptors"
set ytics nomirror
set y2tics
plot "$OUT/soak.csv" every ::1 using 1:2 with lines title "RSS (KiB)", \
     "" every ::1 using 1:3 axes x1y2 with lines title "fds"
GP
else
	echo "# no gnuplot: CSV only ($OUT/soak.csv)"
fi
assert_true "coapd alive after the soak" alive "$COAPD_PID"
finish
