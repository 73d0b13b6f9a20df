# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
# Shared by the shell integration tests: counted checks and the closing line.
PASSES=0
FAILURES=0

pass() {
	PASSES=$((PASSES + 1))
	echo "ok: $*"
}

fail() {
	FAILURES=$((FAILURES + 1))
	echo "FAIL: $*" >&2
}

check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

check_eq() { # check_eq PASS_TEXT FAIL_TEXT ACTUAL EXPECTED
	if [ "$3" = "$4" ]; then pass "$1"; else fail "$2"; fi
}

# finish NAME: prints "NAME: N passed, N failed" and fails the test if any did.
finish() {
	echo "$1: $PASSES passed, $FAILURES failed"
	[ "$FAILURES" -eq 0 ]
}
