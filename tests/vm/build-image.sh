#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Builds the root image of one of the VM test's (root, kernel) pairs, or finds
# it in the cache, and prints the directory that holds it: root.img (ext4,
# Debian with systemd and the packages in ./packages), vmlinuz and initrd.img
# (the pair's Debian kernel).
#
#   build-image.sh NAME        NAME: a pair of ./matrix, e.g. bookworm-5.10
#
# The cache lives outside the source tree, in $TCPSTATES_VM_CACHE
# (/var/cache/tcpstates-agent-vm), one directory per pair and hash of its
# recipe (./packages, the pair's line of ./matrix and this script), so every
# run on a machine reuses one image per pair and an edit to the recipe builds
# a new one. They live under pairs/: older trees, with a single pair, build
# bookworm-KEY beside it and remove every other bookworm-* there. The image
# is never written by a test: the VM boots it with snapshot=on.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
CACHE_ROOT=${TCPSTATES_VM_CACHE:-/var/cache/tcpstates-agent-vm}
NAME=${1:?usage: build-image.sh NAME (a pair of tests/vm/matrix)}

# The recipe: only the columns that go into the image, not the expectations.
line=$(awk -v n="$NAME" '$1 == n { print $1, $2, $3, $4 }' "$here/matrix")
[ -n "$line" ] || {
	echo "build-image: no pair '$NAME' in $here/matrix" >&2
	exit 1
}
read -r _ SUITE KSUITE KERNEL <<<"$line"
mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/packages")
key=$({
	cat "$here/packages" "$here/build-image.sh"
	echo "$line"
} | sha256sum | cut -c1-16)
dir=$CACHE_ROOT/pairs/$NAME-$key

