#!/bin/sh
# make lint: the structure rules of shared/style.md, checked by grep.
#  1. a file under src/LAYER includes project headers from its own layer or
#     below only (base < proto < adapt < serve < daemon), always written
#     with the layer folder ("proto/coap_msg.h");
#  2. each outside library is included by its one owner, and a module's
#     private header (NAME_int.h) by that module's files only (NAME.c,
#     NAME_*.c in the same folder);
#  3. no source file over 800 lines and no function over 80 lines
#     (LINT_SIZES=0 skips this part).
# Prints every violation, then "lint: ... OK" or exits 1.
cd "$(dirname "$0")/../.." || exit 2
bad=0
rank() {
	case $1 in
	base) echo 0 ;; proto) echo 1 ;; adapt) echo 2 ;; serve) echo 3 ;;
	daemon) echo 4 ;; *) echo 9 ;;
	esac
}

for f in src/*/*.[ch]; do
	case ${f#src/} in
	base/*|proto/*|adapt/*|serve/*|daemon/*) ;;
	*) echo "$f: not in a layer folder (base proto adapt serve daemon)"
	   bad=1 ;;
	esac
done
out=$(awk '
BEGIN { r["base"] = 0; r["proto"] = 1; r["adapt"] = 2; r["serve"] = 3
	r["daemon"] = 4 }
FNR == 1 { split(FILENAME, p, "/"); me = p[2] }
/^#include "/ {
	inc = $2; gsub(/"/, "", inc)
	n = split(inc, q, "/")
	if (n < 2 || !(q[1] in r))
		printf "%s:%d: \"%s\": include with its layer folder\n", \
		    FILENAME, FNR, inc
	else if (r[q[1]] > r[me])
		printf "%s:%d: %s includes \"%s\" from a layer above\n", \
		    FILENAME, FNR, me, inc
	if (n == 2 && q[2] ~ /_int\.h$/) {
		stem = q[2]; sub(/_int\.h$/, "", stem)
		split(FILENAME, p, "/")
		if (q[1] != me || p[3] !~ ("^" stem "(_[a-z0-9_]+)?\\.[ch]$"))
			printf "%s:%d: \"%s\" is private to src/%s/%s*.c\n", \
			    FILENAME, FNR, inc, q[1], stem
	}
}' src/*/*.[ch])
[ -n "$out" ] && { echo "$out"; bad=1; }

owner() {	# owner PATTERN FILE...
	pat=$1; shift
	for f in $(grep -l "#include <$pat" src/*/*.[ch]); do
		ok=0
		for o in "$@"; do [ "$f" = "$o" ] && ok=1; done
		[ $ok = 1 ] || { echo "$f: includes <$pat...>, owned by $*"; bad=1; }
	done
}
owner liburing.h src/adapt/uring.c
owner libconfig.h src/adapt/cfg_load.c
# dtls_hello.c and dtls_sess.c reach wolfSSL through dtls.c (dtls_int.h)
owner wolfssl/ src/adapt/dtls.c
owner systemd/ src/adapt/sd.c src/adapt/log.c

if [ "${LINT_SIZES:-1}" != 0 ]; then
	for f in src/*/*.[ch]; do
		n=$(wc -l <"$f")
		[ "$n" -gt 800 ] && { echo "$f: $n lines (limit 800)"; bad=1; }
	done
	# A function body: a line starting with "{" after a definition, to
	# the next line that is exactly "}" (OpenBSD style, checked by
	# the same rule).
	out=$(awk '
	FNR == 1 { start = 0 }
	/^\{/ { start = FNR; name = prev; next }
	/^\}/ && start {
		len = FNR - start - 1
		if (len > 80)
			printf "%s:%d: %s: %d lines (limit 80)\n", \
			    FILENAME, start, name, len
		start = 0
	}
	{ if ($0 !~ /^[ \t]/ && $0 != "") prev = $0 }
	' src/*/*.c)
	[ -n "$out" ] && { echo "$out"; bad=1; }
fi

[ $bad = 0 ] || { echo "lint: FAILED"; exit 1; }
echo "lint: layers, library owners and sizes OK"
