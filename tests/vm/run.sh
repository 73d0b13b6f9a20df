#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The VM test: the packaged service under systemd on one (root, kernel) pair.
#
#   tests/vm/run.sh [-p PAIR] [BUILD_DIR]   (default: bookworm-6.1, ./build;
#                                            as root, or through sudo, which
#                                            it calls itself)
#
# PAIR is a line of ./matrix: a Debian root and a Debian kernel, e.g.
# bookworm-5.10 (Debian 12 with Debian 11's 5.10 kernel). Boots the pair's
# image (build-image.sh, cached) under qemu, without network, installs the
# .deb built from BUILD_DIR and one built from the same tree with a lower
# version, and runs guest.sh inside as a systemd unit, telling it which
# program variant the BPF probe must choose on that kernel. guest.sh reports one line per check on
# the second serial port ("VMTEST: ok NAME" or "VMTEST: FAIL NAME: WHY"),
# then "VMTEST: done N passed, N failed". This script prints those lines and
# fails unless every check passed.
#
# Environment: VM_CPUS (2), VM_MEMORY_MB (1536), VM_TIMEOUT_S (1500),
# TCPSTATES_VM_CACHE (/var/cache/tcpstates-agent-vm), VM_KEEP=1 keeps the
# work directory (console log, journal, results) for a look afterwards.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
# shellcheck source=../as-root.sh
. "$here/../as-root.sh"
as_root "building the root image needs root (debootstrap, mkfs.ext4 -d)" "$0" "$@"
PAIR=bookworm-6.1
while getopts p: opt; do
	case $opt in
	p) PAIR=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
build=$(cd "${1:-${TEST_BINDIR:-$src/build}}" && pwd)
# The probe's expected choice on this pair's kernel: columns 5 and 6.
read -r EXPECT_STATE EXPECT_ID < <(awk -v n="$PAIR" '$1 == n { print $5, $6 }' "$here/matrix") || true
[ -n "${EXPECT_ID:-}" ] || {
	echo "vm: no pair '$PAIR' in $here/matrix (its lines: $(awk '!/^#/ && NF { printf "%s ", $1 }' "$here/matrix"))" >&2
	exit 2
}
VM_CPUS=${VM_CPUS:-2}
VM_MEMORY_MB=${VM_MEMORY_MB:-1536}
VM_TIMEOUT_S=${VM_TIMEOUT_S:-1500}

for tool in qemu-system-x86_64 debootstrap mkfs.ext4 debugfs cpack; do
	command -v "$tool" >/dev/null || {
		echo "vm: $tool is missing (tests/setup.sh installs it)" >&2
		exit 1
	}
done

work=$(mktemp -d /tmp/tcpstates-vm.XXXXXX)
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ "${VM_KEEP:-0}" = 1 ]; then
		echo "vm: work directory kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
started=$(date +%s)
elapsed() { echo "$(($(date +%s) - started)) s"; }

image=$(bash "$here/build-image.sh" "$PAIR")
echo "vm: $PAIR: root image $image ($(elapsed))"

# --- packages ------------------------------------------------------------------
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
[ -n "$version" ] || {
	echo "vm: no CPACK_PACKAGE_VERSION in $build/CPackConfig.cmake" >&2
	exit 1
}
# lower_version X.Y.Z: a version that dpkg orders before X.Y.Z, in the
# numeric form project(VERSION) accepts.
lower_version() {
	local x y z
	IFS=. read -r x y z <<<"$1"
	z=${z:-0}
	if [ "$z" -gt 0 ]; then
		echo "$x.$y.$((z - 1))"
	elif [ "$y" -gt 0 ]; then
		echo "$x.$((y - 1)).99"
	else
		echo "$((x - 1)).99.99"
	fi
}
old_version=$(lower_version "$version")
arch=$(dpkg --print-architecture)

quiet() { # runs a noisy command, printing its output only when it fails
	if "$@" >"$work/quiet.log" 2>&1; then return 0; fi
	cat "$work/quiet.log" >&2
	return 1
}

cmake --build "$build" --target tcpstates-agent tcpstates-consume kafka-peer packaging_docs \
	-j"$(nproc)" >/dev/null
(cd "$build" && quiet cpack -G DEB)
new_deb=$build/tcpstates-agent_${version}_$arch.deb
# The previous release, for the upgrade: the same tree with a lower project
# version, so the installed binary says which package it came from. Built
# once per tree in BUILD_DIR/vm-old and reused by the other pairs' runs: the
# stamp is a hash of the tree as tar would copy it.
old=$build/vm-old
tree() { tar -C "$src" --exclude=./.git --exclude='./build*' --sort=name --mtime=@0 \
	--owner=0 --group=0 --numeric-owner -cf - .; }