complete() { [ -s "$dir/root.img" ] && [ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.img" ]; }

mkdir -p "$CACHE_ROOT/pairs"
# One builder at a time: a second CI run waits and then finds the image, and
# two pairs are not built at once on a machine of two cores.
exec 9>"$CACHE_ROOT/.lock"
flock 9
if complete; then
	echo "$dir"
	exit 0
fi
started=$(date +%s)

work=$(mktemp -d "$CACHE_ROOT/build.XXXXXX")
root=$work/root
cleanup() {
	# debootstrap and this script mount file systems in the root: a failed
	# build may leave them there, and rm must not walk into them.
	local m
	awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" || true; done
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# The Debian archive the host's apt uses: on CI machines that is the only
# registry that can be reached.
mirror=$(sh "$here/../../cmake/debian-archive.sh")

quiet() { # quiet STEP COMMAND...: the command's output only when it fails
	local step=$1
	shift
	if "$@" >"$work/step.log" 2>&1; then return 0; fi
	tail -n 30 "$work/step.log" >&2
	echo "build-image: $NAME: $step failed (log above)" >&2
	exit 1
}
in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

echo "build-image: $NAME: debootstrap $SUITE from $mirror, ${#packages[@]} packages, kernel $KERNEL from $KSUITE" >&2
quiet debootstrap debootstrap --variant=minbase "$SUITE" "$root" "$mirror"
mount -t proc proc "$root/proc"
# Nothing starts inside the root while it is built.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
apt_install=(apt-get install -y -q --no-install-recommends)
if [ "$KSUITE" = "$SUITE" ]; then
	quiet "apt-get install" in_root "${apt_install[@]}" "${packages[@]}" "$KERNEL"
else
	quiet "apt-get install" in_root "${apt_install[@]}" "${packages[@]}"
	# Another release's kernel, as an admin would install it: the package
	# alone, its dependencies from the root's own release.
	echo "deb $mirror $KSUITE main" >"$root/etc/apt/sources.list.d/kernel.list"
	quiet "apt-get update ($KSUITE)" in_root apt-get update -q
	quiet "apt-get download $KERNEL" in_root sh -c "cd /tmp && apt-get download -q $KERNEL"
	rm "$root/etc/apt/sources.list.d/kernel.list"
	quiet "apt-get update" in_root apt-get update -q
	deb=$(cd "$root/tmp" && ls "$KERNEL"_*.deb)
	# Fails on the dependencies it leaves unconfigured; apt-get -f installs
	# them from the root's release and configures the kernel, building its
	# initrd. The check below says whether it got there.
	in_root dpkg -i "/tmp/$deb" >"$work/dpkg.log" 2>&1 || true
	quiet "apt-get -f install ($KERNEL)" in_root apt-get -f install -y -q --no-install-recommends
	rm "$root/tmp/$deb"
fi
# shellcheck disable=SC2016 # dpkg-query's own ${Status} field
[ "$(in_root dpkg-query -W -f '${Status}' "$KERNEL")" = "install ok installed" ] || {
	[ -s "$work/dpkg.log" ] && tail -n 20 "$work/dpkg.log" >&2
	echo "build-image: $NAME: $KERNEL is not installed in the root" >&2
	exit 1
}
rm "$root/usr/sbin/policy-rc.d"
umount "$root/proc"

# --- configuration ----------------------------------------------------------
echo tcpstates-vm >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\ttcpstates-vm\n::1\tlocalhost ip6-localhost\n' \
	>"$root/etc/hosts"
echo '/dev/vda / ext4 rw,relatime 0 1' >"$root/etc/fstab"
# Empty: systemd draws a machine id at first boot, as on a fresh install.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
# Nothing else may run in the test's minute: no timers, no network waits.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
	systemd-networkd-wait-online.service getty@tty1.service; do
	ln -sf /dev/null "$root/etc/systemd/system/$unit"
done

# The test runner: mounts the second disk (the .debs, the Kafka peer and the
# test script, written fresh by run.sh on the host), runs its run.sh with the
# results on the second serial port, and powers the VM off either way.
cat >"$root/usr/local/sbin/vmtest-run" <<'EOF'
#!/bin/sh
mkdir -p /mnt/vmtest
if ! mount -o rw /dev/vdb /mnt/vmtest; then
	echo "VMTEST: FAIL mount the test disk /dev/vdb"
	exit 1
fi
cd /mnt/vmtest && bash ./run.sh
status=$?
# For the host to read when a check failed (debugfs, no mount needed).
mkdir -p /mnt/vmtest/out
journalctl -b --no-pager -o short-monotonic >/mnt/vmtest/out/journal.txt 2>&1
sync
exit $status
EOF
chmod 0755 "$root/usr/local/sbin/vmtest-run"
cat >"$root/etc/systemd/system/vmtest.service" <<'EOF'
[Unit]
Description=tcpstates-agent VM test
After=multi-user.target
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vmtest-run
StandardOutput=file:/dev/ttyS1
StandardError=inherit
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/vmtest.service "$root/etc/systemd/system/multi-user.target.wants/vmtest.service"

# --- kernel and image ------------------------------------------------------------
vmlinuz=$(printf '%s\n' "$root"/boot/vmlinuz-* | sort -V | tail -n1)
initrd=$(printf '%s\n' "$root"/boot/initrd.img-* | sort -V | tail -n1)
cp "$vmlinuz" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*_Packages
# Room for the packages, the spool and the journal on top of what is there.
size_mb=$(($(du -sm "$root" | cut -f1) + 768))
truncate -s "${size_mb}M" "$work/root.img"
mkfs.ext4 -q -L vmroot -d "$root" "$work/root.img"

mkdir -p "$dir"
mv "$work/vmlinuz" "$work/initrd.img" "$dir/"
mv "$work/root.img" "$dir/root.img" # last: complete() tests it
# Images of older recipes are a gigabyte each and never used again.
for stale in "$CACHE_ROOT/pairs/$NAME"-*; do
	[ "$stale" = "$dir" ] || rm -rf --one-file-system "$stale"
done
echo "build-image: $NAME: cached in $dir ($size_mb MiB image, kernel $(basename "$vmlinuz"), built in $(($(date +%s) - started)) s)" >&2
echo "$dir"
