#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The BPF programs build on a machine without /sys/kernel/btf (a
# distribution's build chroot, a container on a kernel without BTF): the
# build compiles against bpf/vmlinux/<arch>/vmlinux.h and never reads the
# build machine's BTF. Configures a fresh build tree and builds the agent,
# which embeds both skeletons, in a mount namespace whose /sys is an empty
# tmpfs. Needs root (unshare -m).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
SRC=${TEST_SRCDIR:-$(cd "$here/../.." && pwd)}

if [ "$(id -u)" -ne 0 ]; then
	echo "test_hermetic_build: needs root for a mount namespace; skipped"
	exit 0
fi
WORK=$(mktemp -d /var/tmp/tcpstates-hermetic.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Inside: /sys replaced by an empty tmpfs, then configure and build.
# Writes what it saw to $WORK/seen so that the checks run outside.
inside() {
	mount -t tmpfs -o ro,nosuid,nodev,noexec none /sys || exit 1
	if [ -r /sys/kernel/btf/vmlinux ]; then echo btf-readable; else echo no-btf; fi >"$WORK/seen"
	cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
		>"$WORK/configure.log" 2>&1 || exit 2
	cmake --build "$WORK/build" -j2 --target tcpstates-agent >"$WORK/build.log" 2>&1 || exit 3
	# the override must still work, and name a missing file clearly
	cmake -S "$SRC" -B "$WORK/build-override" -DBUILD_TESTING=OFF \
		-DTCPSTATES_VMLINUX_H="$WORK/missing/vmlinux.h" >"$WORK/override.log" 2>&1 && exit 4
	exit 0
}
export -f inside
export SRC WORK

start=$(date +%s)
unshare -m --propagation private bash -c inside
rc=$?
echo "hermetic configure and build took $(($(date +%s) - start)) s"
check "the namespace hid the build machine's BTF" grep -qx no-btf "$WORK/seen"
check "configure without /sys worked (rc $rc)" test "$rc" -ne 2
check "build without /sys worked (rc $rc)" test "$rc" -ne 3
[ "$rc" -eq 3 ] && tail -30 "$WORK/build.log"
check "a missing TCPSTATES_VMLINUX_H fails the configure" test "$rc" -ne 4
check "the failure names the missing header" \
	grep -q "No vmlinux.h at $WORK/missing/vmlinux.h" "$WORK/override.log"
for skel in tcpstates/tcpstates.skel.h tcpstates_probe/tcpstates_probe.skel.h; do
	check "skeleton $skel was generated" test -s "$WORK/build/bpf/$skel"
done
check "the agent was linked" test -x "$WORK/build/agent/tcpstates-agent"
check "the build used the committed vmlinux.h" \
	cmp -s "$SRC/bpf/vmlinux/$(uname -m | sed "s/x86_64/x86/;s/aarch64/arm64/")/vmlinux.h" \
	"$WORK/build/vmlinux/vmlinux.h"
finish test_hermetic_build