exec 8>"$build/vm-old.lock"
flock 8
stamp=$(tree | sha256sum | cut -c1-16)
old_deb=$old/build/tcpstates-agent_${old_version}_$arch.deb
if [ "$(cat "$old/stamp" 2>/dev/null)" != "$stamp" ] || [ ! -f "$old_deb" ]; then
	rm -rf "$old"
	mkdir -p "$old/src"
	tree | tar -C "$old/src" -xf -
	sed -i -E "0,/^project\(tcpstates-agent VERSION [0-9.]+/s//project(tcpstates-agent VERSION $old_version/" \
		"$old/src/CMakeLists.txt"
	quiet cmake -S "$old/src" -B "$old/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF
	quiet cmake --build "$old/build" -j"$(nproc)"
	(cd "$old/build" && quiet cpack -G DEB)
	echo "$stamp" >"$old/stamp"
fi
flock -u 8
for f in "$new_deb" "$old_deb"; do
	[ -f "$f" ] || {
		echo "vm: cpack did not write $f" >&2
		exit 1
	}
done
echo "vm: packages $version and $old_version built ($(elapsed))"

# --- the test disk ---------------------------------------------------------------
disk=$work/disk
mkdir -p "$disk/out" "$disk/src/tests"
cp "$here/guest.sh" "$disk/run.sh"
cp "$here/events.py" "$disk/events.py"
cp "$new_deb" "$disk/new.deb"
cp "$old_deb" "$disk/old.deb"
cp "$build/tests/kafka-peer" "$disk/kafka-peer"
cp -r "$src/tests/integration" "$disk/src/tests/"
cp -r "$src/collector-schema" "$src/proto" "$disk/src/"
printf 'VERSION=%s\nOLD_VERSION=%s\nPAIR=%s\nEXPECT_STATE=%s\nEXPECT_ID=%s\n' \
	"$version" "$old_version" "$PAIR" "$EXPECT_STATE" "$EXPECT_ID" >"$disk/versions"
truncate -s 256M "$work/disk.img"
mkfs.ext4 -q -L vmtest -d "$disk" "$work/disk.img"

# --- boot ------------------------------------------------------------------------
# No network (-nic none): everything the guest needs is on the two disks.
# The image is opened with snapshot=on, so the cached file stays pristine.
: >"$work/results.log"
echo "vm: booting ($VM_CPUS vCPUs, TCG; results follow)"
status=0
timeout --foreground "$VM_TIMEOUT_S" qemu-system-x86_64 \
	-accel tcg -cpu max -smp "$VM_CPUS" -m "$VM_MEMORY_MB" \
	-kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
	-append "root=/dev/vda rw console=ttyS0 mitigations=off panic=-1 systemd.show_status=0" \
	-drive "file=$image/root.img,if=virtio,format=raw,snapshot=on" \
	-drive "file=$work/disk.img,if=virtio,format=raw" \
	-nic none -display none -monitor none -no-reboot \
	-serial "file:$work/console.log" -serial "file:$work/results.log" || status=$?
tr -d '\r' <"$work/results.log" >"$work/results.txt"
cat "$work/results.txt"
echo "vm: $PAIR: qemu exited with status $status after $(elapsed)"

debugfs -R "dump /out/journal.txt $work/journal.txt" "$work/disk.img" >/dev/null 2>&1 || true
summary=$(grep -E '^VMTEST: done ' "$work/results.txt" | tail -n1 || true)
if [ "$status" -eq 0 ] && [ -n "$summary" ] && ! grep -q '^VMTEST: FAIL' "$work/results.txt" &&
	grep -q '^VMTEST: done [0-9]* passed, 0 failed$' <<<"$summary"; then
	echo "vm: $PAIR: all checks passed in $(elapsed)"
	exit 0
fi
[ "$status" -eq 124 ] && echo "vm: the VM did not power off within ${VM_TIMEOUT_S} s" >&2
[ -n "$summary" ] || echo "vm: the guest wrote no summary line" >&2
echo "--- last 40 lines of the console" >&2
tr -d '\r' <"$work/console.log" | tail -n 40 >&2
if [ -s "$work/journal.txt" ]; then
	echo "--- tcpstates-agent in the guest's journal (last 60 lines)" >&2
	grep -E 'tcpstates-agent|systemd\[1\]: tcpstates' "$work/journal.txt" | tail -n 60 >&2 || true
fi
exit 1
