#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Builds the VM test's root image, or finds it in the cache, and prints the
# directory that holds it: root.img (ext4, Debian 12 with systemd and the
# packages in ./packages), vmlinuz and initrd.img (Debian's cloud kernel).
#
# The cache lives outside the source tree, in $TCPSTATES_VM_CACHE
# (/var/cache/tcpstates-agent-vm), one directory per hash of ./packages and
# this script, so every run on a machine reuses one image and an edit to
# either builds a new one. The image is never written by a test: the VM
# boots it with snapshot=on.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
SUITE=bookworm
CACHE_ROOT=${TCPSTATES_VM_CACHE:-/var/cache/tcpstates-agent-vm}

mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/packages")
key=$(cat "$here/packages" "$here/build-image.sh" | sha256sum | cut -c1-16)
dir=$CACHE_ROOT/$SUITE-$key

complete() { [ -s "$dir/root.img" ] && [ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.img" ]; }

mkdir -p "$CACHE_ROOT"
# One builder at a time: a second CI run waits and then finds the image.
exec 9>"$CACHE_ROOT/.lock"
flock 9
if complete; then
	echo "$dir"
	exit 0
fi

work=$(mktemp -d "$CACHE_ROOT/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

# The host's own Debian mirror: on CI machines that is the only registry
# that can be reached.
mirror=$(grep -rhoE '(URIs:|^deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list \
	/etc/apt/sources.list.d 2>/dev/null | grep -oE 'https?://[^ ]+' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

echo "build-image: debootstrap $SUITE from $mirror with ${#packages[@]} packages" >&2
include=$(
	IFS=,
	echo "${packages[*]}"
)
if ! debootstrap --variant=minbase --include="$include" "$SUITE" "$root" "$mirror" \
	>"$work/debootstrap.log" 2>&1; then
	tail -n 30 "$work/debootstrap.log" >&2
	echo "build-image: debootstrap failed (log above)" >&2
	exit 1
fi

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
# Images of older package lists are a gigabyte each and never used again.
for stale in "$CACHE_ROOT"/"$SUITE"-*; do
	[ "$stale" = "$dir" ] || rm -rf "$stale"
done
echo "build-image: cached in $dir ($size_mb MiB image, kernel $(basename "$vmlinuz"))" >&2
echo "$dir"
