#!/bin/bash
# tests/ci/check.sh - `make check` (the Makefile passes MAKE, B, SANITIZE,
# BUILD_JOBS, CI and SOAK_S).  Every stage prints "check: STAGE N s" when
# it ends and a table of all of them closes the run, so a CI log says
# where the time went.
#
# Two tracks run side by side on the 2 cores:
#  - in front: build, unit tests, config corpus, fuzz replays, the
#    integration tests (INTEG_JOBS=2: the ones that measure nothing run
#    two at a time, see tests/integ/run.sh), with CI=true (or SOAK=1) the
#    2-minute soak with its end checks asserted, and the DTLS tests
#    against the CCM-8 wolfSSL;
#  - behind, under nice 10 (it gets mostly the CPU the front leaves idle,
#    which the sleeping and waiting integration tests leave a lot of), in
#    two chains side by side: cppcheck and clang-tidy, then the libFuzzer
#    builds with each target run for FUZZ_SMOKE_S seconds; and the wolfSSL
#    source build and coapd linked to it, then the ASan+UBSan build with
#    its unit tests and fuzz replays.
#    Its output goes to $B/check/behind.log, printed when it is done.
# The DTLS tests of the front wait for the behind track's wolfSSL build.
# A failed stage does not stop the others (a failed build does); the exit
# status is 1 when any stage failed.
set -u
cd "$(dirname "$0")/../.." || exit 2

MAKE=${MAKE:-make}
B=${B:-build}
SANITIZE=${SANITIZE:-0}
JOBS=${BUILD_JOBS:-2}
SOAK_S=${SOAK_S:-120}
M="$MAKE --no-print-directory"
L=$B/check
rm -rf "$L"
mkdir -p "$L"
: >"$L/times"
T0=$SECONDS
fails=0

# cpu_now VAR: CPU seconds (user + system) of this shell's finished
# children into VAR; unlike the wall time it does not depend on what else
# loads the machine.  (`times` in the shell itself: a $(...) subshell
# would have no children of its own.)
cpu_now() {
	local f="$L/cpu.$BASHPID"
	times >"$f"
	printf -v "$1" %s "$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) {
	    split($i, a, "m"); t += a[1] * 60 + a[2] }; printf "%d", t }' "$f")"
}

# stage NAME COMMAND...: run it, time it (wall and CPU), record it.
stage() {
	local name=$1 start=$SECONDS c0 c1 rc how
	shift
	echo "check: $name ..."
	cpu_now c0
	"$@"
	rc=$?
	cpu_now c1
	case $rc in
	0)	how=ok ;;
	77)	how=skipped ;;
	*)	how="FAILED ($rc)" ;;
	esac
	printf '%-14s %4d s  cpu %4d s  %s\n' "$name" $((SECONDS - start)) \
	    $((c1 - c0)) "$how" >>"$L/times"
	echo "check: $name $((SECONDS - start)) s (cpu $((c1 - c0)) s), $how"
	return $rc
}

# The CCM-8 build of check-wolfssl: 77 when there is no source package.
wolfssl_build() {
	local rc
	sh tests/wolfssl/build.sh "$B/wolfssl"
	rc=$?
	[ $rc = 0 ] || return $rc
	$M -j"$JOBS" B="$B/ccm8" WOLFSSL="$B/wolfssl" "$B/ccm8/coapd" &&
	    cp "$B/ccm8/coapd" "$B/coapd-ccm8"
}

# Two chains side by side (the front's integration tests mostly wait,
# so there is CPU for both; one chain alone was the longest path of the
# whole run): the analyzers then the fuzz smoke; the wolfSSL build (which
# the CCM-8 tests of the front wait for) then the ASan build and its
# tests.
behind() {
	local rc=0 apid
	(
		stage analyze sh tests/lint/analyze.sh
		[ "$SANITIZE" = 1 ] || stage fuzz-smoke $M fuzz-smoke
	) &
	apid=$!
	stage wolfssl-build wolfssl_build
	echo $? >"$L/wolfssl.rc"
	if [ "$SANITIZE" != 1 ]; then
		stage asan-build $M -j"$JOBS" SANITIZE=1 B=build/asan \
		    build-tests &&
		    stage asan-unit $M -j2 -Otarget SANITIZE=1 B=build/asan \
		    unit-each fuzz-replay
	fi
	wait "$apid" || rc=1
	return $rc
}

# Ends the behind track (its own process group) if we are stopped.
BPID=""
trap '[ -n "$BPID" ] && kill -TERM -- -"$BPID" 2>/dev/null; exit 130' INT TERM

stage layers sh tests/lint/layers.sh || fails=1
if ! stage build $M -j"$JOBS" all build-tests; then
	echo "check: the build failed"
	exit 1
fi

setsid nice -n 10 bash -c "$(declare -f cpu_now stage wolfssl_build behind);
    M='$M' B='$B' L='$L' JOBS='$JOBS' SANITIZE='$SANITIZE'; behind" \
    >"$L/behind.log" 2>&1 &
BPID=$!

stage unit $M -j2 -Otarget unit-each || fails=1
stage conftest $M conftest || fails=1
stage fuzz-replay $M fuzz-replay || fails=1
stage integ env INTEG_JOBS=2 $M integ || fails=1

# Before the CCM-8 tests: the wolfSSL build behind has time to finish.
if [ "${CI:-}" = true ] || [ "${SOAK:-0}" = 1 ]; then
	stage soak $M soak SOAK_S="$SOAK_S" || fails=1
fi

# The DTLS tests again with coapd on the CCM-8 wolfSSL (issue 13): skipped
# (77) when the wolfssl source package cannot be fetched.
while [ ! -s "$L/wolfssl.rc" ] && kill -0 "$BPID" 2>/dev/null; do
	sleep 1
done
wrc=$(cat "$L/wolfssl.rc" 2>/dev/null || echo 1)
case $wrc in
0)	stage dtls-ccm8 env COAPD="$PWD/$B/coapd-ccm8" COAPD_EXPECT_CCM8=1 \
	    bash tests/integ/run.sh 81-dtls 82-dtls 83-dtls 84-dtls || fails=1 ;;
77)	echo "SKIP check-wolfssl: no wolfssl source package" ;;
*)	echo "check: the CCM-8 wolfSSL build failed (see below)"; fails=1 ;;
esac

wait "$BPID"
brc=$?
BPID=""
echo "check: --- behind track (nice 10), $B/check/behind.log ---"
cat "$L/behind.log"
[ $brc = 0 ] || fails=1
grep -q FAILED "$L/times" && fails=1

echo "check: --- stage times (behind-track stages overlap the others) ---"
cat "$L/times"
cpu_now c1
printf '%-14s %4d s  cpu %4d s  %s\n' total $((SECONDS - T0)) "$c1" \
    "$([ $fails = 0 ] && echo ok || echo FAILED)"
exit $fails
