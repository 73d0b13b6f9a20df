#!/usr/bin/env bash
# Sets everything up, then runs every test three ways:
#  1. unit tests, then the integration tests that load the real BPF program
#     (root required), against the build in ./build;
#  2. the same suite against an AddressSanitizer + UBSan build in
#     ./build-asan, leak detection on: any sanitizer report from any process
#     (the agent, the consumer, a unit test) fails the run;
#  3. the fuzz targets (clang, ./build-fuzz): every corpus input and
#     reproducer once, then each target for FUZZ_SECONDS (default 60).
# Arguments go to the ctest of steps 1 and 2 (e.g. -L unit). Every step runs
# even when an earlier one failed; the exit status says whether all passed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "run-all: the integration tests load BPF programs: run as root" >&2
	exit 1
fi
bash tests/setup.sh
jobs=$(nproc)
failed=()

step() { # NAME COMMAND...: runs it, remembers a failure
	local name=$1
	shift
	echo "=== run-all: $name"
	if ! "$@"; then
		failed+=("$name")
	fi
}

step "tests (build)" ctest --test-dir build --output-on-failure "$@"

# Reports go to files rather than to the stderr of whichever test started
# the process, so that none goes unseen; 1777 because the agent may drop to
# an unprivileged user before a leak report is written. clang, because with
# gcc's separate UBSan runtime its reports ignore log_path.
sanitized_suite() {
	local reports=$PWD/build-asan/sanitizer-reports
	CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTCPSTATES_SANITIZE=ON \
		>/dev/null &&
		cmake --build build-asan -j"$jobs" || return 1
	rm -rf "$reports"
	mkdir -p "$reports"
	chmod 1777 "$reports"
	local status=0
	# test_reload_asan builds a sanitized agent of its own: here every test is
	# one. The soak test bounds RSS growth, which ASan's quarantine of freed
	# memory makes meaningless, and the VM test installs the packages of its
	# build directory in a guest that has no sanitizer runtime: both run in
	# the first step.
	ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:log_path=$reports/report" \
		UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/report" \
		ctest --test-dir build-asan --output-on-failure -E '^integration/test_reload_asan$' -LE '^(soak|vm)$' \
		"$@" ||
		status=1
	if compgen -G "$reports/*" >/dev/null; then
		echo "run-all: sanitizer reports:" >&2
		for f in "$reports"/*; do
			echo "--- $f" >&2
			head -n 60 "$f" >&2
		done
		status=1
	fi
	return $status
}
step "tests (ASan+UBSan, build-asan)" sanitized_suite "$@"

fuzz() {
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTCPSTATES_FUZZ=ON \
		-DBUILD_TESTING=OFF >/dev/null &&
		cmake --build build-fuzz -j"$jobs" --target fuzzers || return 1
	# Replays first (seconds), then one fuzzer per core; both, whatever the first says.
	local status=0
	ctest --test-dir build-fuzz --output-on-failure -L fuzz-replay || status=1
	ctest --test-dir build-fuzz --output-on-failure -L fuzz-run -j"$jobs" || status=1
	return $status
}
step "fuzz (build-fuzz, ${FUZZ_SECONDS:-60}s per target)" fuzz

if ((${#failed[@]})); then
	echo "run-all: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "run-all: every step passed"
