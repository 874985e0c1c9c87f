#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kill -9 campaign: `st7dfu upgrade` of an emulated ST72F65 is killed at an instant drawn
# uniformly over the whole measured duration of an un-killed upgrade (and a little past
# its end), then the same persistent device (emulator --then) is recovered, alternately
# by `st7dfu rollback` (no fallback) and by `st7dfu upgrade`. Every outcome is checked
# exactly:
#  - the device ends in runtime mode with a valid application, and its flash (flash-out)
#    is byte for byte the old or the new firmware, never a third content;
#  - rollback: exit 0 and the old firmware when a backup was stored; with none, exit 4,
#    the device back in runtime mode running the old firmware and never erased; exit 4
#    with the new firmware running when the kill came after it ran but before its
#    read-back (an unchecked backup is not restored over a running application);
#  - upgrade: exit 0 and the new firmware (exit 5, nothing to do, only when the killed
#    run had reached the download, the manifest phase or the read-back after it);
#  - whenever the device was erased (any DNLOAD, or flash no longer the old firmware) a
#    stored backup exists; every stored backup equals the old firmware byte for byte;
#  - no temporary file (*.tmp*, *.part*) anywhere under the state directory; backups
#    are private (files 0600, directories 0700).
# The phase of each kill is the last "st7dfu: PHASE..." line the killed run printed on
# stderr ("+stored" once it logged its stored backup; "verify-" for the phases after
# manifest, the read-back; "start" before any; "finished" when it exited before the
# kill).
#
# SEEDS=N     runs (default 30); seeds BASE_SEED+1 .. BASE_SEED+N (BASE_SEED default 0,
#             pick another for a new series)
# SEED=N      replay that one seed (the recovery command is chosen by its parity)
# DURATION_MS skip the measurement and use this duration (an exact replay: the
#             kill instant is fraction(SEED) x (DURATION_MS + margin), see kill_ms)
# PARALLEL=N  emulator runs at once (default 1; each emulator instance is independent)
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
BASE_SEED=${BASE_SEED:-0}
if [ -n "${SEED:-}" ]; then
	SEED_LIST=$SEED
else
	SEED_LIST=$(seq $((BASE_SEED + 1)) $((BASE_SEED + ${SEEDS:-30})))
fi
PARALLEL=${PARALLEL:-1}
P=st72f65
t_start=$(date +%s)

{ "$ST7DFU" pack -o "$T/old.dfu" --vid 0483 --pid ff03 --bcd 1.02 --profile $P --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null &&
	"$ST7DFU" pack -o "$T/new.dfu" --vid 0483 --pid ff03 --bcd 1.03 --profile $P --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null; } ||
	{ echo "cannot pack the test images" >&2; exit 1; }
head -c -16 "$T/old.dfu" >"$T/old.bin"
head -c -16 "$T/new.dfu" >"$T/new.bin"
test_keys
sign_all

spec() { # SERIAL WORKDIR: the device every run uses
	echo "kind=st7,profile=$P,serial=$1,flash-in=$T/old.bin,flash-out=$2/flash.bin"
}

# 1. The duration of one un-killed upgrade, timed the way the kills are (from the start
# of the wrapper shell), with the moment each phase line appeared.
M=$T/measure
mkdir -p "$M"
if [ -n "${DURATION_MS:-}" ]; then
	DUR=$DURATION_MS
	echo "upgrade duration: ${DUR} ms (DURATION_MS, not measured)"
