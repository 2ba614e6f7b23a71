#!/bin/sh
# Every configuration example of man/coapd.conf.5 passes `coapd -t` as
# written.  An example is a literal display (.Bd -literal ... .Ed) whose
# first line is an assignment ("routes = ...").  What the examples name is
# made for them in a private mount namespace, so that nothing outside this
# test changes:
#   static = "ABS"    a directory (tmpfs over its deepest existing parent)
#   hook = [ "ABS"    the script of the next display when it starts with
#                     "#!" (the HOOK CONTRACT example), mode 0755
#   psk_file = "REL"  tests/conf/test.psk beside the example, mode 0600
#   group = "G"       added to a private copy of /etc/group if missing
# Needs root (mount namespaces); prints "skip" and exits 0 without.
#
# usage: tests/conf/manexamples.sh COAPD_BINARY   (from the repository root)

bin=${1:?usage: manexamples.sh COAPD_BINARY}
man=man/coapd.conf.5
if [ -z "${MANEX_NS:-}" ]; then
	if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
		echo "manexamples: skip (needs root and mount namespaces)"
		exit 0
	fi
	MANEX_NS=1 exec unshare -m --propagation private sh "$0" "$@"
fi

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

# ex.N for each example, and script.N when the display after it is a script
awk -v dir="$tmp" '
/^\.Bd -literal/ { inb = 1; first = 1; n++; next }
/^\.Ed/ && inb { inb = 0; if (f != "") close(f); f = ""; next }
inb && first {
	first = 0
	if ($0 ~ /^[a-z_]+[ \t]*=/) { f = dir "/ex." n; last = n }
	else if ($0 ~ /^#!/ && last == n - 1) f = dir "/script." last
	else f = ""
}
inb && f != "" { print > f }
' "$man" || exit 2
nex=$(ls "$tmp"/ex.* 2>/dev/null | wc -l)
if [ "$nex" -lt 2 ]; then
	echo "manexamples: only $nex configuration examples found in $man"
	exit 1
fi

# tmpfs over the deepest existing directory above path $1 (once)
cover() {
	up=$(dirname "$1")
	while [ ! -d "$up" ]; do up=$(dirname "$up"); done
	case $up in
	/|/usr|/etc|/bin|/sbin|/lib|/lib64|/proc|/sys|/dev|/run|/var)
		echo "manexamples: will not cover $up for $1"; return 1 ;;
	esac
	grep -qx "$up" "$tmp/covered" 2>/dev/null && return 0
	mount -t tmpfs coapd-manex "$up" || return 1
	echo "$up" >>"$tmp/covered"
}

# the quoted values of key $2 in example file $1 (hook: the first element)
values() {
	sed -n "s/.*[{;[:space:]]$2[[:space:]]*=[[:space:][]*\"\\([^\"]*\\)\".*/\\1/p;
	    s/^$2[[:space:]]*=[[:space:][]*\"\\([^\"]*\\)\".*/\\1/p" "$1" |
	    sort -u
}

cp /etc/group "$tmp/group"
mount --bind "$tmp/group" /etc/group || exit 2
rc=0
for ex in "$tmp"/ex.*; do
	n=${ex##*.}
	d=$tmp/d.$n
	mkdir -p "$d"
	cp "$ex" "$d/coapd.conf"
	for p in $(values "$ex" static); do
		case $p in /*) cover "$p" && mkdir -p "$p" ;; *) mkdir -p "$d/$p" ;; esac
	done
	for p in $(values "$ex" hook); do
		case $p in /*) cover "$p" ;; *) p=$d/$p ;; esac
		mkdir -p "$(dirname "$p")"
		if [ -f "$tmp/script.$n" ]; then
			cp "$tmp/script.$n" "$p"
		else
			printf '#!/bin/sh\nexit 0\n' >"$p"
		fi
		chmod 0755 "$p"
	done
	for p in $(values "$ex" psk_file); do
		case $p in /*) cover "$p" ;; *) p=$d/$p ;; esac
		mkdir -p "$(dirname "$p")"
		cp tests/conf/test.psk "$p"
		chmod 0600 "$p"
	done
	for g in $(values "$ex" group); do
		getent group "$g" >/dev/null || echo "$g:x:64999:" >>/etc/group
	done
	out=$("$bin" -t -c "$d/coapd.conf" 2>&1)
	if [ "$out" = "$d/coapd.conf: configuration OK" ]; then
		echo "manexamples: ok   example $n (line $(grep -n '' "$man" |
		    grep -F -m1 "$(head -n 1 "$ex")" | cut -d: -f1))"
	else
		echo "manexamples: FAIL example $n:"
		sed 's/^/	/' "$ex"
		echo "$out" | sed 's/^/	> /'
		rc=1
	fi
done
exit $rc
