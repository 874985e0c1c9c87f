#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every shell script of the tree is shellcheck-clean (`shellcheck -x`, settings in the
# root's .shellcheckrc). The scripts: the tracked files (git ls-files) that `file` calls
# shell scripts or that start with a #! line naming a shell (this takes in the files
# without an extension under init/ and packaging/), every *.sh, and .ci/run. Outside a
# git checkout the same over `find`, build directories left out.
# $1: the source root (default: this script's ../..); SHELLCHECK: the binary. Without
# the shellcheck binary: a failure under CI=true, else exit 77 (skipped, said loudly).
set -euo pipefail
src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src"
sc=${SHELLCHECK:-shellcheck}
if ! command -v "$sc" >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $sc missing (CI=true): style.shellcheck cannot run" >&2
		exit 1
	fi
	echo "SKIPPED LOUDLY: $sc missing: style.shellcheck cannot run (apt-get install shellcheck)" >&2
	exit 77
fi

# candidates: NUL-separated paths, relative to the source root.
candidates() {
	if git rev-parse --show-toplevel >/dev/null 2>&1 &&
		[ "$(cd "$(git rev-parse --show-toplevel)" && pwd -P)" = "$(pwd -P)" ]; then
		git ls-files -z
	else
		echo "not a git checkout: every file found, build directories (CMakeCache.txt) left out" >&2
		find . -type d \( -name .git -o -name CMakeFiles \
			-o -exec test -e '{}/CMakeCache.txt' \; \) -prune -o -type f -print0 |
			sed -z 's|^\./||'
	fi
}

# shebang_shell FILE: its first line is a #! line naming a shell shellcheck knows.
shebang_shell() {
	local line=
	IFS= read -r -n 256 line <"$1" || [ -n "$line" ] || return 1
	[[ $line =~ ^#!.*(/|[[:space:]])(ba|da|a|k)?sh([[:space:]]|$) ]]
}

have_file=
command -v file >/dev/null 2>&1 && have_file=1
scripts=()
while IFS= read -r -d '' f; do
	if [ ! -f "$f" ] || [ -L "$f" ]; then continue; fi # deleted in the work tree, or a link
	if [ "$f" = .ci/run ] || [[ $f == *.sh ]] || shebang_shell "$f"; then
		scripts+=("$f")
	elif [ -n "$have_file" ]; then
		case $(file -b -- "$f") in
		*[Ss]hell\ script*) scripts+=("$f") ;;
		esac
	fi
done < <(candidates)
[ "${#scripts[@]}" -gt 0 ] || { echo "FAIL: no shell scripts found under $src" >&2; exit 1; }

echo "shellcheck $("$sc" --version | sed -n 's/^version: //p') on ${#scripts[@]} scripts"
if "$sc" -x -- "${scripts[@]}"; then
	echo "${#scripts[@]} passed, 0 failed"
else
	echo "FAIL: shellcheck findings above (settings: $src/.shellcheckrc)" >&2
	exit 1
fi