else
	# shellcheck disable=SC2016 # the script is for sh -c: its $-expansions are its own
	"$ST7DFU_EMU" --timeout 120 --report "$M/rep.json" --device "$(spec KM "$M")" \
		-- sh -c 't0=$(date +%s%3N)
		{ "$0" upgrade --keys "$1" --state-dir "$2" "$3" 2>&1 >/dev/null; echo "exit $?"; } |
			while IFS= read -r l; do echo "$(($(date +%s%3N) - t0)) $l"; done >"$4/phases"' \
		"$ST7DFU" "$K" "$M/state" "$T/new.dfu" "$M" >"$M/emu.log" 2>&1
	last=$(tail -n1 "$M/phases" 2>/dev/null)
	DUR=${last%% *}
	if [ "${last#* }" != "exit 0" ] || ! cmp -s "$M/flash.bin" "$T/new.bin"; then
		fail "the measuring upgrade did not succeed: ${last:-no output}"
		cat "$M/phases" "$M/emu.log" >&2
		finish
	fi
	echo "upgrade duration: ${DUR} ms (measured, un-killed); phases began at:"
	awk '$2 == "st7dfu:" && $3 ~ /^[a-z][a-z-]*\.\.\.$/ && NF == 3 {
		p = substr($3, 1, length($3) - 3)
		if (m) p = "verify-" p
		if (p == "manifest") m = 1
		print "  " p " " $1 " ms"
	}' "$M/phases"
fi
MARGIN=$((DUR / 20 > 100 ? DUR / 20 : 100))
WINDOW=$((DUR + MARGIN))
echo "kill instants: uniform over 0..${WINDOW} ms (the duration + ${MARGIN} ms)"

