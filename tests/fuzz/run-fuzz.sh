#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run one libFuzzer target for a bounded time from its seed corpus. New inputs go to
# a scratch corpus so the committed seeds stay small; a crash leaves its reproducer
# in the scratch directory and fails the test.
set -euo pipefail
target=$1 seeds=$2 seconds=${3:-30}
work=$(mktemp -d "${TMPDIR:-/tmp}/st7dfu-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if ! "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -max_len=65536 \
	-artifact_prefix="$work/" -print_final_stats=1 "$work/corpus" "$seeds"; then
	echo "fuzz target $target failed; reproducers:" >&2
	ls -l "$work" >&2
	for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
		[ -e "$f" ] && { echo "== $f" >&2; od -An -tx1 "$f" | head -40 >&2; }
	done
	exit 1
fi
echo "1 passed, 0 failed"
