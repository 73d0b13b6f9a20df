#!/usr/bin/env bash
# One command for the overhead benchmark: set up, build, measure, print.
set -euo pipefail
# shellcheck source=../as-root.sh
. "$(dirname "$0")/../as-root.sh"
as_root "the benchmark loads BPF programs" "$0" "$@"
cd "$(dirname "$0")/../.."
bash tests/setup.sh >/dev/null
TEST_BINDIR=$PWD/build KAFKA_PEER=$PWD/build/tests/kafka-peer \
	TCPSTATES_AGENT=$PWD/build/agent/tcpstates-agent PROTO_DIR=$PWD/proto \
	/usr/bin/python3 tests/bench/bench.py "$@"
