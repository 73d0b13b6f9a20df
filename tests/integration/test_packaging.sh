#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Builds the deb and the rpm with cpack from the test build directory, checks
# them with lintian and rpm, and installs the deb into a minimal Debian root
# (debootstrap, cached) to run it, reinstall it over a local edit and purge it.
# The checks pass `bash -c` scripts that read their own positional arguments.
# shellcheck disable=SC2016
set -euo pipefail

: "${TEST_BINDIR:?TEST_BINDIR must name the CMake build directory}"
: "${TEST_SRCDIR:?TEST_SRCDIR must name the source directory}"

CACHE_DIR=/var/cache/tcpstates-agent-tests
SUITE=bookworm
WORK=$(mktemp -d /tmp/test_packaging.XXXXXX)
ROOT=$WORK/root
MOUNTED_PROC=

cleanup() {
	if [ -n "$MOUNTED_PROC" ]; then
		umount "$ROOT/proc" 2>/dev/null || true
	fi
	if [ "${HOST_INSTALLED:-}" = 1 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y tcpstates-agent >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
quiet() { # runs a noisy command, printing its output only when it fails
	if "$@" >"$WORK/quiet.log" 2>&1; then return 0; fi
	cat "$WORK/quiet.log" >&2
	return 1
}

# --- tools --------------------------------------------------------------
for tool in dpkg-shlibdeps lintian rpmbuild debootstrap systemd-analyze; do
	command -v "$tool" >/dev/null || {
		echo "test_packaging: $tool is missing (tests/setup.sh installs it)" >&2
		exit 1
	}
done

# --- build ----------------------------------------------------------------
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$TEST_BINDIR/CPackConfig.cmake")
[ -n "$version" ] || {
	echo "no CPACK_PACKAGE_VERSION in $TEST_BINDIR/CPackConfig.cmake" >&2
	exit 1
}
deb=$TEST_BINDIR/tcpstates-agent_${version}_$(dpkg --print-architecture).deb
rpm=$TEST_BINDIR/tcpstates-agent-${version}-1.$(uname -m).rpm
rm -f "$deb" "$rpm"
(cd "$TEST_BINDIR" && cpack -G "DEB;RPM") >"$WORK/cpack.log" 2>&1 || {
	cat "$WORK/cpack.log" >&2
	echo "cpack failed" >&2
	exit 1
}
check "deb file name $(basename "$deb")" test -f "$deb"
check "rpm file name $(basename "$rpm")" test -f "$rpm"
[ -f "$deb" ] && [ -f "$rpm" ] || exit 1

# --- lintian ----------------------------------------------------------------
# Errors and warnings fail; informational tags are printed only.
lintian -I "$deb" >"$WORK/lintian.log" 2>&1 || true
cat "$WORK/lintian.log"
check "lintian has no error or warning" \
	bash -c '! grep -E "^(E|W): " "$1"' _ "$WORK/lintian.log"

# --- deb metadata -----------------------------------------------------------
dpkg-deb -f "$deb" Depends >"$WORK/depends"
echo "deb Depends: $(cat "$WORK/depends")"
for dep in libprotobuf-c1 libyaml-0-2 libc6 libssl3 libelf1 zlib1g; do
	check "deb depends on $dep" grep -q "\b$dep\b" "$WORK/depends"
done
# librdkafka and libbpf are linked in (cmake/bundled/versions.cmake).
check "deb depends on no librdkafka, libbpf or libmicrohttpd package" \
	bash -c '! grep -qiE "rdkafka|libbpf|microhttpd" "$1"' _ "$WORK/depends"
# Every dependency must exist, at that version or an older one, on each deb
# target: the floor is the oldest version among Debian 12 and 13 and Ubuntu
# 22.04 and 24.04 (packaging/README.md lists them; the t64 packages of Debian
# 13 and Ubuntu 24.04 Provide the old names on amd64). A dependency missing
# from this table, such as libsasl2-2 or libzstd1 (>= 1.5.2), fails.
declare -A deb_floor=(
	[init-system-helpers]=1.62 [libc6]=2.34 [libelf1]=0.186
	[libprotobuf-c1]=1.3.3 [libssl3]=3.0.2 [libyaml-0-2]=0.2.2 [zlib1g]=1:1.2.11
)
deb_dep_ok() { # deb_dep_ok "name (>= version)"
	local name version
	name=$(sed -E 's/^ *([^ (]+).*/\1/' <<<"$1")
	version=$(sed -nE 's/.*\(>= *([^)]+)\).*/\1/p' <<<"$1")
	[ -n "${deb_floor[$name]:-}" ] || return 1
	[ -z "$version" ] || dpkg --compare-versions "$version" le "${deb_floor[$name]}"
}
tr ',' '\n' <"$WORK/depends" | sed 's/^ *//' >"$WORK/depends.list"
while read -r dep; do
	check "deb dependency '$dep' exists on every target" deb_dep_ok "$dep"
done <"$WORK/depends.list"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$WORK/conffiles"
check "deb conffiles is exactly agent.yaml" \
	diff <(echo /etc/tcpstates-agent/agent.yaml) "$WORK/conffiles"
check "deb ships the unit under /lib/systemd/system" \
	bash -c 'dpkg-deb -c "$1" | grep -q " ./lib/systemd/system/tcpstates-agent.service$"' _ "$deb"

# --- rpm metadata -----------------------------------------------------------
cat >"$WORK/rpm-files.expected" <<'EOF'
/etc/tcpstates-agent
/etc/tcpstates-agent/agent.yaml
/usr/bin/tcpstates-consume
/usr/lib/systemd/system/tcpstates-agent.service
/usr/sbin/tcpstates-agent
/usr/share/doc/tcpstates-agent
/usr/share/doc/tcpstates-agent/copyright
/usr/share/man/man1/tcpstates-consume.1.gz
/usr/share/man/man8/tcpstates-agent.8.gz
/usr/share/tcpstates-agent
/usr/share/tcpstates-agent/monitoring
/usr/share/tcpstates-agent/monitoring/tcpstates-agent.dashboard.json
/usr/share/tcpstates-agent/monitoring/tcpstates-agent.rules.yml
/usr/share/tcpstates-agent/schema
/usr/share/tcpstates-agent/schema/CONTRACT.md
/usr/share/tcpstates-agent/schema/RECIPES.md
/usr/share/tcpstates-agent/schema/tcpstates.proto
/usr/share/tcpstates-agent/schema/tcpstates.v1.desc
/usr/share/tcpstates-agent/schema/tcpstates.v1.schema.json
EOF
rpm -qlp "$rpm" 2>/dev/null | sort >"$WORK/rpm-files"
check "rpm lists exactly the expected files" diff "$WORK/rpm-files.expected" "$WORK/rpm-files"
rpm -qp --requires "$rpm" 2>/dev/null >"$WORK/rpm-requires"
for lib in libprotobuf-c.so.1 libyaml-0.so.2 libssl.so.3 libelf.so.1; do
	check "rpm requires $lib" grep -q "^$lib()" "$WORK/rpm-requires"
done
check "rpm requires no librdkafka, libbpf or libmicrohttpd" \
	bash -c '! grep -qiE "rdkafka|libbpf|microhttpd" "$1"' _ "$WORK/rpm-requires"
# Only sonames that RHEL 9 and Amazon Linux 2023 have under the same name,
# and no glibc symbol version above their 2.34.
rpm_req_ok() { # rpm_req_ok REQUIREMENT
	case $1 in
	/bin/sh | rpmlib\(* | config\(tcpstates-agent\)* | rtld\(GNU_HASH\)) return 0 ;;
	ld-linux-x86-64.so.2* | libc.so.6* | libm.so.6*)
		local v
		v=$(sed -nE 's/.*\(GLIBC_([0-9.]+)\).*/\1/p' <<<"$1")
		[ -z "$v" ] || dpkg --compare-versions "$v" le 2.34
		;;
	libcrypto.so.3* | libssl.so.3* | libelf.so.1* | libz.so.1* | libprotobuf-c.so.1* | \
		libyaml-0.so.2*) return 0 ;;
	*) return 1 ;;
	esac
}
while read -r req; do
	rpm_req_ok "$req" || fail "rpm requirement '$req' is not on every RHEL-family target"
