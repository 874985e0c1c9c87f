#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# Options come from one table (agent/cli/settings.c): each command takes exactly the
# options `st7dfu help CMD` lists and refuses every other one by name, with exit 2, before
# it reads a key, a file or a device. The checks are generated from the help texts; then
# the defects of issue 10, each of which failed before: an option of another command was
# accepted and acted on. No device and no network are needed: every run stops at its
# command line.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

COMMANDS=(info pack list upgrade rollback upload download detach fetch sign verify status help)

# Operands that end each command right after its options are read (too many, or a file
# that does not exist), so that an accepted option is never acted on.
declare -A STOP=(
	[info]="$T/none.dfu" [pack]="$T/none.bin" [list]="extra" [upgrade]="a.dfu b.dfu"
	[rollback]="extra" [upload]="extra" [download]="a.dfu b.dfu" [detach]="extra"
	[fetch]="https://a.invalid/ https://b.invalid/" [sign]="a b" [verify]="a b c" [status]="extra"
	[help]="a b"
)

# A value of the right kind for an option's argument, as help names it.
value_for() {
	case $1 in
	VID:PID) echo 0483:df11 ;;
	TIME) echo 1s ;;
	SIZE) echo 1M ;;
	NAME) echo st72f65 ;;
	V | P | B) echo 0483 ;;
	dfu\|dfuse) echo dfu ;;
	1.0\|1.1) echo 1.0 ;;
	SECTION) echo 8 ;;
	BUS-PORT*) echo 1-1 ;;
	DIR | FILE | PEM | FILE\|URL) echo "$T/nothing" ;;
	*) echo 1 ;;
	esac
}

# options CMD: "LONG ARG" per option `help CMD` lists (ARG "-" for a flag), and "SHORT ARG"
# for its short form. Option lines start with two blanks and a dash; the description
# follows after two or more blanks, or on the next line.
options() {
	"$ST7DFU" help "$1" | awk '
		/^  -/ {
			sub(/^  /, ""); split($0, f, /   */); spec = f[1]; short = ""
			if (spec ~ /^-[a-zA-Z], /) { short = substr(spec, 1, 2); spec = substr(spec, 5) }
			n = split(spec, w, " "); arg = n > 1 ? w[2] : "-"
			print w[1], arg
			if (short != "") print short, arg
		}'
}

declare -A TAKES ARG_OF
ALL=()
for c in "${COMMANDS[@]}"; do
	list=$(options "$c")
	[ -n "$list" ] || fail "help $c lists no option"
	while read -r opt arg; do
		TAKES[$c $opt]=1
		if [ -z "${ARG_OF[$opt]+x}" ]; then
			ARG_OF[$opt]=$arg
			ALL+=("$opt")
		fi
	done <<<"$list"
done
[ "${#ALL[@]}" -ge 40 ] && ok || fail "only ${#ALL[@]} options in all help texts"

echo "== every option a command's help lists is accepted"
for c in "${COMMANDS[@]}"; do
	for opt in "${ALL[@]}"; do
		[ -n "${TAKES[$c $opt]+x}" ] || continue
		[ "$opt" = --help ] || [ "$opt" = -h ] && continue
		args=("$opt")
		[ "${ARG_OF[$opt]}" != - ] && args+=("$(value_for "${ARG_OF[$opt]}")")
		# shellcheck disable=SC2086 # the operands, split on purpose
		run "$ST7DFU" "$c" "${args[@]}" ${STOP[$c]}
		hasnt "$ERR" "not an option" "$c ${args[*]}: listed in its help, so accepted"
		hasnt "$ERR" "unknown option" "$c ${args[*]}: known"
		[ "$RC" -eq 2 ] || [ "$RC" -eq 4 ] && ok || fail "$c ${args[*]}: exit $RC, expected the command line or a missing file to stop it; stderr: $ERR"
	done
done

echo "== every option of another command is refused, naming the option and the command"
for c in "${COMMANDS[@]}"; do
	for opt in "${ALL[@]}"; do
		[ -n "${TAKES[$c $opt]+x}" ] && continue
		# shellcheck disable=SC2086
		run "$ST7DFU" "$c" "$opt" ${STOP[$c]}
		expect_rc 2 "$c $opt"
		has "$ERR" "$c: $opt is not an option of this command" "$c $opt: refused by name"
		# Also as the last word, where it would miss its argument.
		run "$ST7DFU" "$c" "$opt"
		expect_rc 2 "$c $opt (last)"
		has "$ERR" "$c: $opt is not an option of this command" "$c $opt (last): refused by name"
	done
done

echo "== the old spellings still work (README), under their new names in help"
for spec in "upgrade --max-poll 20" "upgrade --verify" "upgrade --no-verify" "upgrade --keys $T" \
	"upgrade --max-size 1M" "upgrade --timeout 5" "fetch --timeout 5" "fetch --max-size 2M" \
	"rollback --keys $T" "rollback --max-poll 20" "verify --keys $T"; do
	read -r -a words <<<"$spec"
	# shellcheck disable=SC2086
	run "$ST7DFU" "${words[@]}" ${STOP[${words[0]}]}
	hasnt "$ERR" "not an option" "$spec: an alias still accepted"
	expect_rc 2 "$spec: stopped by its operands only"
	has "$ERR" "unexpected argument" "$spec: the operands were what stopped it"
