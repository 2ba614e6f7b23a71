#!/bin/sh
# Documentation check: every key in the option tables of src/adapt/cfg*.c is
# documented in man/coapd.conf.5, in the section for its table, and nothing
# documented there is missing from the tables; the keys flagged OPT_RESTART
# are listed under RELOAD; and conf/coapd.conf shows every key.
#
# The man page documents a key as ".It Ic NAME" in these sections:
#   top_opts     GLOBAL SETTINGS      listen_opts  LISTENERS
#   log_opts     LOGGING              dtls_opts    DTLS
#   ctype_opts   CONTENT FORMATS      route_opts   ROUTES
#   hooks_opts   HOOKS                limits_opts  LIMITS
#   metrics_opts METRICS              coap_opts    COAP TRANSMISSION
# A new table needs a line in the map below.
#
# usage: tests/conf/doccheck.sh   (from anywhere)

cd "$(dirname "$0")/../.." || exit 2
src=$(ls src/adapt/cfg*.c | tr "\n" " ")
man=man/coapd.conf.5
demo=conf/coapd.conf
for f in $src $man $demo; do
	[ -f "$f" ] || { echo "doccheck: $f missing"; exit 1; }
done
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

# "SECTION<TAB>key" for every table entry, "RELOAD<TAB>key" for restart ones
awk '
BEGIN {
	map["top"] = "GLOBAL SETTINGS"; map["listen"] = "LISTENERS"
	map["log"] = "LOGGING"; map["dtls"] = "DTLS"
	map["ctype"] = "CONTENT FORMATS"; map["route"] = "ROUTES"
	map["hooks"] = "HOOKS"; map["limits"] = "LIMITS"
	map["metrics"] = "METRICS"; map["coap"] = "COAP TRANSMISSION"
}
/^static const struct opt [a-z_]+_opts\[\] = \{/ {
	t = $5; sub(/_opts\[\]$/, "", t)
	if (!(t in map)) {
		print "doccheck: table " t "_opts has no man page section" \
		    > "/dev/stderr"
		bad = 1
	}
	sect = map[t]; next
}
sect != "" && /^};/ { sect = ""; next }
sect != "" && match($0, /\.name = "[^"]+"/) {
	name = substr($0, RSTART + 9, RLENGTH - 10)
	print sect "\t" name
}
sect != "" && /OPT_RESTART/ { print "RELOAD\t" name }
END { exit bad }
' $src | sort -u >"$tmp/code" || exit 1

# the same pairs from the man page
awk '
/^\.Sh / { sect = substr($0, 5); gsub(/"/, "", sect); next }
/^\.It Ic [A-Za-z_]+/ { print sect "\t" $3 }
' $man | grep -E '^(GLOBAL SETTINGS|LISTENERS|LOGGING|DTLS|CONTENT FORMATS|ROUTES|HOOKS|LIMITS|METRICS|COAP TRANSMISSION|RELOAD)	' |
    sort -u >"$tmp/man"

rc=0
comm -23 "$tmp/code" "$tmp/man" | while IFS='	' read -r sect key; do
	echo "doccheck: $key: not documented in $man section $sect"
done | tee "$tmp/missing"
comm -13 "$tmp/code" "$tmp/man" | while IFS='	' read -r sect key; do
	echo "doccheck: $key: in $man section $sect but not in $src"
done | tee "$tmp/extra"
[ -s "$tmp/missing" ] && rc=1
[ -s "$tmp/extra" ] && rc=1

# the demo file shows each key as an assignment (commented out or not)
cut -f2 "$tmp/code" | sort -u | while read -r key; do
	grep -Eq "(^|[^A-Za-z0-9_.])${key}[[:space:]]*=" $demo ||
	    echo "doccheck: $key: not shown in $demo"
done | tee "$tmp/demo"
[ -s "$tmp/demo" ] && rc=1

[ $rc -eq 0 ] && echo "doccheck: $(wc -l <"$tmp/code") keys documented"
exit $rc
