#!/bin/bash
# 50-check: `coapd -t` accepts a good configuration, rejects bad ones with
# "FILE:LINE: message" on stderr and exit 1, reports every error, and the
# daemon itself refuses to start on a bad configuration.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
make_www
cd "$T" || fail "cd $T"

# check_t CONFIG: run coapd -t -c CONFIG from $T; sets rc, out, err.
check_t() {
	timeout 10 "$COAPD" -t -c "$1" >"$T/t.out" 2>"$T/t.err"
	rc=$?
	out=$(cat "$T/t.out")
	err=$(cat "$T/t.err")
}

# assert_err_at FILE LINE WHAT: stderr has "...FILE:LINE: " at a line start.
assert_err_at() {
	local file=$1 line=$2 what=$3
	if grep -Eq "^(.*/)?${file//./\\.}:$line: " "$T/t.err"; then
		_ok "$what"
	else
		_nok "$what: no '$file:$line: ' line in stderr: '$err'"
	fi
}

# --- a good configuration ---------------------------------------------------
std_conf good.conf
check_t good.conf
assert_eq "$rc" 0 "good.conf: exit 0"
assert_eq "$out" "good.conf: configuration OK" "good.conf: OK line"
assert_eq "$err" "" "good.conf: nothing on stderr"

# --- an unknown key (line 3) ------------------------------------------------
cat >unknown.conf <<EOF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
workers = 1;
bogus_setting = 42;
routes = ( { path = "/hello"; static = "www/hello.txt"; } );
EOF
check_t unknown.conf
assert_eq "$rc" 1 "unknown key: exit 1"
assert_err_at unknown.conf 3 "unknown key: error at unknown.conf:3"
assert_contains "$err" "bogus_setting" "unknown key: the message names it"
assert_eq "$out" "" "unknown key: nothing on stdout"

# --- an unknown key inside a route (line 4) ---------------------------------
cat >routekey.conf <<EOF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
routes = (
  { path = "/hello"; static = "www/hello.txt"; },
  { path = "/x"; static = "www"; colour = "blue"; }
);
EOF
check_t routekey.conf
assert_eq "$rc" 1 "unknown route key: exit 1"
assert_err_at routekey.conf 4 "unknown route key: error at routekey.conf:4"
assert_contains "$err" "colour" "unknown route key: the message names it"

# --- several errors are all reported ----------------------------------------
cat >two.conf <<EOF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
first_bogus = 1;
routes = ( { path = "/hello"; static = "www/hello.txt"; } );
second_bogus = "x";
EOF
check_t two.conf
assert_eq "$rc" 1 "two errors: exit 1"
assert_err_at two.conf 2 "two errors: the first is reported"
assert_err_at two.conf 4 "two errors: the second is reported too"

# --- a syntax error (line 2) ------------------------------------------------
cat >syntax.conf <<EOF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
workers = ;
EOF
check_t syntax.conf
assert_eq "$rc" 1 "syntax error: exit 1"
assert_err_at syntax.conf 2 "syntax error: error at syntax.conf:2"

# --- a wrong type and an out-of-range value ----------------------------------
cat >type.conf <<EOF
listen = ( { address = "127.0.0.1"; port = 99999; } );
workers = "two";
routes = ( { path = "/hello"; static = "www/hello.txt"; } );
EOF
check_t type.conf
assert_eq "$rc" 1 "bad port and type: exit 1"
assert_err_at type.conf 1 "port 99999: error at type.conf:1"
assert_err_at type.conf 2 "workers = \"two\": error at type.conf:2"

# --- two routes with one path ------------------------------------------------
cat >dup.conf <<EOF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
routes = (
  { path = "/hello"; static = "www/hello.txt"; },
  { path = "/hello"; static = "www/data.json"; }
);
EOF
check_t dup.conf
assert_eq "$rc" 1 "duplicate route path: exit 1"
assert_contains "$err" "/hello" "duplicate route path: the message names it"
assert_true "duplicate route path: FILE:LINE: form" \
    grep -Eq '^(.*/)?dup\.conf:[0-9]+: ' "$T/t.err"

# --- a missing file -----------------------------------------------------------
check_t missing.conf
assert_eq "$rc" 1 "missing file: exit 1"
assert_contains "$err" "missing.conf" "missing file: the message names it"
assert_eq "$out" "" "missing file: nothing on stdout"

# --- the daemon refuses to start on a bad configuration ----------------------
timeout 10 "$COAPD" -c unknown.conf >"$T/run.out" 2>"$T/run.err"
rc=$?
assert_eq "$rc" 1 "coapd -c unknown.conf exits 1 without serving"
assert_true "coapd -c unknown.conf prints FILE:LINE:" \
    grep -Eq '^(.*/)?unknown\.conf:3: ' "$T/run.err"

# --- the port is taken: exit 1 with a message, no hang ---------------------
std_conf busy.conf
python3 - "$PORT" >"$T/holder.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("bound", flush=True)
time.sleep(15)
EOF
holder=$!
for ((i = 0; i < 50; i++)); do
	grep -q bound "$T/holder.out" && break
	sleep 0.1
done
timeout 10 "$COAPD" -c busy.conf >"$T/run.out" 2>"$T/run.err"
rc=$?
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
assert_eq "$rc" 1 "port in use: coapd exits 1"
assert_contains "$(cat "$T/run.err" "$T/run.out")" "127.0.0.1" \
    "port in use: the message names the address"

# --- command line -------------------------------------------------------------
timeout 10 "$COAPD" -x >/dev/null 2>&1
rc=$?
assert_eq "$rc" 2 "unknown flag exits 2"
out=$(timeout 10 "$COAPD" -V)
assert_contains "$out" "coapd" "-V prints the version"
# every library with a version number, and every compile-time feature
for lib in liburing libconfig libsystemd wolfSSL; do
	assert_true "-V: $lib and its version" \
	    grep -Eq "^  $lib +[0-9]+(\.[0-9]+)*( |\$)" <<<"$out"
done
for feat in configuration transports routes CCM-8 systemd; do
	assert_true "-V: feature $feat" grep -Eq "^  $feat +[^ ]" <<<"$out"
done
assert_contains "$out" "$(pkg-config --modversion libconfig)" \
    "-V: libconfig's version is the one built against"
# run-time versions where the library can tell, else marked as build-time
assert_true "-V: wolfSSL's version at run time" \
    grep -Eq "^  wolfSSL +[0-9.]+ \(run time; built with [0-9.]+;" <<<"$out"
for lib in libconfig libsystemd; do
	assert_true "-V: $lib marked as the build-time version" \
	    grep -Eq "^  $lib +[0-9.]+ \(build; " <<<"$out"
done
assert_contains "$out" "kernel $(uname -r)" "-V: the kernel beside liburing"

finish
