#!/bin/sh
# Configuration corpus: run `coapd -t -c FILE` on every tests/conf/*.conf.
#   good-*.conf  must exit 0 and print exactly "FILE: configuration OK",
#                and on stderr nothing, or exactly good-*.warn when present
#   bad-*.conf   must exit 1, print nothing on stdout, and print on stderr
#                exactly the lines of bad-*.err
# FILE is passed relative to the repository root, as the .err files expect.
# CONFTEST_WRAPPER (e.g. "valgrind -q --leak-check=full --error-exitcode=99")
# runs each case under a tool.  Then the shipped conf/coapd.conf, every
# configuration example of man/coapd.conf.5 (tests/conf/manexamples.sh) and
# the documentation check.
#
# usage: tests/conf/run.sh COAPD_BINARY

if [ $# -ne 1 ]; then
	echo "usage: $0 COAPD_BINARY" >&2
	exit 2
fi
case $1 in
/*)	bin=$1 ;;
*)	bin=$(pwd)/$1 ;;
esac
if [ ! -x "$bin" ]; then
	echo "conf: $1: not an executable" >&2
	exit 2
fi
cd "$(dirname "$0")/../.." || exit 2
# psk_file = "credential:..." cases expect coapd outside systemd.
unset CREDENTIALS_DIRECTORY
# git keeps no 0600: key files get it here, as coapd requires; the one
# meant to be refused for its mode gets 0644.
chmod 0600 tests/conf/*.psk
chmod 0644 tests/conf/bad-psk-mode.psk

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0
fail=0

# $1 file, $2 reason; shows what differed
failed() {
	echo "FAIL $1: $2"
	sed 's/^/	/' "$tmp/diff"
	fail=$((fail + 1))
}

for f in tests/conf/good-*.conf tests/conf/bad-*.conf; do
	[ -f "$f" ] || continue
	# shellcheck disable=SC2086
	$CONFTEST_WRAPPER "$bin" -t -c "$f" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	case $f in
	*/good-*)
		printf '%s: configuration OK\n' "$f" >"$tmp/want"
		: >"$tmp/none"
		[ -f "${f%.conf}.warn" ] && cp "${f%.conf}.warn" "$tmp/none"
		if [ $rc -ne 0 ]; then
			cat "$tmp/err" >"$tmp/diff"
			failed "$f" "exit $rc, expected 0"
		elif ! diff -u "$tmp/want" "$tmp/out" >"$tmp/diff" ||
		    ! diff -u "$tmp/none" "$tmp/err" >"$tmp/diff"; then
			failed "$f" "unexpected output"
		else
			echo "ok   $f"
			pass=$((pass + 1))
		fi
		;;
	*)
		want=${f%.conf}.err
		if [ ! -f "$want" ]; then
			: >"$tmp/diff"
			failed "$f" "no $want"
		elif [ $rc -ne 1 ]; then
			cat "$tmp/out" "$tmp/err" >"$tmp/diff"
			failed "$f" "exit $rc, expected 1"
		elif [ -s "$tmp/out" ]; then
			cat "$tmp/out" >"$tmp/diff"
			failed "$f" "output on stdout"
		elif ! diff -u "$want" "$tmp/err" >"$tmp/diff"; then
			failed "$f" "stderr differs from $want"
		else
			echo "ok   $f"
			pass=$((pass + 1))
		fi
		;;
	esac
done

# the shipped demo configuration, as `make run` uses it
chmod 0600 conf/coapd.psk
$CONFTEST_WRAPPER "$bin" -t -c conf/coapd.conf >"$tmp/out" 2>"$tmp/err"
rc=$?
printf 'conf/coapd.conf: configuration OK\n' >"$tmp/want"
if [ $rc -eq 0 ] && cat "$tmp/err" >"$tmp/diff" && [ ! -s "$tmp/err" ] &&
    diff -u "$tmp/want" "$tmp/out" >"$tmp/diff"; then
	echo "ok   conf/coapd.conf"
	pass=$((pass + 1))
else
	failed conf/coapd.conf "exit $rc or unexpected output"
fi

# every configuration example of coapd.conf(5)
if sh tests/conf/manexamples.sh "$bin" >"$tmp/diff" 2>&1; then
	echo "ok   man/coapd.conf.5 examples: $(grep -c ' ok ' "$tmp/diff") passed"
	grep -q skip "$tmp/diff" && cat "$tmp/diff"
	pass=$((pass + 1))
else
	failed man/coapd.conf.5 "an example fails coapd -t"
fi

if sh tests/conf/doccheck.sh >"$tmp/diff" 2>&1; then
	echo "ok   doccheck"
	pass=$((pass + 1))
else
	failed doccheck "keys and man page disagree"
fi

echo "conf: $pass passed, $fail failed"
[ $fail -eq 0 ]
