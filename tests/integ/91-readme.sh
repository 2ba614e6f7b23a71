#!/bin/bash
# The README's shell examples, run exactly as written, so that the README
# cannot drift from what coapd does.
#
# Convention (README, "Tests"): a block fenced with ```sh holds commands,
# one per line (a line ending in '\' continues on the next), run in order,
# all blocks in one shell, from a scratch copy of the repository.  Each
# must exit 0.  A block fenced with ```output right after one lists lines
# that must each occur in what that block printed (stdout and stderr), as
# a line or part of one; a line listed k times must occur on k lines.
# A block with a CoAP client must have one (the clients exit 0 on 4.04).
# Special cases, by command:
#   make run        long-running: started in the background, awaited until
#                   coapd answers on 127.0.0.1:5683, stopped by its process
#                   group at the end
#   CMD &           a background job: stopped by its PID at the end
#   make check      not run: it is what runs this test
#   make wolfssl    run only when build/wolfssl is already built (its
#                   source comes from the network; check-wolfssl's job):
#                   otherwise the block is skipped and said so
#
# The examples use the demo's fixed ports on "::", so the whole test runs
# in a network namespace of its own (only its loopback): nothing else on
# the machine is reachable or disturbed.
source "$(dirname "$0")/lib.sh"
need_cmd unshare ip tar xxd coap-client-openssl coap-client-gnutls openssl

if [ -z "${README_NETNS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || unshare -rn true 2>/dev/null ||
	    skip "no network namespace (needs root or user namespaces)"
	# the child runs the checks; this shell only waits for it
	README_NETNS=1 timeout 110 unshare -n $([ "$(id -u)" -eq 0 ] ||
	    echo -r) bash "$0"
	exit $?
fi
ip link set lo up || fail "cannot bring up lo in the namespace"
# The blocks run as a user's shell would: not with the variables of the
# make that runs this test (GNU make exports its command-line ones, such as
# B=build, and an assignment here would then reach the blocks' make).
unset B MAKEFLAGS MFLAGS MAKELEVEL

# --- the scratch copy ----------------------------------------------------------
W=$T/tree
mkdir -p "$W"
# (a git checkout: its files; else, e.g. from a tarball, all but build/)
if git -C "$TOP" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$TOP" && git ls-files -z --cached --others --exclude-standard |
	    tar --null -T - --ignore-failed-read -cf - 2>/dev/null)
else
	tar -C "$TOP" --exclude=./build -cf - .
fi | tar -xf - -C "$W" || fail "cannot copy the repository"
# tracked files as in the worktree now, objects as built: make relinks
# nothing (the copy keeps mtimes); build/wolfssl is shared, read-only use
mkdir -p "$W/build"
for f in "$TOP"/build/*; do
	case ${f##*/} in
	wolfssl) ln -s "$f" "$W/build/wolfssl" ;;
	wolfssl-src|ccm8|corpus-*) ;;
	*) [ -f "$f" ] && cp -p "$f" "$W/build/" ;;
	esac
done

# --- the blocks ----------------------------------------------------------------
# blocks/N.sh and blocks/N.out (expected lines) for every ```sh block
BLK=$T/blocks
mkdir -p "$BLK"
awk -v dir="$BLK" '
/^```sh[[:space:]]*$/ { n++; f = dir "/" n ".sh"; printf "" > f; inb = 1; last = "sh"; next }
/^```output[[:space:]]*$/ {
	if (last != "sh") { print "README: ```output not after a ```sh block" > "/dev/stderr"; exit 1 }
	f = dir "/" n ".out"; printf "" > f; inb = 1; next }
