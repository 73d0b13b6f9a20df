#!/usr/bin/env bash
# Sets everything up, then runs every test: unit tests first, then the
# integration tests that load the real BPF program (root required).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "run-all: the integration tests load BPF programs: run as root" >&2
	exit 1
fi
bash tests/setup.sh
cd build
ctest --output-on-failure "$@"
