#!/bin/sh
# Install the Debian packages coapd needs to build and test, only when one is
# missing.  Runs non-interactively (CI has no terminal).
set -e
PKGS="build-essential pkg-config liburing-dev libconfig-dev libwolfssl-dev
libsystemd-dev check libcoap3-bin openssl iproute2 procps
autoconf automake clang libclang-rt-14-dev cppcheck clang-tidy gnuplot-nox
libtool dpkg-dev xxd systemd"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $missing
