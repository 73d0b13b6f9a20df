#!/usr/bin/env bash
# run.sh replay|run FUZZER SRCDIR BINDIR
#   replay  runs every input of corpus/NAME/ and reproducers/NAME/ once;
#   run     fuzzes for $FUZZ_SECONDS (default 60) from a copy of the corpus,
#           so the committed seeds stay as they are.
# Either fails on any crash, property failure, leak or sanitizer report;
# crashing inputs are kept in BINDIR/artifacts/NAME/.
set -euo pipefail
mode=$1 fuzzer=$2 srcdir=$3 bindir=$4
name=$(basename "$fuzzer")
seconds=${FUZZ_SECONDS:-60}
artifacts=$bindir/artifacts/$name
mkdir -p "$artifacts"
# The targets' scratch files (tmpfs), gone even when a target crashed.
scratch=$(mktemp -d "${FUZZ_TMPDIR:-/dev/shm}/$name.XXXXXX")
export FUZZ_TMPDIR=$scratch
work=
trap 'rm -rf "$scratch" ${work:+"$work"}' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

noise='^INFO:|^Running:|^Executed|^\*\*\*|^NOTE:|Combine libFuzzer|in fuzzer::|libc\.so|_start|^$'
inputs=()
for d in "$srcdir/corpus/$name" "$srcdir/reproducers/$name"; do
	[ -d "$d" ] || continue
	while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "$d" -type f -print0 | sort -z)
done

case $mode in
replay)
	if ((${#inputs[@]} == 0)); then
		echo "$name: no corpus in $srcdir/corpus/$name" >&2
		exit 1
	fi
	# -timeout: an input that takes this long is a failure (a hang, or
	# quadratic work); the slowest seed takes milliseconds.
	if "$fuzzer" -timeout=25 -artifact_prefix="$artifacts/" "${inputs[@]}" >"$bindir/$name.replay.log" 2>&1; then
		echo "$name: ${#inputs[@]} inputs replayed, no failure"
		exit 0
	fi
	# Again one process per input, so that one failure does not hide another.
	failed=0
	for f in "${inputs[@]}"; do
		if ! out=$("$fuzzer" -timeout=25 -artifact_prefix="$artifacts/" "$f" 2>&1); then
			echo "$name: FAILED on ${f#"$srcdir"/}" >&2
			# The failure and the frames of our own code, not libFuzzer's.
			echo "$out" | grep -Ev "$noise" | head -n 40 >&2
			failed=1
		fi
	done
	if ((failed == 0)); then
		echo "$name: the inputs failed together but not one by one:" >&2
		tail -n 40 "$bindir/$name.replay.log" >&2
		failed=1
	fi
	exit "$failed"
	;;
run)
	if ((seconds == 0)); then
		echo "$name: not fuzzed (FUZZ_SECONDS=0)"
		exit 0
	fi
	work=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
	[ -d "$srcdir/corpus/$name" ] && cp -r "$srcdir/corpus/$name/." "$work/"
	log=$bindir/$name.log
	echo "$name: fuzzing for ${seconds}s (log: $log)"
	status=0
	timeout --kill-after=30 $((seconds + 300)) "$fuzzer" -max_total_time="$seconds" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
		"$work" >"$log" 2>&1 || status=$?
	grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)|cov: ' "$log" |
		tail -n 4 || true
	if ((status != 0)); then
		echo "$name: FAILED (status $status); the input is in $artifacts/" >&2
		grep -Ev "$noise|^#[0-9]|^tcpstates-agent: " "$log" | tail -n 60 >&2
	fi
	exit "$status"
	;;
*)
	echo "usage: run.sh replay|run FUZZER SRCDIR BINDIR" >&2
	exit 2
	;;
esac
