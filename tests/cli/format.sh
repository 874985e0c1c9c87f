#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every C source follows .clang-format. Run from the source root; $1 is clang-format.
set -u
cf=${1:-clang-format}
bad=0 n=0
while IFS= read -r f; do
	n=$((n + 1))
	if ! "$cf" --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run: $cf -i $f)" >&2
		bad=$((bad + 1))
	fi
done < <(find agent tests -name '*.[ch]' | sort)
echo "$((n - bad)) passed, $bad failed"
[ "$n" -gt 0 ] || { echo "no sources found" >&2; exit 1; }
[ "$bad" -eq 0 ]
