#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The manual pages (packaging/man/, rendered by `st7dfu help --man 8|5` from the tables of
# agent/cli/, see man.c): the committed pages are what the binary renders now; mandoc and
# groff find nothing to warn about and man(1) renders them; every command, every long
# option a command's help lists and every policy key `config --print` shows is in them.
# Without mandoc, groff or man the lint is skipped loudly (exit 77), except in CI
# (CI=true), where it fails.
set -euo pipefail
. "$(dirname "$0")/../cli/lib.sh"
MAN_DIR=$TESTS/../packaging/man
BUILD=${ST7_BUILD_DIR:-BUILD}

# check WHAT CMD...: counts CMD's success, or fails saying WHAT.
check() {
	local what=$1
	shift
	if "$@"; then ok; else fail "$what"; fi
}

# The source with its escapes undone (\% and \- of options, \e), for plain greps.
plain() { sed -e 's/\\%//g' -e 's/\\-/-/g' -e 's/\\e/\\/g' "$1"; }

# The helpers below run through `check`, which shellcheck cannot follow (SC2317).
# silent CMD...: CMD succeeds and prints nothing at all (a lint's verdict).
# shellcheck disable=SC2317
silent() {
	local out
	out=$("$@" 2>&1) || { echo "$out" >&2; return 1; }
	[ -z "$out" ] || { echo "$out" >&2; return 1; }
}

echo "== the committed pages are what st7dfu renders"
for page in 8:st7dfu.8 5:st7dfu.ini.5; do
	section=${page%%:*} file=${page#*:}
	check "st7dfu help --man $section" "$ST7DFU" help --man "$section" >"$T/$file"
	if diff -u "$MAN_DIR/$file" "$T/$file" >"$T/$file.diff"; then
		ok
	else
		head -40 "$T/$file.diff" >&2
		fail "packaging/man/$file differs from 'st7dfu help --man $section':" \
			"run cmake --build $BUILD --target update-man (and commit the pages)"
	fi
done
plain "$T/st7dfu.8" >"$T/8.txt"
plain "$T/st7dfu.ini.5" >"$T/5.txt"
# The OPTIONS section of st7dfu(8) alone: every option has its entry there.
awk '$0 == ".SH \"OPTIONS\"" { on = 1; next } /^\.SH / { on = 0 } on' "$T/8.txt" >"$T/8-options.txt"

echo "== every command, and every option its help lists, is in st7dfu(8) (OPTIONS)"
commands=$("$ST7DFU" help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }')
check "at least 15 commands in 'st7dfu help': $commands" [ "$(wc -w <<<"$commands")" -ge 15 ]
options=0
for c in $commands; do
	check "command $c: no section in st7dfu.8" grep -qxF ".SS \"$c\"" "$T/8.txt"
	# Option lines of `help CMD` start with two blanks and a dash (tests/cli/options.sh).
	for o in $("$ST7DFU" help "$c" | grep -oE '^  (-[a-zA-Z], )?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+'); do
		options=$((options + 1))
		check "help $c lists $o: not in OPTIONS of st7dfu.8" grep -qF "\\fB$o\\fR" "$T/8-options.txt"
	done
done
check "at least 100 options in the help texts ($options)" [ "$options" -ge 100 ]

echo "== every policy key of 'config --print' is in st7dfu.ini(5), in its section, and in st7dfu(8)"
: >"$T/empty.ini"
keys=$("$ST7DFU" config --print -c "$T/empty.ini" |
	awk '/^\[[a-z]+\]$/ { s = substr($0, 2, length($0) - 2) } /^;?[a-z_]+ +=/ { sub(/^;/, ""); print s, $1 }')
check "at least 30 keys in config --print" [ "$(wc -l <<<"$keys")" -ge 30 ]
# in_section SECTION KEY: the key's entry is in "SECTION [SECTION]" of st7dfu.ini.5.
# shellcheck disable=SC2317
in_section() {
	awk -v want=".SH \"SECTION [$1]\"" -v key="\\\\fB$2\\\\fR = " '
		$0 == want { on = 1; next } /^\.SH / { on = 0 } on && index($0, key) == 1 { found = 1 }
		END { exit !found }' "$T/5.txt"
}
while read -r section key; do
	check "key $key: not in [$section] of st7dfu.ini.5" in_section "$section" "$key"
	check "key $key: not named with its option in st7dfu.8" \
		grep -qF "Policy key \\fB$key\\fR in \\fB[$section]\\fR" "$T/8.txt"
done <<<"$keys"

echo "== mandoc, groff and man find nothing wrong"
# shellcheck disable=SC2317
groff_utf8() { groff -t -man -Tutf8 -ww "$1" >/dev/null; }
# man_render FILE: FILE as man(1) shows it, into FILE.txt.
# shellcheck disable=SC2317
man_render() { MANPAGER=cat MANWIDTH=80 man -l "$1" >"$1.txt"; }
missing=()
for tool in mandoc groff man; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -eq 0 ]; then
	for file in st7dfu.8 st7dfu.ini.5; do
		check "mandoc -T lint -W warning $file" silent mandoc -T lint -W warning "$T/$file"
		check "groff -ww -z -man $file" silent groff -ww -z -man "$T/$file"
		check "groff -t -man -Tutf8 -ww $file" silent groff_utf8 "$T/$file"
		check "man -l $file" man_render "$T/$file"
		check "man -l $file: no SEE ALSO" grep -q "SEE ALSO" "$T/$file.txt"
	done
	check "options render with ASCII dashes" grep -qF -- "--max-poll-timeout" "$T/st7dfu.8.txt"
	check "the manifest's sections render" grep -qF '[release "NAME"]' "$T/st7dfu.ini.5.txt"
elif [ "${CI:-}" = true ]; then
	fail "not installed: ${missing[*]} (Debian: mandoc groff-base man-db): the pages cannot be linted"
else
	echo "SKIPPED LOUDLY: not installed: ${missing[*]} (apt-get install mandoc groff-base" \
		"man-db): the pages were compared and searched, not linted" >&2
	if [ "$FAILED" -eq 0 ]; then
		echo "$PASSED passed, 0 failed, lint skipped"
		exit 77
	fi
fi
finish