done <"$WORK/rpm-requires"
pass "rpm requirements checked ($(wc -l <"$WORK/rpm-requires") entries)"

# --- the binaries themselves ---------------------------------------------------
# The packaged binaries, not the build tree's: what a target's loader sees.
mkdir -p "$WORK/debroot"
dpkg-deb -x "$deb" "$WORK/debroot"
for bin in usr/sbin/tcpstates-agent usr/bin/tcpstates-consume; do
	needed=$(readelf -d "$WORK/debroot/$bin" | sed -nE 's/.*NEEDED.*\[(.*)\]/\1/p' | tr '\n' ' ')
	echo "$bin needs: $needed"
	check "$bin needs no librdkafka, libbpf, libmicrohttpd, libsasl2 or libzstd" \
		bash -c '! grep -qE "librdkafka|libbpf|libmicrohttpd|libsasl2|libzstd" <<<"$1"' _ "$needed"
	glibc=$(objdump -T "$WORK/debroot/$bin" | grep -oE 'GLIBC_[0-9.]+' | sort -uV | tail -n1)
	check "$bin needs at most GLIBC_2.34 (has $glibc)" \
		dpkg --compare-versions "${glibc#GLIBC_}" le 2.34
done
check "rpm config files are exactly agent.yaml" \
	diff <(echo /etc/tcpstates-agent/agent.yaml) <(rpm -qp --configfiles "$rpm" 2>/dev/null)