done
run "$ST7DFU" help upgrade
flat=$(printf '%s' "$OUT" | tr -s ' \n' '  ') # help wraps its descriptions
has "$flat" "--max-poll-timeout TIME" "help names --max-poll-timeout"
has "$flat" "also --max-poll)" "help gives the old name"
has "$flat" "--verify-readback" "help names --verify-readback"
has "$flat" "also --keys)" "help gives --keys"
run "$ST7DFU" upgrade --max-size 2G x.dfu
expect_rc 2 "a bad value is refused"
has "$ERR" "--max-size '2G'" "the error spells the option as typed"

echo "== issue 10: options of other commands were accepted and acted on"
# status --to: status loaded the trusted keys for a rollback file and exited 12.
run "$ST7DFU" status --to /nonexistent
expect_rc 2 "status --to is refused"
has "$ERR" "status: --to is not an option of this command" "status --to: named"
hasnt "$ERR" "key" "status --to: no key directory was looked at"
# upgrade --to: upgrade read the file as a rollback image before its own.
run "$ST7DFU" upgrade --to /etc/passwd x.dfu
expect_rc 2 "upgrade --to is refused"
has "$ERR" "upgrade: --to is not an option of this command" "upgrade --to: named"
if command -v strace >/dev/null; then
	test_keys # trusted keys, so that nothing but the refusal stops it
	printf 'not an image' >img.dfu
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -o trace -e trace=open,openat \
		"$ST7DFU" upgrade --keys "$K" --to "$T/img.dfu" "$T/x.dfu" >/dev/null 2>&1
	eq "$?" 2 "upgrade --to under strace"
	grep -q 'img\.dfu' trace && fail "upgrade --to FILE opened FILE" || ok
	grep -q "$K" trace && fail "upgrade --to FILE looked at the keys" || ok
else
	fail "strace not installed (tests/deps.sh installs it): the file was not checked unread"
fi
# detach -o x --verify --keys /nope: all three were accepted and ignored.
run "$ST7DFU" detach -o x --verify --keys /nope
expect_rc 2 "detach -o x --verify --keys /nope is refused"
has "$ERR" "detach: -o is not an option of this command" "detach -o: named"
for opt in "--verify" "--keys /nope" "--allow-downgrade"; do
	read -r -a words <<<"$opt"
	run "$ST7DFU" detach "${words[@]}"
	expect_rc 2 "detach $opt is refused"
	has "$ERR" "detach: ${words[0]} is not an option of this command" "detach $opt: named"
done
# status takes the device, the timing options, the state directory (the agent's status)
# and --json, nothing of an upgrade.
for opt in "--keys /nope" "--no-verify"; do
	read -r -a words <<<"$opt"
	run "$ST7DFU" status "${words[@]}"
	expect_rc 2 "status $opt is refused"
done

# The options the README has always called common to every device command stay accepted
# by every one of them (old spellings included), even where they change nothing.
for cmd in upgrade rollback download upload detach status; do
	run "$ST7DFU" "$cmd" --retries 2 --max-poll 100 --max-poll-timeout 1s \
		--reenum-timeout 5000 --json --help
	expect_rc 0 "$cmd takes the common device options"
done

# An empty path is refused, not taken for the root (--state-dir= wrote to /backups).
run "$ST7DFU" upgrade --state-dir= x.dfu
expect_rc 2 "an empty --state-dir"
has "$ERR" "--state-dir '': an empty value" "the empty value is named"
# Bare numbers in hex stay accepted where earlier versions took them.
run "$ST7DFU" upgrade --reenum-timeout 0x10 --help
expect_rc 0 "--reenum-timeout 0x10"

echo "== other command lines"
run "$ST7DFU" status --frobnicate
expect_rc 2 "an unknown option"
has "$ERR" "unknown option '--frobnicate'" "the unknown option is named"
run "$ST7DFU" upgrade --retries
expect_rc 2 "a missing argument"
has "$ERR" "--retries needs an argument" "the missing argument is named"
run "$ST7DFU" upgrade --backup --no-backup x.dfu
expect_rc 2 "--backup and --no-backup"
has "$ERR" "--backup and --no-backup contradict each other" "contradiction named"
run "$ST7DFU" status --help
expect_rc 0 "status --help"
has "$OUT" "Usage: st7dfu status" "status --help prints its usage"
run "$ST7DFU" help nosuchcommand
expect_rc 2 "help of an unknown command"
# help --man: the manual pages (tests/docs/man.sh checks their content).
run "$ST7DFU" help --man 8
expect_rc 0 "help --man 8"
has "$OUT" ".TH ST7DFU 8 " "help --man 8 is st7dfu(8)"
run "$ST7DFU" help --man 5
expect_rc 0 "help --man 5"
has "$OUT" ".TH ST7DFU.INI 5 " "help --man 5 is st7dfu.ini(5)"
run "$ST7DFU" help --man 7
expect_rc 2 "help --man 7"
has "$ERR" "--man '7': expected 8 or 5" "the sections are named"
run "$ST7DFU" help --man 8 upgrade
expect_rc 2 "help --man 8 with a command"
has "$ERR" "--man takes no COMMAND" "the extra command is refused"

finish