/^```/ && inb { inb = 0; close(f); next }
/^```/ { last = ""; next }
inb { print >> f; next }
/[^[:space:]]/ && !inb { last = "" }
' "$TOP/README" || fail "README: malformed blocks"
nblocks=$(ls "$BLK"/*.sh 2>/dev/null | wc -l)
[ "$nblocks" -ge 5 ] || fail "README: only $nblocks \`\`\`sh blocks found"
_ok "README has $nblocks shell blocks"

BG_PIDS=()
RUN_PGID=""
stop_all() {
	local p
	for p in "${BG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
		_kill_wait "$p" 5 || kill -KILL "$p" 2>/dev/null
	done
	if [ -n "$RUN_PGID" ]; then
		kill -TERM -- "-$RUN_PGID" 2>/dev/null
		_kill_wait "$RUN_PGID" 5 || kill -KILL -- "-$RUN_PGID" 2>/dev/null
	fi
	BG_PIDS=()
	RUN_PGID=""
}
trap 'r=$?; stop_all; (exit $r); _cleanup' EXIT

# run_cmd CMD OUTFILE: one command as written
run_cmd() {
	local cmd=$1 out=$2 rc
	case $cmd in
	"make check"*)
		_ok "not run (it runs this test): $cmd"
		return 0 ;;
	"make run"*)
		setsid bash -c "$cmd" >"$T/make-run.log" 2>&1 </dev/null &
		RUN_PGID=$!
		if ! python3 "$INTEG_DIR/coap.py" wait 127.0.0.1 5683 "$RUN_PGID" 60; then
			cat "$T/make-run.log"
			fail "$cmd: coapd does not answer on 127.0.0.1:5683"
		fi
		_ok "$cmd: coapd answers"
		return 0 ;;
	*"&")
		eval "$cmd" >>"$out" 2>&1 </dev/null
		BG_PIDS+=("$!")
		sleep 0.5	# a server's socket bound before the next line
		alive "$!" || _nok "$cmd: exited at once"
		return 0 ;;
	esac
	timeout 60 bash -c "$cmd" >>"$out" 2>&1 </dev/null
	rc=$?
	[ $rc -eq 0 ] && _ok "exit 0: $cmd" || _nok "$cmd: exit $rc"
}

cd "$W" || fail "no scratch tree"
for ((i = 1; i <= nblocks; i++)); do
	f=$BLK/$i.sh
	out=$T/out.$i
	: >"$out"
	if grep -Eq '^make wolfssl' "$f" && { [ ! -f "$TOP/build/wolfssl/.coapd-built" ] ||
	    [ ! -f "$TOP/build/wolfssl/lib/libwolfssl.a" ]; }; then
		echo "# block $i skipped: build/wolfssl is not built (make check-wolfssl builds it)"
		continue
	fi
	if grep -q 'coap-client' "$f" && [ ! -f "$BLK/$i.out" ]; then
		_nok "block $i runs a CoAP client but has no \`\`\`output block"
	fi
	cmd=""
	while IFS= read -r line || [ -n "$line" ]; do
		if [[ $line == *\\ ]]; then
			cmd+="${line%\\}"
			continue
		fi
		cmd+=$line
		case $cmd in
		""|\#*) ;;
		*) run_cmd "$cmd" "$out" ;;
		esac
		cmd=""
	done <"$f"
	# a line given k times must occur on k lines of the output
	if [ -f "$BLK/$i.out" ]; then
		grep -v '^$' "$BLK/$i.out" | sort | uniq -c |
		while read -r k want; do
			n=$(grep -cF -- "$want" "$out")
			if [ "$n" -ge "$k" ]; then
				_ok "block $i printed ($n x): $want"
			else
				_nok "block $i printed $n times, not $k: $want"
				sed 's/^/	| /' "$out"
			fi
		done >"$T/checks.$i"
		cat "$T/checks.$i"
		FAILURES=$((FAILURES + $(grep -c '^not ok' "$T/checks.$i")))
	fi
done
stop_all
if [ "$FAILURES" -gt 0 ]; then
	echo "# $FAILURES check(s) failed"
	[ -f "$T/make-run.log" ] && tail -n 20 "$T/make-run.log"
	exit 1
fi
exit 0