check "rpm agent.yaml is %config(noreplace)" bash -c \
	'rpm -qp --qf "[%{FILENAMES} %{FILEFLAGS:fflags}\n]" "$1" 2>/dev/null |
	 grep -qx "/etc/tcpstates-agent/agent.yaml cn"' _ "$rpm"

# The scriptlets, run with a systemctl that records its arguments. The unit
# is enabled only on a fresh install and stopped only on erase.
mkdir -p "$WORK/stub"
cat >"$WORK/stub/systemctl" <<EOF
#!/bin/sh
echo "\$*" >>"$WORK/systemctl.calls"
EOF
chmod +x "$WORK/stub/systemctl"
run_scriptlet() { # run_scriptlet TAG ARG
	local body
	body=$(rpm -qp --qf "%{$1}" "$rpm" 2>/dev/null)
	: >"$WORK/systemctl.calls"
	PATH="$WORK/stub:$PATH" sh -c "$body" scriptlet "$2"
}
run_scriptlet POSTIN 1
check "rpm %post 1 enables" grep -qx -- "--no-reload enable tcpstates-agent.service" "$WORK/systemctl.calls"
run_scriptlet POSTIN 2
check "rpm %post 2 does not enable" bash -c '! grep -q enable "$1"' _ "$WORK/systemctl.calls"
run_scriptlet PREUN 0
check "rpm %preun 0 stops and disables" \
	grep -qx -- "--no-reload disable --now tcpstates-agent.service" "$WORK/systemctl.calls"
run_scriptlet PREUN 1
check "rpm %preun 1 leaves the service alone" test ! -s "$WORK/systemctl.calls"

# --- install into a clean Debian root --------------------------------------
tarball=$CACHE_DIR/$SUITE-minbase.tar
mirror=
[ -f "$tarball" ] || mirror=$(sh "$TEST_SRCDIR/cmake/debian-archive.sh") ||
	fail "no Debian archive to debootstrap from"
if [ ! -f "$tarball" ] && [ -n "$mirror" ]; then
	mkdir -p "$CACHE_DIR"
	echo "debootstrap $SUITE from $mirror (cached in $tarball)"
	if timeout 600 debootstrap --variant=minbase "$SUITE" "$WORK/boot" "$mirror" \
		>"$WORK/debootstrap.log" 2>&1; then
		tar -C "$WORK/boot" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
	else
		tail -n 20 "$WORK/debootstrap.log" >&2
	fi
	rm -rf "${WORK:?}/boot"
fi

if [ -f "$tarball" ]; then
	mkdir -p "$ROOT"
	tar -C "$ROOT" -xf "$tarball"
	cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
	mount -t proc proc "$ROOT/proc" && MOUNTED_PROC=1
	in_root() { chroot "$ROOT" "$@"; }
	prefix=$ROOT
	cp "$deb" "$ROOT/tmp/pkg.deb"
	quiet in_root apt-get update
	debs=/tmp/pkg.deb
