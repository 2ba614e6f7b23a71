#!/bin/bash
# run.sh - run the integration tests: every tests/integ/NN-*.sh in order,
# each bounded to 120 s.  `run.sh 10 30` runs only the tests whose names
# start with those prefixes.  Prints PASS/FAIL/SKIP per test (and the tail of
# a failed test's output), then one summary line; exits 1 if any failed.

set -u

dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
limit=${INTEG_TIMEOUT:-120}
out=$(mktemp -d "${TMPDIR:-/tmp}/coapd-integ-run.XXXXXX") || exit 1
trap 'rm -rf "$out"' EXIT

pass=0
failed=0
skipped=0

selected() {
	local name=$1 p
	[ ${#ARGS[@]} -eq 0 ] && return 0
	for p in "${ARGS[@]}"; do
		[[ $name == "$p"* ]] && return 0
	done
	return 1
}

ARGS=("$@")
for t in "$dir"/[0-9][0-9]-*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	selected "$name" || continue
	start=$SECONDS
	timeout -k 10 "$limit" bash "$t" >"$out/$name.out" 2>&1
	rc=$?
	secs=$((SECONDS - start))
	case $rc in
	0)
		echo "PASS $name (${secs}s)"
		pass=$((pass + 1))
		;;
	77)
		echo "SKIP $name: $(grep -m1 '^SKIP' "$out/$name.out")"
		skipped=$((skipped + 1))
		;;
	*)
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "FAIL $name (timed out after ${limit}s)"
		else
			echo "FAIL $name (exit $rc, ${secs}s)"
		fi
		# The failed checks first, then the end of the output.
		grep -E '^(not ok|FAIL)' "$out/$name.out" | head -n 40 |
		    sed 's/^/    /'
		echo "    --- last lines of $name output ---"
		tail -n 15 "$out/$name.out" | sed 's/^/    /'
		failed=$((failed + 1))
		;;
	esac
done

echo "integ: $pass passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
