#!/bin/sh
# make lint, part 2: static analysis of src/ with cppcheck and clang-tidy
# (both from Debian).  Prints every finding and exits 1 if there is one.
#
# cppcheck: --enable=warning,portability,performance (not style: it argues
# with the OpenBSD idioms of shared/style.md).
#
# clang-tidy, a short list, each for a defect class this code can have:
#   clang-analyzer-core.*          null dereference, garbage values,
#                                  division by zero, bad shifts
#   clang-analyzer-deadcode.*      stores never read (often a lost result)
#   clang-analyzer-unix.API,       open(2) flags, malloc(0), strlen(NULL)
#   clang-analyzer-unix.cstring.*
#   clang-analyzer-optin.portability.UnixAPI
#   bugprone-integer-division, -misplaced-widening-cast,
#   -too-small-loop-variable, -signed-char-misuse, -suspicious-memset-usage,
#   -suspicious-string-compare, -infinite-loop, -bool-pointer-implicit-
#   conversion, misc-redundant-expression: arithmetic and comparison slips
# Left out on purpose: clang-analyzer-unix.Malloc (false "use after free"
# on `while (head) free_one(head)` loops whose callee unlinks; lifetimes are
# ASan's and LeakSanitizer's job in check-asan and the fuzzers),
# security.insecureAPI.* (vfork in spawn.c is deliberate; memcpy is not
# "unsafe"), bugprone-macro-parentheses (SipHash rounds take lvalues),
# bugprone-sizeof-expression (flags every sizeof(*pp)).
# ANALYZE=0 skips this part (e.g. without the tools).
cd "$(dirname "$0")/../.." || exit 2
[ "${ANALYZE:-1}" = 0 ] && { echo "analyze: skipped (ANALYZE=0)"; exit 0; }
for t in cppcheck clang-tidy; do
	command -v $t >/dev/null 2>&1 || {
		echo "analyze: $t missing (make deps installs it)"; exit 1; }
done
bad=0
defs='-D_GNU_SOURCE -DCOAPD_VERSION="x" -DCOAPD_SYSCONFDIR="/etc" -Isrc'
out=$(cppcheck -q --std=c11 --enable=warning,portability,performance \
    --inline-suppr --error-exitcode=1 -D_GNU_SOURCE -Isrc src 2>&1) ||
	bad=1
[ -n "$out" ] && { echo "$out"; bad=1; }

checks='-*,clang-analyzer-core.*,clang-analyzer-deadcode.*'
checks="$checks,clang-analyzer-unix.API,clang-analyzer-unix.cstring.*"
checks="$checks,clang-analyzer-optin.portability.UnixAPI"
checks="$checks,bugprone-integer-division,bugprone-misplaced-widening-cast"
checks="$checks,bugprone-too-small-loop-variable,bugprone-signed-char-misuse"
checks="$checks,bugprone-suspicious-memset-usage"
checks="$checks,bugprone-suspicious-string-compare,bugprone-infinite-loop"
checks="$checks,bugprone-bool-pointer-implicit-conversion"
checks="$checks,misc-redundant-expression"
defs="$defs $(pkg-config --cflags liburing libconfig libsystemd wolfssl \
    2>/dev/null)"
export checks defs
# Files first, then "--" and the compiler flags (no compile_commands.json).
# shellcheck disable=SC2016
out=$(ls src/*/*.c | xargs -P "${LINT_JOBS:-2}" -n 4 sh -c \
    'clang-tidy -quiet --checks="$checks" "$@" -- $defs 2>/dev/null' sh)
if echo "$out" | grep -q 'warning:\|error:'; then
	echo "$out"
	bad=1
fi
[ $bad = 0 ] && echo "analyze: cppcheck and clang-tidy OK" ||
	echo "analyze: FAILED"
exit $bad
