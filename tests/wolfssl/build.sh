#!/bin/sh
# build.sh OUT_DIR - build Debian's own wolfssl source package with the
# options CoAP needs (RFC 7252 §9.1.3.1: TLS_PSK_WITH_AES_128_CCM_8, which
# needs WOLFSSL_STATIC_PSK) into OUT_DIR (a static library, headers and a
# .pc file).  Used by `make wolfssl`.
#
# The source comes only from the apt sources this machine is configured
# with (`apt-get source`): a private deb-src copy of them and a private
# package-list directory are handed to apt with -o options, so the
# system's apt configuration is not touched.  Exit status 77 (skip) when
# no source is configured or the source package cannot be fetched.
set -eu

OUT=${1:?usage: build.sh OUT_DIR}
case $OUT in /*) ;; *) OUT=$(pwd)/$OUT ;; esac
WORK=$(dirname "$OUT")/wolfssl-src
STAMP=$OUT/.coapd-built

# One build at a time into OUT: make check builds it in the background
# while 91-readme may run the README's `make wolfssl` through a symlink to
# the same directory; the second waits and then finds it up to date.
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

if [ -f "$STAMP" ] && [ -f "$OUT/lib/libwolfssl.a" ]; then
	echo "wolfssl: $OUT is up to date"
	exit 0
fi
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/parts"

# The sources are the ones apt is configured with on this machine, as
# source (deb-src) entries: every deb822 stanza of sources.list.d/*.sources
# and every one-line "deb"/"deb-src" entry of sources.list and
# sources.list.d/*.list, with the same URIs, suites, components and keys.
# No archive is named here: without configured sources, the build is
# skipped.
: >"$WORK/apt/sources.list"
rm -f "$WORK"/apt/parts/*.sources
n=0
for f in /etc/apt/sources.list.d/*.sources; do
	[ -r "$f" ] || continue
	n=$((n + 1))
	sed 's/^Types:.*/Types: deb-src/' "$f" >"$WORK/apt/parts/$n.sources"
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
	[ -r "$f" ] || continue
	sed -n 's/^[[:space:]]*deb\(-src\)\{0,1\}[[:space:]]\{1,\}/deb-src /p' "$f" \
	    >>"$WORK/apt/sources.list"
done
if [ $n -eq 0 ] && [ ! -s "$WORK/apt/sources.list" ]; then
	echo "wolfssl: no apt sources configured on this machine" >&2
	exit 77
fi

APT="apt-get -q -o Dir::Etc::SourceList=$WORK/apt/sources.list
    -o Dir::Etc::SourceParts=$WORK/apt/parts
    -o Dir::State::Lists=$WORK/apt/lists
    -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
    -o APT::Sandbox::User=root"

echo "wolfssl: fetching the source package from the configured apt sources"
if ! $APT update >"$WORK/apt.log" 2>&1; then
	cat "$WORK/apt.log" >&2
	echo "wolfssl: cannot read the deb-src indexes of the configured" \
	    "apt sources" >&2
	exit 77
fi
rm -rf "$WORK/src"
mkdir -p "$WORK/src"
if ! (cd "$WORK/src" && $APT source wolfssl) >>"$WORK/apt.log" 2>&1; then
	cat "$WORK/apt.log" >&2
	echo "wolfssl: apt-get source wolfssl failed" >&2
	exit 77
fi
SRC=$(find "$WORK/src" -mindepth 1 -maxdepth 1 -type d -name 'wolfssl-*' |
    head -n 1)
[ -n "$SRC" ] || { echo "wolfssl: no source tree unpacked" >&2; exit 77; }
echo "wolfssl: building $(basename "$SRC") into $OUT"
cd "$SRC"
# The release tarball has no configure script: Debian runs autoreconf too.
if [ ! -x configure ] || [ ! -f Makefile.in ]; then
	if ! autoreconf -fi >>"$WORK/build.log" 2>&1; then
		tail -n 20 "$WORK/build.log" >&2
		echo "wolfssl: autoreconf failed (autoconf, automake and" \
		    "libtool are needed)" >&2
		exit 1
	fi
fi
if ! ./configure --enable-dtls --enable-psk --enable-aesccm \
    CPPFLAGS=-DWOLFSSL_STATIC_PSK --disable-examples --disable-crypttests \
    --disable-benchmark --enable-static --disable-shared \
    --prefix="$OUT" >>"$WORK/build.log" 2>&1 ||
    ! make -j"$(nproc)" >>"$WORK/build.log" 2>&1 ||
    ! make install >>"$WORK/build.log" 2>&1; then
	tail -n 40 "$WORK/build.log" >&2
	echo "wolfssl: build failed, full log in $WORK/build.log" >&2
	exit 1
fi
date >"$STAMP"
echo "wolfssl: installed into $OUT"
