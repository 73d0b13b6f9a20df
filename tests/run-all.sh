#!/usr/bin/env bash
# Sets everything up, then runs every test in lanes, the quickest first. Each
# lane prints its wall time.
#  1. fast: set-up and build, the unit tests that need no root, the layout
#     check, clang-format and shellcheck, the Python tests' syntax. It fails
#     within minutes, and when it does the run stops there: every later lane
#     would spend half an hour on a tree that cannot be merged anyway.
#  2. integration: the unit tests that need root, then the integration tests
#     that load the real BPF program (./build);
#  3. vm: the packaged service under systemd in qemu (tests/vm);
#  4. sanitizers: the unit and integration tests again on an AddressSanitizer
#     + UBSan build (./build-asan), leak detection on: any sanitizer report
#     from any process (the agent, the consumer, a unit test) fails the run;
#  5. fuzz: the fuzz targets (clang, ./build-fuzz): every corpus input and
#     reproducer once, then each target for FUZZ_SECONDS (default 60).
# Arguments go to the ctest of lanes 2 and 4 (e.g. -R test_e2e). Lanes 2 to 5
# run even when an earlier one failed; the exit status says whether all
# passed.
set -euo pipefail
# shellcheck source=as-root.sh
. "$(dirname "$0")/as-root.sh"
as_root "the integration tests load BPF programs" "$0" "$@"
cd "$(dirname "$0")/.."
jobs=$(nproc)
failed=()

lane() { # NAME COMMAND...: runs it, prints its time, remembers a failure
	local name=$1 start=$SECONDS status=0
	shift
	echo "=== run-all: lane $name"
	"$@" || status=1
	echo "=== run-all: lane $name $([ $status -eq 0 ] && echo passed || echo FAILED)" \
		"in $((SECONDS - start)) s"
	((status == 0)) || failed+=("$name")
	return $status
}

fast() {
	local status=0
	bash tests/setup.sh || return 1
	ctest --test-dir build --output-on-failure -j"$jobs" -L unit -LE root || status=1
	bash tests/lint.sh || status=1
	return $status
}

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
	# the earlier lanes, and so does test_memory_budget (label memory), which
	# bounds the resident set as the soak test does. The build tests (label
	# build) build and package trees of their own, or check what the packaged
	# binaries need, which the sanitizer runtime changes.
	ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:log_path=$reports/report" \
		UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/report" \
		ctest --test-dir build-asan --output-on-failure -E '^integration/test_reload_asan$' -LE '^(soak|memory|vm|build)$' \
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

if ! lane fast fast; then
	echo "run-all: FAILED: the fast lane; the later lanes did not run" >&2
	exit 1
fi
# Integration tests run one at a time (RUN_SERIAL): they share the tracepoint.
lane integration ctest --test-dir build --output-on-failure -L '^(root|integration)$' -LE '^vm$' \
	"$@" || true
lane vm ctest --test-dir build --output-on-failure -L '^vm$' || true
lane sanitizers sanitized_suite "$@" || true
lane "fuzz (${FUZZ_SECONDS:-60}s per target)" fuzz || true

if ((${#failed[@]})); then
	echo "run-all: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "run-all: every lane passed"
