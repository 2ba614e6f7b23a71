#!/bin/bash
# tests/wolfssl/build.sh takes its sources only from the apt sources this
# machine is configured with: with none configured (a private mount
# namespace hides them) it skips with 77 before any network access, and
# the script names no archive host of its own.
source "$(dirname "$0")/lib.sh"
need_cmd unshare mount
[ "$(id -u)" -eq 0 ] || skip "needs root for a mount namespace"
unshare -m true 2>/dev/null || skip "no mount namespaces"

script=$TOP/tests/wolfssl/build.sh
assert_eq "$(grep -Ec 'https?://|deb\.debian|ftp\.' "$script")" 0 \
    "build.sh names no archive host"

# /etc/apt/sources.list.d empty and sources.list absent, in the namespace
unshare -m --propagation private sh -c '
	mount -t tmpfs coapd-nosrc /etc/apt/sources.list.d || exit 90
	if [ -e /etc/apt/sources.list ]; then
		mount --bind /dev/null /etc/apt/sources.list || exit 90
	fi
	exec sh "$1" "$2"' sh "$script" "$T/out" >"$T/out.log" 2>&1
rc=$?
assert_eq "$rc" 77 "no apt source configured: exit 77 (skip)"
assert_contains "$(cat "$T/out.log")" "no apt sources configured" \
    "it says why"
assert_true "nothing was fetched" test ! -d "$T/wolfssl-src/src"
finish
