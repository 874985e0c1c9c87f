# SPDX-License-Identifier: MIT
# Shared helpers for the command-line tests: a scratch directory, assertions that
# count, and the "N passed, N failed" line CTest logs. Source it; call `finish` last.
set -u
: "${ST7DFU:?set ST7DFU to the st7dfu binary}"
T=$(mktemp -d "${TMPDIR:-/tmp}/st7dfu-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
TESTS=${ST7_TESTS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PASSED=0
FAILED=0

ok() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }

# run CMD...: runs it, keeping stdout in $OUT, stderr in $ERR and the status in $RC.
run() {
	OUT=$("$@" 2>"$T/.stderr")
	RC=$?
	ERR=$(cat "$T/.stderr")
}

# expect_rc N WHAT: the last run exited with N.
expect_rc() {
	if [ "$RC" -eq "$1" ]; then ok; else fail "$2: exit $RC, expected $1; stderr: $ERR"; fi
}

# has HAYSTACK NEEDLE WHAT
has() {
	case "$1" in *"$2"*) ok ;; *) fail "$3: '$2' not in: $1" ;; esac
}

hasnt() {
	case "$1" in *"$2"*) fail "$3: '$2' unexpectedly in: $1" ;; *) ok ;; esac
}

# eq A B WHAT
eq() {
	if [ "$1" = "$2" ]; then ok; else fail "$3: '$1' != '$2'"; fi
}

# jqeq JSON FILTER EXPECTED WHAT
jqeq() {
	local v
	v=$(printf '%s' "$1" | jq -r "$2" 2>&1)
	eq "$v" "$3" "$4 ($2)"
}

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}
