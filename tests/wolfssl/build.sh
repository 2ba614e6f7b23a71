#!/bin/sh
# build.sh OUT_DIR - build Debian's own wolfssl source package with the
# options CoAP needs (RFC 7252 §9.1.3.1: TLS_PSK_WITH_AES_128_CCM_8, which
# needs WOLFSSL_STATIC_PSK) into OUT_DIR (a static library, headers and a
# .pc file).  Used by `make wolfssl`.
#
# The source comes from the Debian archive this machine already uses: a
# private deb-src list and a private package-list directory are handed to
# apt with -o options, so the system's apt configuration is not touched.
# Exit status 77 (skip) when the source package cannot be fetched.
set -eu

OUT=${1:?usage: build.sh OUT_DIR}
case $OUT in /*) ;; *) OUT=$(pwd)/$OUT ;; esac
WORK=$(dirname "$OUT")/wolfssl-src
STAMP=$OUT/.coapd-built

if [ -f "$STAMP" ] && [ -f "$OUT/lib/libwolfssl.a" ]; then
	echo "wolfssl: $OUT is up to date"
	exit 0
fi
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/parts"

# The archive mirror the system uses (deb822 .sources or one-line .list).
MIRROR=""
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
    /etc/apt/sources.list.d/*.list; do
	[ -r "$f" ] || continue
	MIRROR=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*debian\)\/\{0,1\}$/\1/p;
	    s/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\/debian\)\/\{0,1\}[[:space:]].*/\2/p' \
	    "$f" | grep -v -- '-security' | head -n 1)
	[ -n "$MIRROR" ] && break
done
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
SIGNED=""
[ -r "$KEYRING" ] && SIGNED=" [signed-by=$KEYRING]"
# The security suite carries the version Debian ships fixes in.
SECMIRROR=$(echo "$MIRROR" | sed 's,/debian$,/debian-security,')
cat >"$WORK/apt/sources.list" <<EOL
deb-src$SIGNED $MIRROR $CODENAME main
deb-src$SIGNED $MIRROR $CODENAME-updates main
deb-src$SIGNED $SECMIRROR $CODENAME-security main
EOL

APT="apt-get -q -o Dir::Etc::SourceList=$WORK/apt/sources.list
    -o Dir::Etc::SourceParts=$WORK/apt/parts
    -o Dir::State::Lists=$WORK/apt/lists
    -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
    -o APT::Sandbox::User=root"

echo "wolfssl: fetching the Debian source package from $MIRROR"
if ! $APT update >"$WORK/apt.log" 2>&1; then
	cat "$WORK/apt.log" >&2
	echo "wolfssl: cannot read the deb-src index of $MIRROR" >&2
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
