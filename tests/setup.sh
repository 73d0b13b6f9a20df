#!/usr/bin/env bash
# Installs the Debian 12 packages the build and the tests need, mounts
# tracefs if it is missing, and builds into ./build. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
	build-essential cmake pkg-config clang llvm bpftool libelf-dev zlib1g-dev
	libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libyaml-dev
	# librdkafka and libbpf are built from pinned sources (cmake/bundled/);
	# these are what they link: OpenSSL and zlib from the system, zstd static
	libssl-dev libzstd-dev
	kcat python3 python3-protobuf python3-confluent-kafka python3-jsonschema
	# Confluent's Schema Registry client (test_schema_registry.py) needs it
	python3-requests
	iproute2 procps util-linux valgrind dpkg-dev lintian rpm debootstrap systemd file
	# libFuzzer and the sanitizer runtimes of clang, for tests/fuzz/
	libclang-rt-14-dev
	# the VM test (tests/vm/) and test_monitoring.py
	python3-yaml qemu-system-x86 e2fsprogs
	# the source checks of the fast lane (tests/lint.sh)
	clang-format shellcheck pyflakes3 git
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ClickHouse as a library (chDB) for test_clickhouse.py, from the npm
# registry, installed once into a cache outside the tree: later runs need no
# network. It needs Node.js 18 or later; Debian 12 ships 18.19.
CHDB_DIR=/var/cache/tcpstates-agent-tests/chdb
CHDB_VERSION=3.4.0
if ! command -v npm >/dev/null; then
	echo "setup: installing nodejs npm"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi
# The native library is an optional dependency, which npm skips silently when
# it fails: check for it too.
if ! grep -qs "\"version\": \"$CHDB_VERSION\"" "$CHDB_DIR/node_modules/chdb/package.json" ||
	[ ! -d "$CHDB_DIR/node_modules/@chdb/lib-linux-x64-gnu" ]; then
	echo "setup: installing chdb@$CHDB_VERSION into $CHDB_DIR"
	mkdir -p "$CHDB_DIR"
	(cd "$CHDB_DIR" && npm install --no-audit --no-fund --loglevel=error "chdb@$CHDB_VERSION")
fi

if [ ! -d /sys/kernel/tracing/events ] && ! mountpoint -q /sys/kernel/tracing; then
	mount -t tracefs nodev /sys/kernel/tracing || echo "setup: could not mount tracefs" >&2
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
