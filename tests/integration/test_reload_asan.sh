#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The SIGHUP storm of test_reload.py on an AddressSanitizer/UBSan build of the
# agent: 50+ reloads while traffic runs, then SIGTERM. The agent must exit 0
# with no sanitizer report, LeakSanitizer's end-of-run check included, so
# every reload frees what it replaced.
set -euo pipefail

: "${TEST_SRCDIR:?run through ctest, or set TEST_SRCDIR}"
: "${TEST_BINDIR:?run through ctest, or set TEST_BINDIR}"
here=$(cd "$(dirname "$0")" && pwd)
build="$TEST_BINDIR/asan"

start=$SECONDS
# Quiet unless it fails: a first build takes a while, later runs are incremental.
if ! out=$({ cmake -S "$TEST_SRCDIR" -B "$build" -DTCPSTATES_SANITIZE=ON -DBUILD_TESTING=OFF \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo &&
	cmake --build "$build" -j"$(nproc)" --target tcpstates-agent; } 2>&1); then
	echo "$out" | tail -40
	echo "FAIL: cannot build the sanitizer variant of the agent" >&2
	exit 1
fi
echo "sanitizer build ready in $((SECONDS - start))s: $build/agent/tcpstates-agent"

export TCPSTATES_AGENT="$build/agent/tcpstates-agent"
# abort_on_error=0: a report ends the process with an exit status the test
# sees, and the report itself lands in the stderr the test scans.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0
export LSAN_OPTIONS=report_objects=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0
exec /usr/bin/python3 "$here/test_reload.py" storm --sanitizer
