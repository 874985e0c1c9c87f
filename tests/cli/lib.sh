# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Shared helpers for the command-line tests: a scratch directory, assertions that
# count, and the "N passed, N failed" line CTest logs. Source it; call `finish` last.
set -u
: "${ST7DFU:?set ST7DFU to the st7dfu binary}"
T=$(mktemp -d "${TMPDIR:-/tmp}/st7dfu-test.XXXXXX")
# ST7_KEEP=1 keeps the scratch directory for a look after a failure.
trap 'if [ -n "${ST7_KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi' EXIT
# shellcheck disable=SC2034 # TESTS is for the test scripts that source this file
TESTS=${ST7_TESTS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PASSED=0
FAILED=0

ok() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }

# run CMD...: runs it, keeping stdout in $OUT, stderr in $ERR and the status in $RC.
run() {
	# shellcheck disable=SC2034 # OUT is read by the test scripts that source this file
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

# globcount PATTERN...: how many of the (glob-expanded) arguments exist; an unmatched
# pattern stays literal and counts 0.
globcount() {
	local f n=0
	for f in "$@"; do
		if [ -e "$f" ] || [ -L "$f" ]; then n=$((n + 1)); fi
	done
	echo "$n"
}

# jqeq JSON FILTER EXPECTED WHAT
jqeq() {
	local v
	v=$(printf '%s' "$1" | jq -r "$2" 2>&1)
	eq "$v" "$3" "$4 ($2)"
}

# test_keys: a throw-away ECDSA P-256 signing key ($T/test.key) and a key directory
# ($K) that trusts it, for tests whose subject is not the signature itself.
test_keys() {
	K=$T/keys
	mkdir -p "$K" && chmod 755 "$K"
	{ openssl ecparam -name prime256v1 -genkey -noout -out "$T/test.key" 2>/dev/null &&
		openssl pkey -in "$T/test.key" -pubout -out "$K/test.pem" 2>/dev/null; } ||
		{ echo "openssl could not make a test key" >&2; exit 1; }
}

# sign_all: sign every $T/*.dfu (FILE.sig) with the test key.
sign_all() {
	local f
	for f in "$T"/*.dfu; do
		"$ST7DFU" sign --key "$T/test.key" "$f" >/dev/null || fail "sign $f"
	done
}

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}
