#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The source checks of the fast lane (tests/run-all.sh), which need no build:
# clang-format on the C sources (.clang-format), shellcheck on the shell
# scripts (.shellcheckrc), pyflakes on the Python tests. Every check runs;
# the exit status says whether all passed. Needs no root.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
git rev-parse --git-dir >/dev/null 2>&1 || {
	echo "lint: the file lists come from git: run it in a git checkout" >&2
	exit 1
}
status=0

# Tracked files and new ones not yet added, but nothing .gitignore names.
files() { git ls-files --cached --others --exclude-standard "$@"; }

# Generated files keep their generator's layout.
mapfile -t c_files < <(files '*.c' '*.h' | grep -vE '(^|/)vmlinux\.h$|\.skel\.h$|\.pb-c\.[ch]$')
echo "lint: clang-format on ${#c_files[@]} C files"
clang-format --dry-run -Werror "${c_files[@]}" || status=1

# Scripts without the .sh suffix are found by their shebang.
mapfile -t sh_files < <(files '*.sh')
while read -r f; do
	head -n1 "$f" | grep -qE '^#!.*\b(ba)?sh\b' && sh_files+=("$f")
done < <(files | grep -vE '\.[a-z]+$')
echo "lint: shellcheck on ${#sh_files[@]} shell scripts"
shellcheck -x "${sh_files[@]}" || status=1

mapfile -t py_files < <(files '*.py')
echo "lint: pyflakes on ${#py_files[@]} Python files"
pyflakes3 "${py_files[@]}" || status=1

exit $status
