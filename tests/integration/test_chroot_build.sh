#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The deb and the rpm build in a Debian 12 chroot that has no /sys mounted,
# as a distribution's builder runs them: nothing in the build may read the
# build machine's kernel (its BTF above all). The root (debootstrap minbase
# plus the build dependencies) is cached under $CACHE_DIR, keyed by the
# package list below; the first run needs Debian's archive and about three
# minutes on 2 cores, later runs only the build.
# shellcheck disable=SC2016 # the single-quoted scripts expand their own arguments
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
SRC=${TEST_SRCDIR:-$(cd "$here/../.." && pwd)}
CACHE_DIR=/var/cache/tcpstates-agent-tests
SUITE=bookworm
BUILD_DEPS="build-essential cmake pkg-config clang llvm bpftool libelf-dev zlib1g-dev
libssl-dev libzstd-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libyaml-dev dpkg-dev
rpm file gzip ca-certificates"
# The bundled libraries' cache (cmake/Bundled.cmake) is the host's, mounted at
# the same path: the same compiler builds them there, so the chroot reuses the
# host's builds instead of spending minutes on its own.
DEPS_CACHE=/var/cache/tcpstates-agent-deps

if [ "$(id -u)" -ne 0 ]; then
	echo "test_chroot_build: needs root for debootstrap and chroot; skipped"
	exit 0
fi
key=$(echo "$SUITE $BUILD_DEPS" | sha256sum | cut -c1-12)
ROOT=$CACHE_DIR/$SUITE-build-$key
LOGS=$(mktemp -d /tmp/test_chroot_build.XXXXXX)
cleanup() {
	rm -rf "$ROOT/tmp/src" "$LOGS"
}
trap cleanup EXIT

# A root is complete once its marker exists: an interrupted run starts over.
make_root() {
	local mirror deps=${BUILD_DEPS//$'\n'/ }
	mirror=$(sh "$SRC/cmake/debian-archive.sh") || return 1
	rm -rf "$ROOT" && mkdir -p "$CACHE_DIR" || return 1
	echo "debootstrap $SUITE into $ROOT"
	timeout 900 debootstrap --variant=minbase "$SUITE" "$ROOT" "$mirror" \
		>"$LOGS/debootstrap.log" 2>&1 || { tail -20 "$LOGS/debootstrap.log"; return 1; }
	cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
	chroot "$ROOT" bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $deps && apt-get clean" \
		>"$LOGS/apt.log" 2>&1 || { tail -20 "$LOGS/apt.log"; return 1; }
	touch "$ROOT/.tcpstates-build-root"
}

if [ ! -f "$ROOT/.tcpstates-build-root" ]; then
	make_root || {
		fail "a $SUITE build root (debootstrap, apt) could be made"
		finish test_chroot_build
		exit 1
	}
fi
check "the chroot has nothing mounted on /sys" bash -c '! mountpoint -q "$1/sys"' _ "$ROOT"
check "the chroot has no /sys/kernel/btf" test ! -e "$ROOT/sys/kernel/btf"

# The working tree, as it is, without the build trees or git metadata.
mkdir -p "$ROOT/tmp/src"
tar -C "$SRC" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$ROOT/tmp/src" -xf -

start=$(date +%s)
# /proc only: cmake and the compilers want it; /sys, /dev and /run stay out.
mkdir -p "$DEPS_CACHE" "$ROOT$DEPS_CACHE"
unshare -m --propagation private bash -c 'mount --bind "$1" "$2" && exec chroot "$3" bash -c "$4"' _ \
	"$DEPS_CACHE" "$ROOT$DEPS_CACHE" "$ROOT" '
	mount -t proc proc /proc || exit 1
	cd /tmp/src &&
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF &&
	cmake --build build -j2 && cmake --build build --target package' >"$LOGS/build.log" 2>&1
rc=$?
echo "configure, build and package in the chroot took $(($(date +%s) - start)) s"
check "configure, build and cpack in the chroot succeeded" test "$rc" -eq 0
[ "$rc" -eq 0 ] || tail -30 "$LOGS/build.log"
deb=$(find "$ROOT/tmp/src/build" -maxdepth 1 -name "tcpstates-agent_*_amd64.deb" | head -n1)
rpm=$(find "$ROOT/tmp/src/build" -maxdepth 1 -name "tcpstates-agent-*.x86_64.rpm" | head -n1)
check "the deb was built" test -s "$deb"
check "the rpm was built" test -s "$rpm"
if [ -s "$deb" ]; then
	check "the deb's agent runs" bash -c 'dpkg-deb -x "$1" "$2/x" && "$2/x/usr/sbin/tcpstates-agent" --version' \
		_ "$deb" "$LOGS"
fi
finish test_chroot_build