# 2. One run: kill -9 of an upgrade at the seed's instant, then the recovery, both
# under one emulator (the device persists). Leaves its files in $T/s$seed.
# The draw: the first 32 bits of SHA-256("st7dfu-kill SEED") as a fraction of the window.
# (awk's srand(SEED); rand() is not usable with consecutive seeds: glibc's random(),
# behind mawk, turns seeds 1, 2, 3 ... into an arithmetic progression of first values.)
kill_ms() { # SEED
	local h
	h=$(printf 'st7dfu-kill %s' "$1" | sha256sum | cut -c1-8)
	echo $((0x$h * WINDOW / 4294967296))
}
recovery() { # SEED: rollback for even seeds, upgrade for odd ones
	if [ $(($1 % 2)) -eq 0 ]; then echo rollback; else echo upgrade; fi
}
run_seed() { # SEED
	local seed=$1 W=$T/s$1 ms
	ms=$(kill_ms "$seed")
	mkdir -p "$W"
	local S=$W/state
	local again=("$ST7DFU" upgrade --keys "$K" --state-dir "$S" "$T/new.dfu")
	[ "$(recovery "$seed")" = rollback ] && again=("$ST7DFU" rollback --state-dir "$S")
	# shellcheck disable=SC2016 # the script is for sh -c: its $-expansions are its own
	"$ST7DFU_EMU" --timeout 120 --report "$W/rep.json" --device "$(spec "K$seed" "$W")" \
		-- sh -c '"$0" upgrade --keys "$1" --state-dir "$2" "$3" >/dev/null 2>"$4/first.err" &
		p=$!
		sleep "$5"
		kill -9 $p 2>/dev/null
		wait $p
		echo $? >"$4/first.rc"
		ls "$2"/backups/*/*.dfu >"$4/backups-after-kill" 2>/dev/null
		exit 0' "$ST7DFU" "$K" "$S" "$T/new.dfu" "$W" "$((ms / 1000)).$(printf %03d $((ms % 1000)))" \
		--then -- "${again[@]}" >"$W/emu.log" 2>&1
	echo "$ms" >"$W/ms"
}

# 3. The checks of one run, in this shell (they count).
declare -A PH_N PH_OK PH_BAD
PHASES=()
FAILED_SEEDS=()
SEED_FAILS=""
bad() { # WHAT: a failed check of the current seed
	fail "seed $seed ($phase, $rec): $1"
	SEED_FAILS="$SEED_FAILS${SEED_FAILS:+; }$1"
}
check() { # COND-STATUS WHAT
	if [ "$1" -eq 0 ]; then ok; else bad "$2"; fi
}
content() { # FILE: old, new, or what else it is
	if cmp -s "$1" "$T/old.bin"; then
		echo old
	elif cmp -s "$1" "$T/new.bin"; then
		echo new
	elif [ ! -s "$1" ]; then
		echo missing
	elif [ "$(tr -d '\377' <"$1" | wc -c)" -eq 0 ]; then
		echo erased
	else
		echo "third($(cmp -l "$1" "$T/new.bin" 2>/dev/null | wc -l) bytes differ from new)"
	fi
}
check_seed() { # SEED
	local W=$T/s$1 S=$T/s$1/state
	seed=$1
	rec=$(recovery "$seed")
	SEED_FAILS=""
	local ms first_rc rc mode valid ver dnload flash nb=0
	ms=$(cat "$W/ms")
	first_rc=$(cat "$W/first.rc" 2>/dev/null || echo none)
	if [ "$first_rc" = 137 ]; then
		phase=$(awk '/^st7dfu: [a-z][a-z-]*\.\.\.$/ {
				p = substr($2, 1, length($2) - 3)
				if (m) p = "verify-" p
				if (p == "manifest") m = 1
			}
			/backup of version .* stored/ { p = p "+stored" }
			END { print (p == "" ? "start" : p) }' "$W/first.err")
	else
		phase=finished
	fi
	if [ ! -s "$W/rep.json" ]; then
		bad "no emulator report"
		rc=none mode=none valid=none ver=none dnload=0
	else
		{ read -r rc; read -r mode; read -r valid; read -r ver; read -r dnload; } < <(jq -r \
			'.commands[1].status, .devices[0].mode, .devices[0].app_valid, .devices[0].version, .devices[0].requests.DNLOAD' \
			"$W/rep.json")
	fi
	flash=$(content "$W/flash.bin")
	[ -f "$W/backups-after-kill" ] && nb=$(wc -l <"$W/backups-after-kill")

	[ "$phase" != finished ] || [ "$first_rc" = 0 ]
	check $? "the first upgrade exited by itself with $first_rc"
	[ "$mode" = runtime ]
	check $? "device left in mode $mode, not runtime"
	[ "$valid" = true ]
	check $? "application not valid"
	case $flash in old | new) ok ;; *) bad "flash is $flash, neither the old nor the new firmware" ;; esac
	if [ "$mode" = runtime ]; then
		case $flash:$ver in old:258 | new:259 | erased:* | third*:* | missing:*) ok ;; *) bad "flash $flash but version $ver" ;; esac
	fi
	if [ "$rec" = rollback ] && [ "$rc" = 4 ] && [ "$flash" = new ] &&
		grep -q "never checked by a read-back" "$W/emu.log"; then
		# Killed after the new firmware ran but before its read-back: the backup is
		# unchecked, and rollback will not put it over a running application.
		case $phase in download* | manifest* | verify-*) ok ;; *) bad "unchecked backup after a kill in $phase" ;; esac
	elif [ "$rec" = rollback ]; then
		if [ "$nb" -gt 0 ]; then
			[ "$rc" = 0 ]
			check $? "rollback with a stored backup exited $rc, not 0"
		else
			[ "$rc" = 4 ]
			check $? "rollback without a backup exited $rc, not 4"
			[ "$dnload" = 0 ]
			check $? "no backup, but the device was erased ($dnload DNLOAD)"
		fi
		[ "$flash" = old ]
		check $? "rollback left $flash firmware, not the old"
	else
		# The phase is the last line the killed run printed: a kill labelled
		# "download" can land after the last block, once the device manifests alone.
		case $rc:$phase in
		0:* | 5:finished | 5:download* | 5:manifest* | 5:verify-*) ok ;;
		*) bad "upgrade exited $rc" ;;
		esac
		[ "$flash" = new ]
		check $? "upgrade left $flash firmware, not the new"
	fi
	# Erased at any point: the old firmware must be stored; every backup is it.
	local backups=() b
	for b in "$S"/backups/*/*.dfu; do [ -e "$b" ] && backups+=("$b"); done
	if [ "$dnload" != 0 ] || [ "$flash" != old ]; then
		[ ${#backups[@]} -gt 0 ]
		check $? "erased ($dnload DNLOAD) but no backup stored"
	fi
	for b in "${backups[@]}"; do
		"$ST7DFU" info --profile $P "$b" >/dev/null 2>&1 && cmp -s <(head -c -16 "$b") "$T/old.bin"
		check $? "backup ${b#"$S"/} is not the old firmware"
	done
	local left
	left=$(find "$S" \( -name '*.tmp*' -o -name '*.part*' \) 2>/dev/null | sed "s|^$S/||" | tr '\n' ' ')
	[ -z "$left" ]
	check $? "temporary files left: $left"
	if [ -d "$S/backups" ]; then
		left=$(find "$S/backups" \( \( -type f ! -perm 600 \) -o \( -type d ! -perm 700 \) \) \
			-printf '%m backups/%P, ' 2>/dev/null)
		[ -z "$left" ]
		check $? "backups not private (want files 0600, dirs 0700): ${left%, }"
	fi

	printf 'seed %4d  kill at %4d ms  %-14s -> %-8s exit %-4s %-7s valid %-5s flash %-5s backups %d  %s\n' \
		"$seed" "$ms" "$phase" "$rec" "$rc" "$mode" "$valid" "$flash" ${#backups[@]} \
		"$([ -z "$SEED_FAILS" ] && echo ok || echo FAILED)"
	[ -n "${PH_N[$phase]+x}" ] || PHASES+=("$phase")
	PH_N[$phase]=$((${PH_N[$phase]:-0} + 1))
	if [ -z "$SEED_FAILS" ]; then
		PH_OK[$phase:$rec]=$((${PH_OK[$phase:$rec]:-0} + 1))
	else
		PH_BAD[$phase:$rec]=$((${PH_BAD[$phase:$rec]:-0} + 1))
		FAILED_SEEDS+=("$seed ($phase, $rec): $SEED_FAILS")
		sed 's/^/    | killed run: /' "$W/first.err" >&2
		grep -v -e '^st7dfu: [a-z-]*\.\.\.$' -e '^Killed$' -e '^$' "$W/emu.log" | sed 's/^/    | recovery: /' >&2
	fi
}

# 4. The campaign, PARALLEL runs at a time; checked and printed in seed order.
# shellcheck disable=SC2086 # split on purpose: SEED_LIST is numbers separated by white space
set -- $SEED_LIST
echo "seeds: $1..${!#} ($# runs, $PARALLEL at a time); replay one: SEED=N DURATION_MS=$DUR"
while [ $# -gt 0 ]; do
	batch=()
	while [ $# -gt 0 ] && [ ${#batch[@]} -lt "$PARALLEL" ]; do
		batch+=("$1")
		shift
	done
	for s in "${batch[@]}"; do run_seed "$s" & done
	wait
	for s in "${batch[@]}"; do
		check_seed "$s"
		rm -rf "$T/s$s"
	done
done

echo "kills: $(wc -w <<<"$SEED_LIST") in $(($(date +%s) - t_start)) s; outcomes by phase:"
for ph in start detach upload upload+stored download manifest verify-detach verify-upload finished "${PHASES[@]}"; do
	[ -n "${PH_N[$ph]+x}" ] || continue
	line="  $ph ${PH_N[$ph]}:"
	for r in rollback upgrade; do
		o=${PH_OK[$ph:$r]:-0} f=${PH_BAD[$ph:$r]:-0}
		[ $((o + f)) -gt 0 ] || continue
		line="$line $r $((o + f)) ($o ok$([ "$f" -gt 0 ] && echo ", $f FAILED")),"
	done
	echo "${line%,}"
	unset "PH_N[$ph]"
done
if [ ${#FAILED_SEEDS[@]} -gt 0 ]; then
	echo "failed seeds (replay: SEED=N DURATION_MS=$DUR):"
	printf '  %s\n' "${FAILED_SEEDS[@]}"
fi
finish
