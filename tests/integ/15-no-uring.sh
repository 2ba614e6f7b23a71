#!/bin/bash
# 15-no-uring: when io_uring cannot be set up (a seccomp filter refuses it,
# as Docker's default profile does), coapd exits 1 at start with a message
# that names the cause and the fix, instead of running without workers.
. "$(dirname "$0")/lib.sh"

need_cmd cc
PORT=$(free_port)
export PORT
make_www
cd "$T" || fail "cd $T"
std_conf c.conf
cc -o "$T/no_uring" "$INTEG_DIR/no_uring.c" || fail "cannot build no_uring"

for e in 1 38; do	# EPERM, ENOSYS
	timeout 10 "$T/no_uring" $e "$COAPD" -c c.conf >"$T/out" 2>"$T/err"
	rc=$?
	assert_eq "$rc" 1 "errno $e: exit status 1"
	assert_contains "$(cat "$T/err")" "seccomp" \
	    "errno $e: the message names seccomp"
	assert_contains "$(cat "$T/err")" "io_uring" \
	    "errno $e: the message names io_uring"
done
finish
