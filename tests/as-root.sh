# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
# Sourced by the scripts the README tells a new user to run, so that one
# command works both for root on a bare machine (where sudo is often not
# installed) and for a user with sudo.

# The knobs the README documents, kept across sudo's reset of the
# environment.
AS_ROOT_KEEP=(FUZZ_SECONDS FUZZ_VERBOSE SOAK_SECONDS VM_KEEP VM_CPUS VM_MEMORY_MB VM_TIMEOUT_S)

# as_root WHY SCRIPT ARGS...: returns when running as root; otherwise re-runs
# SCRIPT with ARGS through sudo, or exits saying WHY root is needed.
as_root() {
	local why=$1 script
	script=$(readlink -f "$2")
	shift 2
	[ "$(id -u)" -eq 0 ] && return 0
	if ! command -v sudo >/dev/null; then
		echo "$(basename "$script"): $why: run it as root (sudo is not installed)" >&2
		exit 1
	fi
	local keep=() name
	for name in "${AS_ROOT_KEEP[@]}"; do
		[ -n "${!name+set}" ] && keep+=("$name=${!name}")
	done
	exec sudo -- env "${keep[@]}" bash "$script" "$@"
}