else
	# No clean root: install on this machine and purge at the end.
	echo "debootstrap unavailable: installing on the host instead"
	in_root() { "$@"; }
	prefix=
	cp "$deb" "$WORK/pkg.deb"
	debs=$WORK/pkg.deb
	HOST_INSTALLED=1
fi

# Without recommends: Depends alone must be enough to run.
check "apt installs the deb with its dependencies" \
	quiet in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	--no-install-recommends "$debs"
version_out=$(in_root /usr/sbin/tcpstates-agent --version 2>&1) || true
echo "installed: $version_out"
check "tcpstates-agent --version names $version" grep -qF "$version" <<<"$version_out"
check "installed agent.yaml passes --check-config" \
	in_root /usr/sbin/tcpstates-agent --check-config -c /etc/tcpstates-agent/agent.yaml
# The unit's own check: an unconfigured service must refuse to start rather
# than print every TCP change of the host into the journal.
unconfigured=$(in_root /usr/sbin/tcpstates-agent --check-config --require-brokers \
	-c /etc/tcpstates-agent/agent.yaml 2>&1) && status=0 || status=$?
check "unconfigured service refuses to start (status $status)" test "$status" -eq 1
check "and says kafka.brokers is empty" grep -q "kafka.brokers is empty" <<<"$unconfigured"
check "tcpstates-consume runs" in_root /usr/bin/tcpstates-consume --help
check "fresh install enables the unit" \
	test -L "$prefix/etc/systemd/system/multi-user.target.wants/tcpstates-agent.service"
check "man page installed" test -s "$prefix/usr/share/man/man8/tcpstates-agent.8.gz"
check "alerting rules installed" \
	test -s "$prefix/usr/share/tcpstates-agent/monitoring/tcpstates-agent.rules.yml"
check "Grafana dashboard installed" \
	test -s "$prefix/usr/share/tcpstates-agent/monitoring/tcpstates-agent.dashboard.json"

# The unit, with its binaries resolved inside the installed root.
mkdir -p "$WORK/unit"
sed "s#/usr/sbin/tcpstates-agent#$prefix/usr/sbin/tcpstates-agent#g" \
	"$prefix/lib/systemd/system/tcpstates-agent.service" >"$WORK/unit/tcpstates-agent.service"
check "systemd-analyze verify accepts the unit" \
	bash -c 'out=$(systemd-analyze verify --man=no "$1" 2>&1); echo "$out"; [ -z "$out" ]' _ \
	"$WORK/unit/tcpstates-agent.service"
systemd-analyze security --offline=yes "$WORK/unit/tcpstates-agent.service" 2>&1 | tail -n 1
check "unit exposure level is 2.0 or lower" \
	quiet systemd-analyze security --offline=yes --threshold=20 "$WORK/unit/tcpstates-agent.service"

# A local edit to the conffile survives a reinstall of the package.
echo "# local edit" >>"$prefix/etc/tcpstates-agent/agent.yaml"
check "reinstall succeeds" quiet in_root env DEBIAN_FRONTEND=noninteractive dpkg -i "$debs"
check "conffile edit survives the reinstall" \
	grep -qx "# local edit" "$prefix/etc/tcpstates-agent/agent.yaml"

# State as systemd's DynamicUser leaves it, then purge.
mkdir -p "$prefix/var/lib/private/tcpstates-agent/spool"
echo data >"$prefix/var/lib/private/tcpstates-agent/spool/segment"
ln -sfn private/tcpstates-agent "$prefix/var/lib/tcpstates-agent"
check "purge succeeds" quiet in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq tcpstates-agent
HOST_INSTALLED=
check "purge removes the state link" test ! -e "$prefix/var/lib/tcpstates-agent" -a ! -L "$prefix/var/lib/tcpstates-agent"
check "purge removes the private state" test ! -e "$prefix/var/lib/private/tcpstates-agent"
check "purge removes /etc/tcpstates-agent" test ! -e "$prefix/etc/tcpstates-agent"
check "purge removes the enablement link" \
	test ! -L "$prefix/etc/systemd/system/multi-user.target.wants/tcpstates-agent.service"
check "purge removes the binary" test ! -e "$prefix/usr/sbin/tcpstates-agent"

finish test_packaging
